// Copy benchmark: ferry's dump copy against `pg_dump -Fc | pg_restore`,
// `pg_dump -Fc` + `pg_restore -j` and `pgcopydb clone`, on the same generated source,
// each into a fresh empty database on one target cluster, side by side in one run:
// --rounds rounds (default 3) in alternating order, the median ratio quoted. After every
// run the copy's rows, indexes and constraints are checked against the source.
//   npm run bench:pg-copy -- --gb 1 --jobs 4 [--rounds 3] [--all]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { have } from "../rehearsal/servers";
import { copyByDump, DumpCopyResult } from "../dataplane/postgres/copy/dump";
import { parseBenchArgs } from "./lib/args";
import { rowCounts } from "./lib/counts";
import { BENCH_TABLES, dropDatabase, freshDatabase, generateData, startBenchCluster } from "./lib/data";
import { endState, EndState, schemaDifference } from "./lib/end-state";
import { log, mb, seconds } from "./lib/report";
import { Contender, loadLine, roundsTable, runRounds } from "./lib/rounds";
import { shell } from "./lib/shell";

interface Copier {
  name: string;
  run(sourceUrl: string, targetUrl: string, workDir: string): Promise<string | void>;
}

/** Every row, and the same indexes and constraints as the source; notes who left statistics. */
async function checkEndState(name: string, targetUrl: string, rows: Record<string, number>, source: EndState, analyzed: Map<string, string>): Promise<void> {
  const got = await rowCounts(targetUrl, BENCH_TABLES);
  if (JSON.stringify(got) !== JSON.stringify(rows)) throw new Error(`${name} copied ${JSON.stringify(got)}, expected ${JSON.stringify(rows)}`);
  const state = await endState(targetUrl, BENCH_TABLES);
  const difference = schemaDifference(source, state);
  if (difference) throw new Error(`${name} left a different schema: ${difference}`);
  analyzed.set(name, `${state.analyzed.length}/${BENCH_TABLES.length} tables`);
}

async function main(): Promise<void> {
  const { gb, jobs, rounds } = parseBenchArgs();
  // --all adds two variants that only explain ferry's figure: pg_restore -j and ferry
  // with every index after all rows. The rounds then take about twice as long.
  const all = process.argv.includes("--all");
  const [source, target] = await Promise.all([startBenchCluster(), startBenchCluster()]);
  const sourceUrl = await freshDatabase(source, "app");
  const data = await generateData(sourceUrl, gb, jobs);
  log(`source: ${mb(data.tableBytes)} of table data, database ${mb(data.databaseBytes)} with indexes`);
  const expected = await rowCounts(sourceUrl, BENCH_TABLES);
  const sourceState = await endState(sourceUrl, BENCH_TABLES);

  let ferryResult: DumpCopyResult | undefined;
  const copiers: Copier[] = [
    {
      name: "pg_dump -Fc | pg_restore",
      run: (s, t) => shell(`pg_dump -Fc --dbname "$SRC" | pg_restore --no-owner --exit-on-error --dbname "$DST"`, s, t),
    },
    ...(all ? [{
      name: `pg_dump -Fc + pg_restore -j ${jobs}`,
      run: (s: string, t: string, dir: string) =>
        shell(`pg_dump -Fc --file "$DIR/app.dump" --dbname "$SRC"\npg_restore --no-owner --exit-on-error -j ${jobs} --dbname "$DST" "$DIR/app.dump"`, s, t, { DIR: dir }),
    }] : []),
    ...(have("pgcopydb")
      ? [{
          name: `pgcopydb clone (${jobs} table + ${jobs} index jobs)`,
          run: (s: string, t: string, dir: string) =>
            shell(`pgcopydb clone --source "$SRC" --target "$DST" --table-jobs ${jobs} --index-jobs ${jobs} --dir "$DIR/pgcopydb" --no-owner --no-acl`, s, t, { DIR: dir }),
        }]
      : []),
    ...(all ? [{
      // The same engine with every index built after all rows, to show what overlapping them buys.
      name: `ferry, indexes after all rows (${jobs} jobs)`,
      run: async (s: string, t: string) => void (await copyByDump({ sourceUrl: s, targetUrl: t, jobs, overlapIndexes: false })),
    }] : []),
    {
      name: `ferry dump copy (${jobs} jobs)`,
      run: async (s, t) => {
        ferryResult = await copyByDump({ sourceUrl: s, targetUrl: t, jobs });
        return ferryResult.phases.map((p) => `${p.name} ${seconds(p.ms)}`).join(", ");
      },
    },
  ];
  if (!have("pgcopydb")) log("pgcopydb not installed: skipped");

  const analyzed = new Map<string, string>();
  const contenders: Contender[] = copiers.map((c, i) => ({
    name: c.name,
    run: async () => {
      const name = `copy${i}`;
      const targetUrl = await freshDatabase(target, name);
      const dir = mkdtempSync(join(tmpdir(), "ferry-bench-"));
      try {
        const note = await c.run(sourceUrl, targetUrl, dir);
        await checkEndState(c.name, targetUrl, expected, sourceState, analyzed);
        return note;
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await dropDatabase(target, name);
      }
    },
  }));
  const result = await runRounds(contenders, rounds);
  const ferry = contenders.length - 1;

  console.log(`\npg-copy bench: ${mb(data.tableBytes)} of table data (${mb(data.databaseBytes)} database), ${jobs} jobs, ${rounds} rounds in alternating order, PostgreSQL 15 -> 15 on one host`);
  console.log(roundsTable(contenders, result, { ours: ferry }));
  console.log(loadLine());
  console.log(`\nend state: every contender's indexes and constraints equal the source's (checked after each run); planner statistics right after the copy: ${[...analyzed].map(([n, a]) => `${n}: ${a}`).join("; ")}`);
  if (ferryResult) {
    console.log(`\nferry phases (last round): ${result.timings[ferry].at(-1)!.note}`);
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
