// Copy benchmark: ferry's dump copy against `pg_dump -Fc | pg_restore`,
// `pg_dump -Fc` + `pg_restore -j` and `pgcopydb clone`, on the same generated source,
// each into a fresh empty database on one target cluster, side by side in one run.
//   npm run bench:pg-copy -- --gb 1 --jobs 4
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { have } from "../rehearsal/servers";
import { copyByDump, DumpCopyResult } from "../dataplane/postgres/copy/dump";
import { parseBenchArgs } from "./lib/args";
import { rowCounts } from "./lib/counts";
import { BENCH_TABLES, dropDatabase, freshDatabase, generateData, startBenchCluster } from "./lib/data";
import { log, mb, ratio, seconds, table, time, Timing } from "./lib/report";
import { shell } from "./lib/shell";

interface Contender {
  name: string;
  run(sourceUrl: string, targetUrl: string, workDir: string): Promise<string | void>;
}

async function main(): Promise<void> {
  const { gb, jobs } = parseBenchArgs();
  const [source, target] = await Promise.all([startBenchCluster(), startBenchCluster()]);
  const sourceUrl = await freshDatabase(source, "app");
  const data = await generateData(sourceUrl, gb, jobs);
  log(`source: ${mb(data.tableBytes)} of table data, database ${mb(data.databaseBytes)} with indexes`);
  const expected = await rowCounts(sourceUrl, BENCH_TABLES);

  let ferryResult: DumpCopyResult | undefined;
  const contenders: Contender[] = [
    {
      name: "pg_dump -Fc | pg_restore",
      run: (s, t) => shell(`pg_dump -Fc --dbname "$SRC" | pg_restore --no-owner --exit-on-error --dbname "$DST"`, s, t),
    },
    {
      name: `pg_dump -Fc + pg_restore -j ${jobs}`,
      run: (s, t, dir) =>
        shell(`pg_dump -Fc --file "$DIR/app.dump" --dbname "$SRC"\npg_restore --no-owner --exit-on-error -j ${jobs} --dbname "$DST" "$DIR/app.dump"`, s, t, { DIR: dir }),
    },
    ...(have("pgcopydb")
      ? [{
          name: `pgcopydb clone (${jobs} table + ${jobs} index jobs)`,
          run: (s: string, t: string, dir: string) =>
            shell(`pgcopydb clone --source "$SRC" --target "$DST" --table-jobs ${jobs} --index-jobs ${jobs} --dir "$DIR/pgcopydb" --no-owner --no-acl`, s, t, { DIR: dir }),
        }]
      : []),
    {
      // The same engine with every index built after all rows, to show what overlapping them buys.
      name: `ferry, indexes after all rows (${jobs} jobs)`,
      run: async (s, t) => void (await copyByDump({ sourceUrl: s, targetUrl: t, jobs, overlapIndexes: false })),
    },
    {
      name: `ferry dump copy (${jobs} jobs)`,
      run: async (s, t) => {
        ferryResult = await copyByDump({ sourceUrl: s, targetUrl: t, jobs });
        return ferryResult.phases.map((p) => `${p.name} ${seconds(p.ms)}`).join(", ");
      },
    },
  ];
  if (!have("pgcopydb")) log("pgcopydb not installed: skipped");

  const results: Timing[] = [];
  for (const [i, c] of contenders.entries()) {
    const name = `copy${i}`;
    const targetUrl = await freshDatabase(target, name);
    const dir = mkdtempSync(join(tmpdir(), "ferry-bench-"));
    log(`running ${c.name}`);
    try {
      const t = await time(c.name, () => c.run(sourceUrl, targetUrl, dir));
      const got = await rowCounts(targetUrl, BENCH_TABLES);
      if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`${c.name} copied ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
      log(`${c.name}: ${seconds(t.ms)}`);
      results.push(t);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await dropDatabase(target, name);
    }
  }

  const ferry = results[results.length - 1];
  console.log(`\npg-copy bench: ${mb(data.tableBytes)} of table data (${mb(data.databaseBytes)} database), ${jobs} jobs, PostgreSQL 15 -> 15 on one host`);
  console.log(table(
    ["contender", "time", "ferry is"],
    results.map((r) => [r.name, seconds(r.ms), r === ferry ? "-" : `${ratio(r, ferry)} faster`]),
  ));
  if (ferryResult) {
    console.log(`\nferry phases: ${ferry.note}`);
    console.log(`ferry built ${ferryResult.indexesBuiltEarly} indexes/keys during the data phase`);
    console.log(`ferry moved ${ferryResult.rows} rows, ${mb(ferryResult.bytes)} of COPY data (${(ferryResult.bytes / 1024 / 1024 / (ferryResult.phases.find((p) => p.name === "data")!.ms / 1000)).toFixed(0)} MB/s in the data phase)`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
