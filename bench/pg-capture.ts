// Capture benchmark (issue 25's peer): ferry's trigger-capture strategy against Bucardo 5.6,
// the tool people move Heroku Postgres with today, on the same data under the same write
// load, --rounds rounds (default 3) in alternating order, medians and per-round ratios quoted.
//
//   npm run bench:pg-capture -- --gb 1 [--rounds 3] [--tools ferry,bucardo] [--rate 200]
//     [--writers 4] [--backlog N] [--latency-seconds 10] [--jobs 2]
//
// The source role both tools use is the database's owner, NOSUPERUSER NOREPLICATION, as
// on Heroku. Bucardo's control database is on a cluster of its own where it is a
// superuser (it needs PL/Perl), which is how people run it beside Heroku. The target is
// reached as its superuser by both (on RDS, the master user). Source, target and tool share
// this one host: the write latencies include the CPU each tool takes from the source.
//
// Per run, each on a fresh clone of one seeded source and an empty target:
// 1. write latency with no capture: the steady load's p50/p99 over --latency-seconds;
// 2. initial copy: from starting the tool (its install included) until the target holds
//    every seeded row;
// 3. write latency with the capture on (the tool applying), once the target caught up;
// 4. catch-up: the tool stopped (Bucardo: its sync deactivated; ferry: replicate sent
//    SIGTERM), a backlog of --backlog changes written on top of the steady load, a marker
//    row bumped, the tool started again; the time until the marker is on the target. Both
//    apply in commit order or in whole-snapshot runs, so the marker there means everything
//    committed before it is there too;
// 5. cutover window: ferry: `ferry pg cutover --strategy capture`, its own figure (fence to
//    target open, verify included). Bucardo has no cutover: the app's writes stop (as with
//    Heroku's maintenance mode), a marker is bumped, the window ends when the marker is on
//    the target and every table's row count matches the source's;
// 6. lost: every acknowledged write (steady load and backlog) looked up on the target.
import { Client } from "pg";
import { loadavg } from "node:os";
import { have, LocalPostgres } from "../rehearsal/servers";
import { connect } from "../dataplane/postgres/connection";
import { parseBenchArgs } from "./lib/args";
import { Bucardo } from "./lib/bucardo";
import { bumpMarker, CaptureSource, cloneSource, hasEverySeededRow, markerOn, seedCaptureSource, tableCounts } from "./lib/capture-data";
import { CaptureLoad, LatencyWindow, lostWrites } from "./lib/capture-load";
import { dropDatabase, freshDatabase, startBenchCluster } from "./lib/data";
import { FerryCapture } from "./lib/ferry-capture";
import { log, mb, table } from "./lib/report";
import { loadLine, median, roundOrder } from "./lib/rounds";
import { shell } from "./lib/shell";
import { schemaBytes, withWal } from "./lib/source-growth";

type Tool = "ferry" | "bucardo";
const NAMES: Record<Tool, string> = { ferry: "ferry capture", bucardo: "Bucardo 5.6" };
/** Where each tool keeps its changes on the source: ferry's change log, Bucardo's delta and track tables. */
const STORE_SCHEMA: Record<Tool, string> = { ferry: "ferry_capture", bucardo: "bucardo" };

interface Options {
  gb: number;
  jobs: number;
  rounds: number;
  tools: Tool[];
  rate: number;
  writers: number;
  backlog: number;
  latencyMs: number;
}

interface Figures {
  copyMs: number;
  /** Of copyMs, until the tool's start command returned (Bucardo: registering, installing its triggers, starting the daemon). */
  startMs: number;
  off: LatencyWindow;
  on: LatencyWindow;
  /** The source's WAL per acknowledged write over each latency window. */
  walOff: number;
  walOn: number;
  /** Growth of the tool's store on the source per backlog change (nothing drains it meanwhile). */
  storePerChange: number;
  backlog: number;
  catchupMs: number;
  /** Of catchupMs, until the restart command returned. */
  restartMs: number;
  windowMs: number;
  /** Set when the window was not taken by the tool's own cutover as planned. */
  windowHow?: string;
  acknowledged: number;
  /** Writes that failed (a fenced source refuses them); unacknowledged, so never counted as lost. */
  failed: number;
  lost: string[];
}

