// The rehearsal's command line, validated up front so a typo fails in a second with
// the flag's name rather than after the servers have started.
import { Command, InvalidArgumentError } from "commander";
import { resolve } from "node:path";
import { parseSize } from "./seed";

export interface RehearsalOptions {
  source: "vultr" | "heroku";
  pgStrategy: "physical" | "logical" | "dump";
  redisMode: "replicaof" | "copy";
  /** heroku: copy feeds with the live copy, or rebuild them on the target with the app's own script. */
  feeds: "copy" | "rebuild";
  sizeRows: number;
  sizeLabel: string;
  sourceDump?: string;
  /** The user's database (password in PGPASSWORD or in FERRY_REHEARSAL_SOURCE_URL, never on the command line). */
  sourceUrl?: string;
  outDir: string;
  writesPerSecond: number;
  readsPerSecond: number;
  maxWrites: number;
  maxMinutes: number;
  /** Percent of traffic on the target at each step of the weighted split, before 100. */
  splitSteps: number[];
  /** Seconds to hold each split step (and the load before and after the migration). */
  holdSeconds: number;
  maxLagBytes: number;
  /** window: full ferry pg/redis verify while writes are fenced; cutover: rely on the cutover commands' own verifies. */
  verify: "window" | "cutover";
}

const positive = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a number above 0`);
  return n;
};

function splitSteps(v: string): number[] {
  const steps = v.split(",").map((s) => Number(s.trim()));
  if (!steps.length || steps.some((n) => !Number.isInteger(n) || n < 1 || n > 99)) throw new InvalidArgumentError("--split must be percentages 1-99, e.g. 10,50");
  return steps;
}

export function buildOptionsCommand(): Command {
  return new Command("rehearse")
    .description("Rehearse the whole migration on this machine under live traffic, and report downtime and lost writes")
    .option("--source <kind>", "vultr (one box: physical/logical Postgres, Redis by REPLICAOF) or heroku (dump in a maintenance window, Redis by live copy)", "vultr")
    .option("--pg-strategy <s>", "vultr: physical or logical (heroku is always dump)", "physical")
    .option("--feeds <how>", "heroku: copy feeds with Redis, or rebuild them on the target with the app's script", "copy")
    .option("--size <rows>", 'rows in the generated sample, or "small" (CI)', "1000000")
    .option("--source-dump <file>", "seed the source from this pg_dump custom-format file (e.g. a Heroku backup)")
    .option("--source-url <url>", "seed the source by pg_dump of this database (password in PGPASSWORD or FERRY_REHEARSAL_SOURCE_URL)")
    .option("--out <dir>", "where report.md, report.json and report.svg go", "rehearsal/out")
    .option("--writes-per-second <n>", "write rate of the load generator", positive("--writes-per-second"), 20)
    .option("--reads-per-second <n>", "read rate of the load generator", positive("--reads-per-second"), 20)
    .option("--max-writes <n>", "stop writing after this many writes", positive("--max-writes"), 200_000)
    .option("--max-minutes <n>", "stop the load after this many minutes", positive("--max-minutes"), 30)
    .option("--split <percents>", "traffic on the target at each weighted step before 100%", splitSteps, [10, 50])
    .option("--hold <seconds>", "seconds to hold each traffic step", positive("--hold"), 5)
    .option("--verify <when>", "window: full pg and redis verify before the target opens (longer window); cutover: the cutover commands' own verifies only", "window")
    .option("--max-lag-bytes <n>", "cutover refuses to fence above this lag", positive("--max-lag-bytes"), 200 * 1024);
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): RehearsalOptions {
  const cmd = buildOptionsCommand().exitOverride().configureOutput({ outputError: (s, w) => w(s.split("\n")[0] + "\n") });
  cmd.parse(argv, { from: "user" });
  const o = cmd.opts();
  if (o.source !== "vultr" && o.source !== "heroku") throw new InvalidArgumentError(`--source must be vultr or heroku, got "${o.source}"`);
  if (o.source === "vultr" && !["physical", "logical"].includes(o.pgStrategy)) throw new InvalidArgumentError(`--pg-strategy must be physical or logical for --source vultr`);
  if (!["copy", "rebuild"].includes(o.feeds)) throw new InvalidArgumentError(`--feeds must be copy or rebuild`);
  if (!["window", "cutover"].includes(o.verify)) throw new InvalidArgumentError("--verify must be window or cutover");
  if (o.sourceDump && o.sourceUrl) throw new InvalidArgumentError("give --source-dump or --source-url, not both");
  const sourceUrl: string | undefined = o.sourceUrl ?? env.FERRY_REHEARSAL_SOURCE_URL;
  if (o.sourceUrl && new URL(o.sourceUrl).password) {
    throw new InvalidArgumentError("--source-url must not carry a password (it would show in the process list): set PGPASSWORD, or put the URL in FERRY_REHEARSAL_SOURCE_URL");
  }
  return {
    source: o.source,
    pgStrategy: o.source === "heroku" ? "dump" : o.pgStrategy,
    redisMode: o.source === "heroku" ? "copy" : "replicaof",
    feeds: o.feeds,
    sizeRows: parseSize(String(o.size)),
    sizeLabel: String(o.size),
    sourceDump: o.sourceDump ? resolve(o.sourceDump) : undefined,
    sourceUrl,
    outDir: resolve(o.out),
    writesPerSecond: o.writesPerSecond,
    readsPerSecond: o.readsPerSecond,
    maxWrites: Math.floor(o.maxWrites),
    maxMinutes: o.maxMinutes,
    splitSteps: o.split,
    holdSeconds: o.hold,
    maxLagBytes: Math.floor(o.maxLagBytes),
    verify: o.verify,
  };
}
