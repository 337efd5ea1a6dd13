// Verify benchmark: ferry's chunked in-database checksums against dumping both
// sides' data and hashing it, on a generated source and its ferry copy. Run twice:
// on identical databases, and after one row of the target was changed, to show who
// finds it and how precisely. Each scenario runs --rounds rounds (default 3) in
// alternating order; the median ratio is quoted.
//   npm run bench:pg-verify -- --gb 1 --jobs 4 [--rounds 3]
import { withClient } from "../dataplane/postgres/connection";
import { copyByDump } from "../dataplane/postgres/copy/dump";
import { verifyDatabases } from "../dataplane/postgres/verify/verify";
import { parseBenchArgs } from "./lib/args";
import { freshDatabase, generateData, startBenchCluster } from "./lib/data";
import { log, mb, table } from "./lib/report";
import { Contender, loadLine, roundsTable, runRounds, RoundsResult } from "./lib/rounds";
import { shellStatus } from "./lib/shell";

/** What the user has to run to compare two databases by dumping: a deterministic (ordered) dump of each table, hashed. */
const ORDERED = [
  "COPY (SELECT * FROM users ORDER BY id) TO STDOUT",
  "COPY (SELECT * FROM events ORDER BY id) TO STDOUT",
  "COPY (SELECT * FROM access_log ORDER BY at, path, status, ms) TO STDOUT",
];

/** Both sides at once, one table after the other; names the tables whose hashes differ. */
async function dumpAndHash(sourceUrl: string, targetUrl: string): Promise<string> {
  const differing: string[] = [];
  const tmp = `/tmp/ferry-bench-verify-${process.pid}`;
  for (const sql of ORDERED) {
    const { code, stderr } = await shellStatus(
      `psql -X -q -v ON_ERROR_STOP=1 --dbname "$SRC" -c "$Q" | sha256sum > "$T.src" &
       psql -X -q -v ON_ERROR_STOP=1 --dbname "$DST" -c "$Q" | sha256sum > "$T.dst" &
       wait
       if cmp -s "$T.src" "$T.dst"; then r=0; else r=3; fi
       rm -f "$T.src" "$T.dst"
       exit $r`,
      sourceUrl, targetUrl, { Q: sql, T: tmp },
    );
    if (stderr) throw new Error(`dump and hash failed: ${stderr}`);
    if (code === 3) differing.push(sql.match(/FROM (\w+)/)![1]);
    else if (code !== 0) throw new Error(`dump and hash failed with exit ${code}`);
  }
  return differing.length ? `differs: ${differing.join(", ")} (no range)` : "equal";
}

async function ferryVerify(sourceUrl: string, targetUrl: string, jobs: number, fast: boolean): Promise<string> {
  const report = await verifyDatabases({ sourceUrl, targetUrl, jobs, fast, showKeys: true }); // synthetic data: the key says which row the bench changed
  const chunks = report.tables.reduce((n, t) => n + t.chunks, 0);
  return report.ok ? `equal (${chunks} chunks)` : `differs: ${report.firstDifference}`;
}

async function main(): Promise<void> {
  const { gb, jobs, rounds } = parseBenchArgs();
  const [source, target] = await Promise.all([startBenchCluster(), startBenchCluster()]);
  const sourceUrl = await freshDatabase(source, "app");
  const targetUrl = await freshDatabase(target, "app");
  const data = await generateData(sourceUrl, gb, jobs);
  log(`source: ${mb(data.tableBytes)} of table data; copying it to the target with ferry`);
  await copyByDump({ sourceUrl, targetUrl, jobs });

  const contenders: Contender[] = [
    { name: "dump both sides (ordered COPY) + sha256sum", run: () => dumpAndHash(sourceUrl, targetUrl) },
    { name: `ferry verify (${jobs} jobs)`, run: () => ferryVerify(sourceUrl, targetUrl, jobs, false) },
    { name: `ferry verify --fast (${jobs} jobs)`, run: () => ferryVerify(sourceUrl, targetUrl, jobs, true) },
  ];
  const changedId = Math.floor(data.rows.events * 0.6);
  const scenarios: { label: string; result: RoundsResult }[] = [];
  for (const label of ["identical", `events.id=${changedId} changed on target`]) {
    if (label !== "identical") await withClient(targetUrl, (c) => c.query("UPDATE events SET amount = amount + 0.01 WHERE id = $1", [changedId]));
    log(label);
    scenarios.push({ label, result: await runRounds(contenders, rounds) });
  }

  console.log(`\npg-verify bench: ${mb(data.tableBytes)} of table data per side, ${jobs} jobs, ${rounds} rounds in alternating order, PostgreSQL 15 on one host`);
  for (const { label, result } of scenarios) {
    console.log(`\n${label}`);
    console.log(roundsTable(contenders, result, { baseline: 0 }));
    console.log(table(["contender", "what it reported (last round)"], contenders.map((c, i) => [c.name, result.timings[i].at(-1)!.note ?? ""])));
  }
  console.log(loadLine());
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
