// Benchmark: write-unavailability of `ferry pg cutover` under a steady write load.
// Goal: under 1 second, with 0 acknowledged writes lost.
//
//   npm run bench:pg-cutover                       # 1 GB of generated data, physical + logical
//   FERRY_BENCH_MB=200 FERRY_BENCH_STRATEGIES=physical,logical,dump npm run bench:pg-cutover
//   FERRY_BENCH_ROUNDS (default 3): rounds, the strategies' order alternating; medians quoted
//
// For each strategy: a source with the test schema seeded to the size asked, a target
// replicating from it (standby or subscription; dump: a trial copy), writers committing
// as fast as they can, then the cutover. Printed per strategy: ferry's own figure
// (fence to target released), what the writers saw (longest gap between two
// acknowledged writes, the app switching to the target as soon as cutover returns), and
// how many acknowledged writes the target lacks.
import { loadavg } from "node:os";
import { startPostgres, LocalPostgres } from "../rehearsal/servers";
import { cutover, CutoverResult } from "../dataplane/postgres/cutover/cutover";
import { replicateLogical } from "../dataplane/postgres/replication/logical";
import { replicatePhysical, stopStandby } from "../dataplane/postgres/replication/physical";
import { preflight } from "../dataplane/postgres/preflight";
import { formatBytes } from "../dataplane/cli/common";
import { trialCopy } from "../dataplane/postgres/replication/trial";
import { Strategy } from "../dataplane/postgres/names";
import { withClient } from "../dataplane/postgres/connection";
import { missingWrites, roleUrl, startSource, startWriteLoad, ROLE_PASSWORD } from "../tests/dataplane/postgres/fixtures";
import { asRole, standbyPath, standbyUrl } from "../tests/dataplane/postgres/helpers";
import { loadLine, median, roundOrder } from "./lib/rounds";

/** Bytes per seeded row across the five test tables (measured: ~680 B; a little less so the size asked is reached). */
const BYTES_PER_SEED_ROW = 660;
const MB = 1024 * 1024;

