// Index builds that start as soon as a table's rows are in, while other tables are
// still copying (pgcopydb does the same): the target's CPUs build indexes during the
// data phase instead of after it. Only plain indexes and non-deferrable primary
// key / unique constraints of ordinary tables are built early; a constraint's index
// is built first and then attached (ADD CONSTRAINT ... USING INDEX), which is what
// pg_dump's ADD CONSTRAINT would have built. Everything else (partitioned indexes,
// exclusion and deferrable constraints, foreign keys, triggers) stays in post-data,
// and the early-built entries are taken out of the post-data TOC by catalog OID.
import { Client } from "pg";
import { connect, qualified, quoteIdent } from "../connection";
import { DUMP_SEARCH_PATH, TableInfo, withDumpSearchPath } from "../copy-catalog";

/** An index's entries in the archive's TOC, by source OID as pg_restore -l lists them (1259 = pg_class, 2606 = pg_constraint). */
export interface IndexEntry {
  indexOid: number;
  constraintOid?: number;
}

export interface EarlyIndex extends IndexEntry {
  tableOid: number;
  statements: string[];
}

/** The indexes of `tables` (ordinary, not partitions) that can be built right after their table's rows. */
export async function listEarlyIndexes(c: Client, tables: TableInfo[]): Promise<EarlyIndex[]> {
  const plain = tables.filter((t) => t.kind === "r" && !t.isPartition);
  if (!plain.length) return [];
  // pg_get_indexdef qualifies every type, function and operator outside pg_catalog only under an empty search_path;
  // under the source's own (say `public, lib`) it prints `'happy'::mood`, which the target cannot resolve.
  const { rows } = await withDumpSearchPath(c, () => c.query<{
    table_oid: string; index_oid: string; def: string; index_name: string; con_oid: string | null; con_name: string | null; con_type: string | null;
  }>(`
    SELECT i.indrelid::int8 AS table_oid, i.indexrelid::int8 AS index_oid, pg_get_indexdef(i.indexrelid) AS def,
           ic.relname AS index_name, con.oid::int8 AS con_oid, con.conname AS con_name, con.contype AS con_type
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
    WHERE i.indrelid = ANY($1::oid[])
      AND i.indisvalid AND NOT i.indisclustered AND NOT i.indisreplident
      AND (con.oid IS NULL OR (con.contype IN ('p', 'u') AND NOT con.condeferrable))
      -- pg_dump writes these into the index's own entry: leave such indexes to it.
      AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0)
      AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
    ORDER BY i.indexrelid`, [plain.map((t) => t.oid)]));
  const byOid = new Map(plain.map((t) => [t.oid, t]));
  return rows.map((r) => {
    const table = byOid.get(Number(r.table_oid))!;
    const statements = [r.def];
    if (r.con_oid !== null) {
      const kind = r.con_type === "p" ? "PRIMARY KEY" : "UNIQUE";
      statements.push(`ALTER TABLE ONLY ${qualified(table.schema, table.name)} ADD CONSTRAINT ${quoteIdent(r.con_name!)} ${kind} USING INDEX ${quoteIdent(r.index_name)}`);
    }
    return { tableOid: table.oid, indexOid: Number(r.index_oid), constraintOid: r.con_oid === null ? undefined : Number(r.con_oid), statements };
  });
}

/**
 * Indexes whose archive entry takes a stronger lock after building the index: pg_dump
 * appends `ALTER TABLE ... CLUSTER ON` (SHARE UPDATE EXCLUSIVE) or `REPLICA IDENTITY
 * USING INDEX` (ACCESS EXCLUSIVE) to the index's entry, and pg_restore runs an entry
 * as one transaction but does not keep two INDEX entries of a table apart under -j
 * (its lock dependencies cover constraints, rules and triggers only). Two such entries
 * of one table, run side by side, each hold SHARE from their CREATE INDEX and wait for
 * the other: "deadlock detected". They are restored one at a time before the rest.
 */
