// Repairing a target that differs from its fenced source, then verifying again. While
// the source is fenced it is the truth: nothing was written there since the fence, and
// (the caller's guard) nothing but ferry has written the target since it was filled. A
// differing table's key ranges are located with a full verify of that table (a fast
// verify only samples), then each range is deleted on the target and copied again from
// the source, in one target transaction per table, with session_replication_role =
// replica so foreign keys and the target's triggers neither refuse the intermediate
// state nor fire (what logical replication's apply does). Sequences are set again and
// privileges made equal. A table missing on one side, or with other columns, is DDL:
// not repaired, and the verify stays red naming it.
import { pipeline } from "node:stream/promises";
import { Client } from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { FerryError } from "../../cli/common";
import { qualified, quoteIdent } from "../connection";
import { DUMP_SEARCH_PATH, displayName } from "../copy-catalog";
import { allowWrites } from "../cutover/fence";
import { repairPrivileges } from "../privileges";
import { syncSequences } from "../sequences";
import { compareDatabases, Comparison, DifferingTable, VerifyOptions, VerifyReport } from "./verify";
import { fromTable, KeyRange, openComparingSession, rangeWhereLiteral } from "./verify-sql";

export interface RepairedReport extends VerifyReport {
  /** What was copied again from the fenced source before this (final) verify, one line each. */
  repaired?: string[];
}

/** A session for the repair: text forms as verify reads them, names as pg_dump writes them. */
async function open(url: string, writes: boolean): Promise<Client> {
  const c = await openComparingSession(url, "ferry-repair");
  await c.query(DUMP_SEARCH_PATH);
  if (writes) await allowWrites(c);
  else await c.query("SET row_security = off"); // a policy must not hide source rows from the copy
  return c;
}

/** Delete `range` of the table on the target and copy it again from the source; returns the rows copied. */
async function copyRangeAgain(source: Client, target: Client, d: DifferingTable, range: KeyRange): Promise<number> {
  const where = rangeWhereLiteral(d.table.primaryKey, range);
  const columns = d.table.columns.filter((c) => !c.generated).map((c) => quoteIdent(c.name)).join(", ");
  await target.query(`DELETE FROM ${fromTable(d.table)}${where}`);
  const into = target.query(copyFrom(`COPY ${qualified(d.table.schema, d.table.name)} (${columns}) FROM STDIN`));
  await pipeline(source.query(copyTo(`COPY (SELECT ${columns} FROM ${fromTable(d.table)}${where}) TO STDOUT`)), into);
  return into.rowCount;
}

async function repairTable(source: Client, target: Client, d: DifferingTable): Promise<string> {
  const ranges = d.ranges ?? [{}];
  await target.query("BEGIN");
  try {
    await target.query("SET LOCAL session_replication_role = replica").catch((err: { code?: string; message: string }) => {
      if (err.code !== "42501") throw err;
      throw new FerryError(`cannot repair ${displayName(d.table)}: ferry's role on the target may not set session_replication_role (it needs superuser, or rds_superuser on RDS)`, 1);
    });
    let rows = 0;
    for (const range of ranges) rows += await copyRangeAgain(source, target, d, range);
    await target.query("COMMIT");
    return d.ranges
      ? `${displayName(d.table)}: ${ranges.length} key range(s) copied again from the fenced source (${rows} rows)`
      : `${displayName(d.table)}: copied again whole from the fenced source (${rows} rows)`;
  } catch (err) {
    await target.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** Repair what `report` and `differing` say differs (rows, sequences, privileges); returns what was done. */
export async function repairDifferences(opts: VerifyOptions, report: VerifyReport, differing: DifferingTable[]): Promise<string[]> {
  const [source, target] = await Promise.all([open(opts.sourceUrl, false), open(opts.targetUrl, true)]);
  try {
    const done: string[] = [];
    for (const d of differing) done.push(await repairTable(source, target, d));
    if (report.sequences.some((s) => !s.ok)) done.push(`${(await syncSequences(source, target)).length} sequence(s) set again from the source`);
    if (!report.privileges.ok) done.push(`privileges: ${(await repairPrivileges(source, target)).length} grant(s) and revoke(s) applied as on the source`);
    return done;
  } finally {
    await Promise.all([source.end().catch(() => undefined), target.end().catch(() => undefined)]);
  }
}

/** DDL differences (a table on one side only, other columns) are not ferry's to repair. */
const unrepairable = (report: VerifyReport) => report.tables.filter((t) => ["table missing on target", "table missing on source", "columns differ"].includes(t.firstDifference?.kind ?? ""));

/**
 * Verify; where rows, sequences or privileges differ, repair them from the (fenced)
 * source and verify again. The caller decides that repairing is safe: the source is
 * fenced and nothing but ferry has written the target since it was filled.
 */
export async function verifyAndRepair(opts: VerifyOptions): Promise<RepairedReport> {
  return repairThenVerify(opts, await compareDatabases(opts));
}

/** The repair and the verify after it, for a comparison already made (`first`). */
export async function repairThenVerify(opts: VerifyOptions, first: Comparison): Promise<RepairedReport> {
  if (first.report.ok || unrepairable(first.report).length) return first.report;
  // A fast verify samples: the differing tables are compared in full to find every differing range.
  const located = opts.fast && first.differing.length
    ? await compareDatabases({ ...opts, fast: false, plan: undefined, countMaxBytes: undefined, only: first.differing.map((d) => displayName(d.table)) })
    : first;
  const repaired = await repairDifferences(opts, first.report, located.differing);
  const after = await compareDatabases(opts);
  return { ...after.report, repaired };
}