/** What one tool does at each step of a run. */
interface Contender {
  replicate(): Promise<void>;
  /** Called while waiting: fails once the tool is known to have stopped on its own. */
  check(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** The cutover window in ms (and how it was taken, when not as planned); the load runs when it starts and is stopped when it returns. */
  cutover(load: CaptureLoad, sourceUrl: string, target: Client): Promise<{ ms: number; how?: string }>;
  close(): Promise<void>;
}

function parseOptions(argv = process.argv.slice(2)): Options {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  };
  const positive = (flag: string, fallback: number, integer = true) => {
    const raw = value(flag);
    const n = Number(raw ?? fallback);
    if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`${flag} must be a positive ${integer ? "integer" : "number"}, got ${raw}`);
    return n;
  };
  const base = parseBenchArgs([...argv, ...(value("--gb") === undefined ? ["--gb", "0.2"] : []), ...(value("--jobs") === undefined ? ["--jobs", "2"] : [])]);
  const tools = (value("--tools") ?? "ferry,bucardo").split(",").map((t) => t.trim());
  const unknown = tools.find((t) => t !== "ferry" && t !== "bucardo");
  if (unknown !== undefined || !tools.length) throw new Error(`--tools must name ferry, bucardo or both (comma-separated), got ${value("--tools")}`);
  const writers = positive("--writers", 4);
  if (writers > 32) throw new Error(`--writers must be at most 32, got ${writers}`);
  return {
    ...base,
    tools: [...new Set(tools)] as Tool[],
    rate: positive("--rate", 200),
    writers,
    backlog: positive("--backlog", Math.max(5000, Math.round(base.gb * 100_000))),
    latencyMs: positive("--latency-seconds", 10, false) * 1000,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `everyMs` until true; `tick` may throw to stop early. */
async function until(what: string, check: () => Promise<boolean>, opts: { everyMs: number; timeoutMs: number; tick: () => Promise<void> }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (!(await check())) {
    await opts.tick();
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeoutMs / 1000} s waiting for ${what}`);
    await sleep(opts.everyMs);
  }
}

function bucardoContender(bucardo: Bucardo, sourceUrl: string, targetUrl: string): Contender {
  return {
    replicate: () => bucardo.replicate(sourceUrl, targetUrl),
    check: async () => undefined,
    pause: () => bucardo.pause(),
    resume: () => bucardo.resume(),
    async cutover(load, source, target) {
      await load.stop();
      const t0 = performance.now();
      const marker = await bumpMarker(source);
      await until("Bucardo to apply the last writes", async () => (await markerOn(target)) >= marker, { everyMs: 10, timeoutMs: 600_000, tick: async () => undefined });
      const [want, got] = await Promise.all([tableCounts(source), tableCounts(targetUrl)]);
      const ms = performance.now() - t0;
      const differs = Object.keys(want).find((t) => want[t] !== got[t]);
      if (differs) throw new Error(`Bucardo's target has ${got[differs]} rows in ${differs} after the last sync, the source ${want[differs]}`);
      return { ms };
    },
    close: () => bucardo.stop(),
  };
}

function ferryContender(sourceUrl: string, targetUrl: string): Contender {
  const ferry = new FerryCapture(sourceUrl, targetUrl);
  return {
    replicate: async () => ferry.replicate(),
    check: () => ferry.failIfExited(),
    pause: () => ferry.stop(),
    resume: async () => ferry.replicate(),
    async cutover(load) {
      const cut = await ferry.cutover();
      if ("ms" in cut) {
        await load.stop();
        return cut;
      }
      // No cutover for capture yet: what its refusal tells a user to do, timed from the app's last write.
      log(`ferry pg cutover refused capture (${cut.refused}): timing the way it points to instead`);
      await load.stop();
      const t0 = performance.now();
      const verified = await ferry.catchUpAndVerify();
      return { ms: performance.now() - t0, how: `no \`ferry pg cutover\` for capture yet: writes stopped, replicate --until-caught-up, verify; ${verified}` };
    },
    close: () => ferry.close(),
  };
}