export async function listLockUpgradingIndexes(c: Client, tables: TableInfo[]): Promise<IndexEntry[]> {
  const { rows } = await c.query<{ index_oid: string; con_oid: string | null }>(`
    SELECT i.indexrelid::int8 AS index_oid, con.oid::int8 AS con_oid
    FROM pg_catalog.pg_index i
    LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
    WHERE i.indrelid = ANY($1::oid[]) AND (i.indisclustered OR i.indisreplident)
    ORDER BY i.indexrelid`, [tables.map((t) => t.oid)]);
  return rows.map((r) => ({ indexOid: Number(r.index_oid), constraintOid: r.con_oid === null ? undefined : Number(r.con_oid) }));
}

/** `<catalog oid> <object oid>` of each entry, as a `pg_restore -l` line carries them. */
function tocKeys(entries: IndexEntry[]): Set<string> {
  const keys = new Set<string>();
  for (const e of entries) {
    keys.add(`1259 ${e.indexOid}`);
    if (e.constraintOid !== undefined) keys.add(`2606 ${e.constraintOid}`);
  }
  return keys;
}

/** Keep the lines of a `pg_restore -l` listing (`<dumpId>; <catalog oid> <object oid> <TYPE> ...`) for which `keep` holds; comment lines stay. */
function filterToc(list: string, keep: (key: string) => boolean): string {
  return list
    .split("\n")
    .filter((line) => {
      const m = /^\d+; (\d+ \d+) /.exec(line);
      return !m || keep(m[1]);
    })
    .join("\n");
}

/** Drop from a `pg_restore -l` listing the entries of `entries` (built early, or restored in an earlier pass). */
export function withoutBuilt(list: string, entries: IndexEntry[]): string {
  const drop = tocKeys(entries);
  return filterToc(list, (key) => !drop.has(key));
}

/** Only the entries of `entries` from a `pg_restore -l` listing. */
export function onlyEntries(list: string, entries: IndexEntry[]): string {
  const keep = tocKeys(entries);
  return filterToc(list, (key) => keep.has(key));
}

/**
 * `jobs` target connections building the indexes handed to `add` as tables finish.
 * `finish()` waits for the queue to drain and returns what was built.
 */
export class IndexBuilder {
  private queue: EarlyIndex[] = [];
  private built: EarlyIndex[] = [];
  private waiting: (() => void)[] = [];
  private closed = false;
  private failure: unknown;
  private readonly workers: Promise<void>[];

  constructor(private readonly targetUrl: string, jobs: number, private readonly maintenanceWorkMem: string) {
    this.workers = Array.from({ length: Math.max(1, jobs) }, () => this.work());
  }

  add(indexes: EarlyIndex[]): void {
    this.queue.push(...indexes);
    this.waiting.splice(0).forEach((wake) => wake());
  }

  async finish(): Promise<EarlyIndex[]> {
    this.closed = true;
    this.waiting.splice(0).forEach((wake) => wake());
    await Promise.all(this.workers);
    if (this.failure !== undefined) throw this.failure;
    return this.built;
  }

  private async next(): Promise<EarlyIndex | undefined> {
    while (!this.queue.length && !this.closed && this.failure === undefined) await new Promise<void>((wake) => this.waiting.push(wake));
    return this.failure === undefined ? this.queue.shift() : undefined;
  }

  private async work(): Promise<void> {
    let c: Client | undefined;
    try {
      for (let index = await this.next(); index; index = await this.next()) {
        if (!c) {
          c = await connect(this.targetUrl, { application_name: "ferry-index" });
          c.on("error", () => undefined);
          await c.query(`SET maintenance_work_mem = '${this.maintenanceWorkMem.replace(/'/g, "")}'; SET synchronous_commit = off`);
          // The definitions are fully qualified; functions they call run under pg_dump's (empty) search_path, as in pg_restore.
          await c.query(DUMP_SEARCH_PATH);
        }
        for (const sql of index.statements) await c.query(sql);
        this.built.push(index);
      }
    } catch (err) {
      if (this.failure === undefined) this.failure = new Error(`building an index early: ${(err as Error).message}`);
      this.waiting.splice(0).forEach((wake) => wake());
    } finally {
      await c?.end().catch(() => undefined);
    }
  }
}