interface Figures {
  strategy: Strategy;
  dataBytes: number;
  result: CutoverResult;
  observedGapMs: number;
  acknowledged: number;
  lost: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The target for `strategy`, replicating (or trial-copied) from `source`. */
async function prepareTarget(strategy: Strategy, source: LocalPostgres): Promise<{ url: string; retire: () => Promise<void> }> {
  if (strategy === "physical") {
    const dir = standbyPath();
    const url = await standbyUrl(source);
    await replicatePhysical({ sourceUrl: source.url(), targetUrl: url, standbyDir: dir });
    return { url, retire: () => stopStandby(dir) };
  }
  const target = await startPostgres();
  await target.query(`CREATE ROLE app LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  if (strategy === "logical") {
    const pf = await preflight({ sourceUrl: source.url(), targetUrl: target.url(), strategy, fixReplicaIdentity: true });
    if (!pf.ok) throw new Error(`preflight: ${JSON.stringify(pf.checks.filter((c) => !c.ok))}`);
    await replicateLogical({ sourceUrl: source.url(), targetUrl: target.url() });
  } else {
    await trialCopy({ sourceUrl: source.url(), targetUrl: target.url() });
  }
  return { url: target.url(), retire: () => target.stop("immediate") };
}

async function benchOne(strategy: Strategy, rows: number): Promise<Figures> {
  const source = await startSource(rows);
  const dataBytes = Number((await source.query<{ b: string }>("SELECT pg_database_size('postgres') AS b"))[0].b);
  process.stderr.write(`${strategy}: ${formatBytes(dataBytes)} seeded, replicating...\n`);
  const target = await prepareTarget(strategy, source);
  const load = startWriteLoad(roleUrl(source, "app"), { writers: 4, pauseMs: 0 });
  await sleep(2000); // steady state
  const result = await cutover({ sourceUrl: source.url(), targetUrl: target.url, strategy, maxLagBytes: 16 * MB, timeoutSeconds: 600 });
  if (strategy !== "physical") {
    // Roles and grants are not carried by logical/dump: the app's role gets its rights on the target.
    await withClient(target.url, (c) =>
      c.query("GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app"),
    );
  }
  load.retarget(asRole(target.url, "app"));
  await load.waitForMore(200, 60_000).catch(() => undefined);
  const summary = await load.stop();
  const lost = (await missingWrites(target.url, load.acked)).length;
  await target.retire();
  await source.stop("immediate");
  return { strategy, dataBytes, result, observedGapMs: summary.longestGapMs, acknowledged: summary.acknowledged, lost };
}

function report(f: Figures): string {
  const ok = f.result.ok && f.lost === 0 && (f.result.writeUnavailableMs ?? Infinity) < 1000;
  return [
    `${f.strategy.padEnd(8)} data ${formatBytes(f.dataBytes).padStart(9)}  ferry write-unavailable ${String(f.result.writeUnavailableMs).padStart(6)} ms` +
      `  writers saw ${String(f.observedGapMs).padStart(6)} ms  acknowledged ${f.acknowledged}  lost ${f.lost}  lag at fence ${f.result.lagBytesAtFence} B  ${ok ? "GOAL MET" : "goal missed"}${f.result.ok ? "" : ` (${f.result.error})`}`,
    `         steps: ${f.result.steps.map((s) => `${s.name} ${s.ms} ms`).join(", ")}`,
    `         before the fence: ${f.result.steps.find((s) => s.name === "gate")?.detail ?? "-"}`,
  ].join("\n");
}

/** Medians per strategy over the rounds: the window, what the writers saw, and each step inside it. */
function summary(strategy: Strategy, runs: Figures[]): string {
  const med = (pick: (f: Figures) => number) => Math.round(median(runs.map(pick)));
  const steps = runs[0].result.steps.map((s) => s.name);
  const stepMs = (f: Figures, name: string) => f.result.steps.find((s) => s.name === name)?.ms ?? 0;
  return [
    `${strategy.padEnd(8)} median of ${runs.length}: write-unavailable ${med((f) => f.result.writeUnavailableMs ?? Infinity)} ms` +
      ` (rounds: ${runs.map((f) => f.result.writeUnavailableMs).join(", ")}), writers saw ${med((f) => f.observedGapMs)} ms,` +
      ` acknowledged ${runs.reduce((n, f) => n + f.acknowledged, 0)}, lost ${runs.reduce((n, f) => n + f.lost, 0)}`,
    `         median steps: ${steps.map((name) => `${name} ${med((f) => stepMs(f, name))} ms`).join(", ")}`,
  ].join("\n");
}

async function main(): Promise<void> {
  const mb = Number(process.env.FERRY_BENCH_MB ?? 1024);
  const strategies = (process.env.FERRY_BENCH_STRATEGIES ?? "physical,logical").split(",") as Strategy[];
  const rounds = Number(process.env.FERRY_BENCH_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`FERRY_BENCH_ROUNDS must be a positive integer, got ${process.env.FERRY_BENCH_ROUNDS}`);
  const rows = Math.max(1000, Math.round((mb * MB) / BYTES_PER_SEED_ROW));
  console.log(`pg-cutover: ${mb} MB per source (${rows} rows per table), 4 writers committing back to back, ${rounds} rounds in alternating order; goal < 1000 ms, 0 lost`);
  const runs = new Map<Strategy, Figures[]>(strategies.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) {
    for (const i of roundOrder(strategies.length, r)) {
      const figures = await benchOne(strategies[i], rows);
      console.log(`round ${r + 1}/${rounds} (1-min load ${loadavg()[0].toFixed(2)}): ${report(figures)}`);
      runs.get(strategies[i])!.push(figures);
    }
  }
  console.log("");
  for (const [strategy, figures] of runs) console.log(summary(strategy, figures));
  console.log(loadLine());
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
