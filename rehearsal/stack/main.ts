// `npm run rehearse -- --stack staging` (or prod, or --stack-file PATH): rehearse the
// user's stack on this machine, stage by stage as `pulumi up` would run it, under live
// traffic, and write report.md / report.json / report.svg. Exit 0 when every stage
// succeeded (or a guard refused a rollback that would lose data) and no acknowledged
// write was lost; 1 when not; 2 on bad options; 3 when a program it needs is missing.
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { existsSync, mkdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { Stage, STAGES } from "../../config";
import { parseSize, parseSizeBytes } from "../seed";
import { redact } from "../../dataplane/cli/common";
import { rehearseStack, StackRehearsalOptions } from "./rehearse";
import type { CrashPoint } from "./failed-cutover";
import { describeMissing, missingPrerequisites } from "../prerequisites";
import { STORIES, Story, storyStackFile } from "./stories";

const PROJECT_DIR = join(__dirname, "..", "..");
const started = Date.now();
const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${redact(line)}\n`);

const positive = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a number above 0`);
  return n;
};
const stage = (flag: string) => (v: string): Stage => {
  if (!(STAGES as readonly string[]).includes(v)) throw new InvalidArgumentError(`${flag} must be one of ${STAGES.join(", ")}`);
  return v as Stage;
};

function crashPoint(value: unknown): CrashPoint | undefined {
  if (value === undefined) return undefined;
  if (value === true) return "recorded";
  if (value === "recorded" || value === "fenced" || value === "gate" || value === "verify") return value;
  throw new InvalidArgumentError("--fail-cutover-once takes recorded (the default), fenced, gate or verify");
}

/** `--size`: a database size (seeded to at least that many bytes), or rows. */
function sampleSize(size: string): { sizeRows: number; sizeBytes?: number } {
  const bytes = parseSizeBytes(size);
  return bytes === undefined ? { sizeRows: parseSize(size) } : { sizeRows: 0, sizeBytes: bytes };
}

export function parseStackOptions(argv: string[]): StackRehearsalOptions {
  const cmd = new Command("rehearse")
    .description("Rehearse a stack: the program's own steps, stage by stage, against local stand-ins, under live traffic")
    .option("--stack <name>", "the stack whose Pulumi.<name>.yaml to rehearse", "staging")
    .option("--stack-file <path>", "any stack file instead of --stack")
    .option("--story <id>", `a stores-first story instead of --stack (${STORIES.join(", ")}): the staging example with the story's way in and holds, written to --out`)
    .option("--size <size>", 'the generated sample: "small" (20,000 rows), a row count, or a database size such as 1gb or 500mb', "small")
    .option("--out <dir>", "where the report goes", "rehearsal/out")
    .option("--split <percents>", "percent of requests on AWS at each weighted step before 100 (Cloudflare load balancer; a box then forwards the rest at 100)", "10,50")
    .option("--hold <seconds>", "seconds of traffic after each stage", positive("--hold"), 3)
    .option("--up-to <stage>", "raise the flags up to this stage", stage("--up-to"), "decommission")
    .option("--rollback-from <stage>", "raise the flags up to this stage, then lower them one at a time back to provision", stage("--rollback-from"))
    .option("--fail-cutover-once [when]", "break the first cutover (its process killed in the window: once the fence is 'recorded', the default, or as soon as the source is 'fenced'; or its own injected failure: 'gate', 'verify'), lower ferry:cutover, check every source was given back, then cut over again")
    .option("--writes-per-second <n>", "write rate of the load generator", positive("--writes-per-second"), 10)
    .option("--reads-per-second <n>", "read rate of the load generator", positive("--reads-per-second"), 10)
    .option("--max-writes <n>", "stop writing after this many writes", positive("--max-writes"), 100_000)
    .option("--max-minutes <n>", "stop the load after this many minutes", positive("--max-minutes"), 30)
    .option("--time-factor <n>", "divide ECS's and the load balancer's times (Fargate's task start, health checks, grace period, draining) by N; 1 is AWS's own", positive("--time-factor"), 1)
    .exitOverride()
    .configureOutput({ outputError: (s, w) => w(s.split("\n")[0] + "\n") });
  cmd.parse(argv, { from: "user" });
  const o = cmd.opts();
  if (o.story !== undefined && !(STORIES as readonly string[]).includes(o.story)) throw new InvalidArgumentError(`--story must be one of ${STORIES.join(", ")}`);
  const story = o.story as Story | undefined;
  if (story) mkdirSync(resolve(o.out), { recursive: true });
  const stackFile = story ? storyStackFile(PROJECT_DIR, story, resolve(o.out)) : resolve(o.stackFile ?? `Pulumi.${o.stack}.yaml`);
  if (!existsSync(stackFile)) throw new InvalidArgumentError(`${o.stackFile ? "--stack-file" : "--stack"}: no stack file ${stackFile}`);
  const split = String(o.split).split(",").map((s) => Number(s.trim()));
  if (split.some((n) => !Number.isInteger(n) || n < 1 || n > 99)) throw new InvalidArgumentError("--split must be percentages 1-99, e.g. 10,50");
  return {
    stackFile,
    stackName: story ? `story${story}` : o.stackFile ? basename(stackFile).replace(/^Pulumi\.|\.yaml$/g, "") : o.stack,
    ...sampleSize(String(o.size)),
    sizeLabel: String(o.size),
    outDir: resolve(o.out),
    splitSteps: split,
    holdSeconds: o.hold,
    writesPerSecond: o.writesPerSecond,
    readsPerSecond: o.readsPerSecond,
    maxWrites: Math.floor(o.maxWrites),
    maxMinutes: o.maxMinutes,
    timeFactor: o.timeFactor,
    upTo: o.upTo,
    rollbackFrom: o.rollbackFrom,
    failCutoverOnce: crashPoint(o.failCutoverOnce),
    story,
  };
}

async function main(argv: string[]): Promise<number> {
  let opts: StackRehearsalOptions;
  try {
    opts = parseStackOptions(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`rehearse: ${(err as Error).message}\n`);
    return 2;
  }
  const missing = missingPrerequisites();
  if (missing.length) {
    process.stderr.write(`rehearse: ${describeMissing(missing)}\n`);
    return 3;
  }
  const { ok, reportDir, failedChecks } = await rehearseStack(opts, log);
  // The checks that failed, where CI and the terminal show them (the report has the rest).
  for (const line of failedChecks) process.stderr.write(`check FAILED: ${line}\n`);
  process.stdout.write(`stack rehearsal ${ok ? "PASSED" : "FAILED"}: report in ${reportDir}/report.md\n`);
  return ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`rehearse: ${redact(err instanceof Error ? err.stack ?? err.message : String(err))}\n`);
      process.exit(1);
    },
  );
}
