// Benchmark: the write-unavailability of `ferry cutover` (Postgres and Redis cut over in
// one process) against the per-store commands one after another (`ferry pg cutover`,
// then `ferry redis cutover`), on the stack the cutover tests build: a logical Postgres
// pair (the test schema, 100 rows) and a REPLICAOF Redis pair, one Postgres writer
// committing with a 1 ms pause. The figure is what the app sees: the longest gap between
// two acknowledged writes, the writer moving to the target once every store is cut over.
// An acknowledged write missing on the target stops the bench.
//
//   npm run bench:cutover                  # 3 rounds
//   npm run bench:cutover -- --rounds 5    # the order alternates; medians quoted
import { LocalPostgres } from "../rehearsal/servers";
import { missingWrites, startWriteLoad } from "../tests/dataplane/postgres/fixtures";
import { runFerry, startClusterPair } from "../tests/dataplane/postgres/helpers";
import { replicatingStack } from "../tests/dataplane/cutover/helpers";
import { Contender, Measured, loadLine, roundsTable, runRounds } from "./lib/rounds";

const WAIT = ["--max-lag-bytes", "10485760", "--timeout", "30"];
const COMBINED = [["--json", "cutover", ...WAIT]];
const ONE_AFTER_ANOTHER = [["--json", "pg", "cutover", ...WAIT], ["--json", "redis", "cutover"]];

function rounds(): number {
  const argv = process.argv.slice(2);
  const i = argv.indexOf("--rounds");
  const raw = i >= 0 ? argv[i + 1] : undefined;
  const n = raw === undefined ? 3 : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--rounds must be a positive whole number, got ${raw}`);
  return n;
}

/** A fresh stack in database `db`, cut over by `commands` under the writer: the longest gap it saw. */
async function writeGap(source: LocalPostgres, target: LocalPostgres, db: string, commands: string[][]): Promise<Measured> {
  const stack = await replicatingStack(source, target, db);
  try {
    const load = startWriteLoad(stack.pg.appSrc, { writers: 1, pauseMs: 1 });
    await load.waitForMore(30);
    for (const args of commands) {
      const run = await runFerry(args, stack.env);
      if (run.code !== 0) throw new Error(`ferry ${args.join(" ")} exited ${run.code}: ${run.stderr.trim()}`);
    }
    load.retarget(stack.pg.appTgt);
    await load.waitForMore(10);
    const summary = await load.stop();
    const lost = (await missingWrites(stack.pg.tgt, load.acked)).length;
    if (lost > 0) throw new Error(`${db}: ${lost} acknowledged writes are not on the target`);
    return { ms: summary.longestGapMs, note: `${summary.acknowledged} writes acknowledged, none lost` };
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const n = rounds();
  const [source, target] = await startClusterPair();
  try {
    const contenders: Contender[] = [
      { name: "ferry cutover (one process)", run: (r) => writeGap(source, target, `bench_combined_${r}`, COMBINED) },
      { name: "ferry pg cutover, then ferry redis cutover", run: (r) => writeGap(source, target, `bench_separate_${r}`, ONE_AFTER_ANOTHER) },
    ];
    console.log(`cutover window: the longest gap between acknowledged Postgres writes, ${n} rounds in alternating order`);
    const result = await runRounds(contenders, n);
    console.log(roundsTable(contenders, result, { ours: 0 }));
    console.log(loadLine());
  } finally {
    await Promise.all([source.stop("immediate"), target.stop("immediate")]);
  }
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).message}`);
  process.exit(1);
});