interface Bench {
  opts: Options;
  source: LocalPostgres;
  target: LocalPostgres;
  seed: CaptureSource;
  schemaFile: string;
  bucardo?: Bucardo;
}

async function runOnce(bench: Bench, tool: Tool, round: number): Promise<Figures> {
  const { opts, seed } = bench;
  const name = `${tool}_${round}`;
  const sourceUrl = await cloneSource(bench.source, seed, `src_${name}`);
  const targetUrl = await freshDatabase(bench.target, `dst_${name}`);
  if (tool === "bucardo") {
    // Bucardo copies rows, not schema: people create the target's tables first.
    await shell(`psql -q -v ON_ERROR_STOP=1 --dbname "$DST" -f "$SCHEMA"`, targetUrl, targetUrl, { SCHEMA: bench.schemaFile });
    await bench.bucardo!.install();
  }
  const contender = tool === "bucardo" ? bucardoContender(bench.bucardo!, sourceUrl, targetUrl) : ferryContender(sourceUrl, targetUrl);
  const load = new CaptureLoad(sourceUrl, seed.rows, name);
  const target = await connect(targetUrl);
  const caughtUp = async (what: string) => {
    const marker = await bumpMarker(sourceUrl);
    await until(what, async () => (await markerOn(target)) >= marker, { everyMs: 10, timeoutMs: 600_000 + opts.gb * 1_200_000, tick: contender.check });
  };
  try {
    load.start({ rate: opts.rate, writers: opts.writers });
    await sleep(3000); // connections open and the clone's pages in memory before the first window
    const offWal = await withWal(sourceUrl, () => load.measureLatency(opts.latencyMs));
    const off = offWal.result;
    log(`${name}: starting the tool`);

    const t0 = performance.now();
    await contender.replicate();
    const startMs = performance.now() - t0;
    await until("the initial copy", () => hasEverySeededRow(targetUrl, seed.rows), { everyMs: 200, timeoutMs: 600_000 + opts.gb * 1_200_000, tick: contender.check });
    const copyMs = performance.now() - t0;
    log(`${name}: copied in ${s(copyMs)}`);
    await caughtUp("the target to catch up after the copy");
    const onWal = await withWal(sourceUrl, () => load.measureLatency(opts.latencyMs));
    const on = onWal.result;

    log(`${name}: stopping the tool for the backlog`);
    await contender.pause();
    const before = load.acked.acknowledged;
    const storeBefore = await schemaBytes(sourceUrl, STORE_SCHEMA[tool]);
    await load.burst(opts.backlog, 4);
    const storeGrowth = (await schemaBytes(sourceUrl, STORE_SCHEMA[tool])) - storeBefore;
    const marker = await bumpMarker(sourceUrl);
    const backlog = load.acked.acknowledged - before + 1;
    const t1 = performance.now();
    await contender.resume();
    const restartMs = performance.now() - t1;
    await until("the catch-up", async () => (await markerOn(target)) >= marker, { everyMs: 10, timeoutMs: 600_000, tick: contender.check });
    const catchupMs = performance.now() - t1;

    log(`${name}: caught up in ${s(catchupMs)}; cutover`);
    await sleep(1000);
    const window = await contender.cutover(load, sourceUrl, target);
    const lost = await lostWrites(targetUrl, load.acked);
    return {
      copyMs, startMs, off, on, backlog,
      walOff: offWal.walBytes / Math.max(1, off.writes), walOn: onWal.walBytes / Math.max(1, on.writes), storePerChange: storeGrowth / backlog, catchupMs, restartMs, windowMs: window.ms, windowHow: window.how, acknowledged: load.acked.acknowledged, failed: load.acked.failures, lost };
  } catch (err) {
    throw new Error(`${NAMES[tool]}, round ${round + 1}: ${(err as Error).message}${tool === "bucardo" ? ` (Bucardo's log: ${bench.bucardo!.logTail()})` : ""}`);
  } finally {
    log(`${name}: cleaning up`);
    await load.stop();
    await target.end().catch(() => undefined);
    await contender.close();
    await dropDatabase(bench.target, `dst_${name}`);
    await dropDatabase(bench.source, `src_${name}`);
  }
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;
const s = (n: number) => `${(n / 1000).toFixed(1)} s`;
const bytes = (n: number) => `${n.toFixed(0)} B`;
const rowsPerSecond = (f: Figures) => f.backlog / (f.catchupMs / 1000);
const overhead = (f: Figures, p: "p50" | "p99") => f.on[p] - f.off[p];

function roundLine(tool: Tool, f: Figures): string {
  return `${NAMES[tool]}: copy ${s(f.copyMs)} (started in ${s(f.startMs)}), catch-up ${f.backlog} changes in ${s(f.catchupMs)} (${rowsPerSecond(f).toFixed(0)} rows/s, restarted in ${s(f.restartMs)}), ` +
    `write p50 ${ms(f.off.p50)} -> ${ms(f.on.p50)}, p99 ${ms(f.off.p99)} -> ${ms(f.on.p99)} (${f.off.writes}/${f.on.writes} writes), ` +
    `WAL per write ${bytes(f.walOff)} -> ${bytes(f.walOn)}, its store ${bytes(f.storePerChange)} per change, ` +
    `window ${ms(f.windowMs)}${f.windowHow ? ` (${f.windowHow})` : ""}, acknowledged ${f.acknowledged}, failed ${f.failed}, lost ${f.lost.length}${f.lost.length ? ` (${f.lost.slice(0, 3).join("; ")})` : ""}`;
}

interface Metric {
  name: string;
  value: (f: Figures) => number;
  show: (n: number) => string;
  goal?: string;
  met?: (ratio: number, ferry: number) => boolean;
  /**
   * An added latency is a difference of two noisy figures: a round's own ratio can divide
   * by almost nothing or less, so the ratio of the medians is quoted, and none when
   * Bucardo's median is not above zero.
   */
  ratioOfMedians?: boolean;
}

const METRICS: Metric[] = [
  { name: "initial copy", value: (f) => f.copyMs, show: s },
  { name: "catch-up (rows/s)", value: rowsPerSecond, show: (n) => n.toFixed(0), goal: "ratio >= 2", met: (r) => r >= 2 },
  { name: "write p50, capture off", value: (f) => f.off.p50, show: ms },
  { name: "write p50, capture on", value: (f) => f.on.p50, show: ms },
  { name: "p50 overhead (on - off)", value: (f) => overhead(f, "p50"), show: ms, goal: "ratio <= 0.5", met: (r) => r <= 0.5, ratioOfMedians: true },
  { name: "write p99, capture off", value: (f) => f.off.p99, show: ms },
  { name: "write p99, capture on", value: (f) => f.on.p99, show: ms },
  { name: "p99 overhead (on - off)", value: (f) => overhead(f, "p99"), show: ms, goal: "ratio <= 0.5", met: (r) => r <= 0.5, ratioOfMedians: true },
  { name: "source WAL per write, capture off", value: (f) => f.walOff, show: bytes },
  { name: "source WAL per write, capture on", value: (f) => f.walOn, show: bytes },
  { name: "capture store per change (not drained)", value: (f) => f.storePerChange, show: bytes },
  { name: "cutover window", value: (f) => f.windowMs, show: ms, goal: "ferry <= 1 s at 1 GB", met: (_, ferry) => ferry <= 1000 },
  { name: "acknowledged writes lost", value: (f) => f.lost.length, show: (n) => String(n), goal: "ferry 0", met: (_, ferry) => ferry === 0 },
];

function summaryTable(opts: Options, runs: Map<Tool, Figures[]>): string {
  const both = opts.tools.length === 2;
  const headers = ["metric", ...opts.tools.map((t) => `${NAMES[t]} (median)`), ...(both ? ["ferry/Bucardo", "goal", "met"] : [])];
  const rows = METRICS.map((m) => {
    const medians = opts.tools.map((t) => median(runs.get(t)!.map(m.value)));
    if (!both) return [m.name, ...medians.map(m.show)];
    const ferry = runs.get("ferry")!;
    const bucardo = runs.get("bucardo")!;
    const ferryMedian = medians[opts.tools.indexOf("ferry")];
    const bucardoMedian = medians[opts.tools.indexOf("bucardo")];
    // Otherwise the median of each round's own ratio, as the other benches quote.
    const ratio = m.ratioOfMedians
      ? (bucardoMedian > 0 ? ferryMedian / bucardoMedian : NaN)
      : median(ferry.map((f, r) => m.value(f) / m.value(bucardo[r])));
    const goalMet = !m.met ? "" : m.ratioOfMedians && !Number.isFinite(ratio) ? "n/a" : m.met(ratio, ferryMedian) ? "yes" : "no";
    return [m.name, ...medians.map(m.show), Number.isFinite(ratio) ? ratio.toFixed(2) : "-", m.goal ?? "", goalMet];
  });
  return table(headers, rows);
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (opts.tools.includes("bucardo") && !have("bucardo")) throw new Error("bucardo is not installed: run scripts/setup-system.sh as root");
  const [source, target, bucardo] = await Promise.all([
    startBenchCluster(),
    startBenchCluster(),
    opts.tools.includes("bucardo") ? Bucardo.start() : undefined,
  ]);
  const seed = await seedCaptureSource(source, opts.gb, opts.jobs);
  log(`source: ${mb(seed.tableBytes)} of table data`);
  const schemaFile = `${source.socketDir}/schema.sql`;
  await shell(`pg_dump --schema-only --no-owner --no-acl --dbname "$SRC" -f "$SCHEMA"`, source.url(seed.template), target.url(), { SCHEMA: schemaFile });
  const bench: Bench = { opts, source, target, seed, schemaFile, bucardo };

  const runs = new Map<Tool, Figures[]>(opts.tools.map((t) => [t, []]));
  for (let r = 0; r < opts.rounds; r++) {
    for (const i of roundOrder(opts.tools.length, r)) {
      const tool = opts.tools[i];
      log(`round ${r + 1}/${opts.rounds}: ${NAMES[tool]} (1-min load ${loadavg()[0].toFixed(2)})`);
      const f = await runOnce(bench, tool, r);
      runs.get(tool)!.push(f);
      log(`round ${r + 1}/${opts.rounds}: ${roundLine(tool, f)}`);
    }
  }

  console.log(`\npg-capture bench: ${mb(seed.tableBytes)} of table data, steady load ${opts.rate} writes/s on ${opts.writers} connections (40% INSERT, 40% UPDATE, 20% DELETE), ` +
    `backlog ${opts.backlog} changes, latency over ${opts.latencyMs / 1000} s, ${opts.rounds} round(s) in alternating order, PostgreSQL 15 -> 15 on one host`);
  console.log("source role: database owner, NOSUPERUSER NOREPLICATION (as on Heroku); Bucardo's control database: its own cluster, superuser (PL/Perl)\n");
  for (const tool of opts.tools) runs.get(tool)!.forEach((f, r) => console.log(`round ${r + 1} ${roundLine(tool, f)}`));
  console.log(`\n${summaryTable(opts, runs)}`);
  const how = (runs.get("ferry") ?? []).find((f) => f.windowHow)?.windowHow;
  if (how) console.log(`\nferry's window: ${how}`);
  console.log([
    "",
    "initial copy: from starting the tool (its install included) until the target holds every seeded row.",
    "catch-up: the backlog (changes committed while the tool was stopped) over the time from restarting it until the last of them is on the target.",
    "overhead: the steady load's write latency with the tool applying minus without any capture, each over the same window on the same source.",
    "WAL per write: the source's WAL over a latency window divided by its writes (with capture on, the trigger's log rows and the applier's trimming included).",
    "store per change: the growth of the tool's tables on the source (ferry_capture, Bucardo's bucardo schema) over the backlog, while the tool was stopped.",
    "window: ferry's own figure for `ferry pg cutover` (fence to target open, its verify included); Bucardo: from the app's last write",
    "  until the target has it and every table's row count equals the source's. lost: every acknowledged write looked up on the target.",
  ].join("\n"));
  if (opts.gb < 1) console.log(`\n(the window goal is set at --gb 1; this run used --gb ${opts.gb})`);
  console.log(loadLine());
  const lost = (runs.get("ferry") ?? []).reduce((n, f) => n + f.lost.length, 0);
  if (lost) throw new Error(`ferry lost ${lost} acknowledged write(s) (listed above)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
