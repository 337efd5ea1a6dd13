// The capture cutover's verify, split around the fence so that the window compares only
// what can still have changed (issue 25: the window must not grow with the database).
//
// Before the fence (prepare), outside the window:
//   1. watch the applier: from here on every key it writes on the target is noted;
//   2. a full verify (every row of every table hashed on both sides);
//   3. the ranges it found differing compared row by row: their differing keys are noted
//      (under the app's writes, the changes committed since the last batch);
//   4. a catch-up: the changes committed during the full verify are applied (and noted);
//   5. the noted keys compared now; those equal are forgotten, the rest kept.
// Inside the window (inWindow): the kept keys and every key the drain wrote, row by row on
// both sides, plus cheap invariants: every sequence, and the row count of every small table.
//
// Why nothing else can differ: a row equal in step 2 (or 5) changes on the source only
// through a transaction the capture logs, which commits after that comparison's reading
// and so is applied after it, by the catch-up or the drain, which note its key; on the
// target only ferry writes, and only through the applier. A key the full verify found
// differing is either noted in step 3 or changed since, and so noted by the applier.
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { qualified, quoteIdent, quoteLiteral } from "../connection";
import { displayName, listSequences, TableInfo } from "../copy-catalog";
import { compareDatabases, compareSequences, DifferingTable, VerifyReport } from "../verify/verify";
import { chunkSum, fromTable, hashingQuery, KeyRange, normalizeSession, openComparingSession, rangeWhere, rowHash } from "../verify/verify-sql";
import { Touched } from "./apply";
import type { CaptureApplier } from "./cutover";

/** The full verify's chunks: small, so a differing chunk costs little to compare row by row. */
const FULL_VERIFY_CHUNK_ROWS = 5_000;
/** Keys per statement when comparing noted keys (one array parameter each). */
const KEYS_PER_QUERY = 5_000;
/** Tables up to this size (heap + TOAST) are counted in the window: a count of a big one is a scan. */
const COUNT_MAX_BYTES = 32 * 1024 * 1024;

/** Rows to compare: per table, keys (jsonb text, the change log's form) or the whole table. */
export class ChangedRows {
  private readonly keyed = new Map<string, { table: TableInfo; keys: Set<string> }>();
  private readonly whole = new Map<string, TableInfo>();

  addKeys(table: TableInfo, keys: Iterable<string>): void {
    const name = displayName(table);
    const entry = this.keyed.get(name) ?? { table, keys: new Set<string>() };
    for (const k of keys) entry.keys.add(k);
    if (entry.keys.size) this.keyed.set(name, entry);
  }

  addWhole(table: TableInfo): void {
    this.whole.set(displayName(table), table);
  }

  /** What one applied page wrote (apply.ts), its tables named by the applier's oids. */
  addTouched(t: Touched, tables: ReadonlyMap<number, TableInfo>): void {
    for (const [oid, keys] of t.keyed) this.addKeys(tables.get(oid)!, keys);
    for (const oid of t.whole) this.addWhole(tables.get(oid)!);
  }

  get keys(): number {
    return [...this.keyed.values()].reduce((n, e) => n + e.keys.size, 0);
  }

  get tables(): number {
    return this.whole.size;
  }

  /** Keep only what `mismatches` names. */
  keepOnly(mismatches: RowMismatch[]): void {
    const tables = new Map([...this.keyed.values()].map((e) => [displayName(e.table), e.table]));
    for (const [name, t] of this.whole) tables.set(name, t);
    this.keyed.clear();
    this.whole.clear();
    for (const m of mismatches) {
      if (m.key === undefined) this.addWhole(tables.get(m.table)!);
      else this.addKeys(tables.get(m.table)!, [m.key]);
    }
  }

  entries(): { keyed: { table: TableInfo; keys: string[] }[]; whole: TableInfo[] } {
    return { keyed: [...this.keyed.values()].map((e) => ({ table: e.table, keys: [...e.keys] })), whole: [...this.whole.values()] };
  }
}

/** One difference: a row (by key) or a whole table (no key named). */
export interface RowMismatch {
  table: string;
  key?: string;
  what: string;
}

/** A key's columns as the change log writes it: a jsonb object, as text. */
const keyJson = (table: TableInfo) => `jsonb_build_object(${table.primaryKey.map((c) => `${quoteLiteral(c.name)}, ${quoteIdent(c.name)}`).join(", ")})::text`;

/** key -> row hash of the rows of `table` whose key is one of `keys` (a key with no row is absent). */
async function hashesOfKeys(c: Client, table: TableInfo, keys: string[]): Promise<Map<string, string>> {
  const pk = table.primaryKey.map((col) => quoteIdent(col.name));
  // Unqualified names in the inner SELECT are the table's columns (the innermost scope).
  const sql = `SELECT ferry_k.k AS key, (SELECT ${rowHash(table)}::text FROM ${fromTable(table)} WHERE (${pk.join(", ")}) = (${pk.map((p) => `ferry_r.${p}`).join(", ")})) AS h
    FROM unnest($1::text[]) AS ferry_k(k), pg_catalog.jsonb_populate_record(NULL::${qualified(table.schema, table.name)}, ferry_k.k::jsonb) AS ferry_r`;
  const found = new Map<string, string>();
  for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
    const { rows } = await hashingQuery(c, table, () => c.query<{ key: string; h: string | null }>(sql, [keys.slice(i, i + KEYS_PER_QUERY)]));
    for (const r of rows) if (r.h !== null) found.set(r.key, r.h);
  }
  return found;
}

/** key -> row hash of every row of `table` in `range`. */
async function hashesInRange(c: Client, table: TableInfo, range: KeyRange): Promise<Map<string, string>> {
  const where = rangeWhere(table.primaryKey, range);
  const { rows } = await hashingQuery(c, table, () => c.query<{ key: string; h: string }>(
    `SELECT ${keyJson(table)} AS key, ${rowHash(table)}::text AS h FROM ${fromTable(table)}${where.sql}`, where.params));
  return new Map(rows.map((r) => [r.key, r.h]));
}

/** The keys whose rows differ between two key -> hash maps, with what differs. */
function differingKeys(table: TableInfo, source: Map<string, string>, target: Map<string, string>, keys: Iterable<string>): RowMismatch[] {
  const out: RowMismatch[] = [];
  for (const key of keys) {
    const s = source.get(key);
    const t = target.get(key);
    if (s === t) continue;
    out.push({ table: displayName(table), key, what: s === undefined ? "extra on target" : t === undefined ? "missing on target" : "changed" });
  }
  return out;
}

/** Compare what `changed` names on both sides, each side on its one session. */
export async function compareChanged(source: Client, target: Client, changed: ChangedRows): Promise<RowMismatch[]> {
  const out: RowMismatch[] = [];
  const { keyed, whole } = changed.entries();
  for (const { table, keys } of keyed) {
    const [s, t] = await Promise.all([hashesOfKeys(source, table, keys), hashesOfKeys(target, table, keys)]);
    out.push(...differingKeys(table, s, t, keys));
  }
  for (const table of whole) {
    const [s, t] = await Promise.all([chunkSum(source, table, {}), chunkSum(target, table, {})]);
    if (s.rows !== t.rows || s.sum !== t.sum) out.push({ table: displayName(table), what: `${s.rows} row(s) on the source, ${t.rows} on the target${s.rows === t.rows ? ", rows differ" : ""}` });
  }
  return out;
}

/** The keys of a full verify's differing ranges whose rows differ now (a keyless table: whole). */
async function noteDiffering(source: Client, target: Client, differing: DifferingTable[], changed: ChangedRows): Promise<void> {
  for (const d of differing) {
    if (!d.table.primaryKey.length || !d.ranges) {
      changed.addWhole(d.table);
      continue;
    }
    for (const range of d.ranges) {
      const [s, t] = await Promise.all([hashesInRange(source, d.table, range), hashesInRange(target, d.table, range)]);
      changed.addKeys(d.table, differingKeys(d.table, s, t, new Set([...s.keys(), ...t.keys()])).map((m) => m.key!));
    }
  }
}

/** DDL between the sides (a table on one side only, other columns): not a verify for the window to settle. */
function refuseDdl(report: VerifyReport): void {
  const ddl = report.tables.find((t) => ["table missing on target", "table missing on source", "columns differ"].includes(t.firstDifference?.kind ?? ""));
  if (ddl) throw new FerryError(`the full verify before the fence found ${ddl.table}: ${ddl.firstDifference!.kind}; the source's and the target's schemas differ`, 1);
}

/** Small tables (heap + TOAST up to COUNT_MAX_BYTES) among `tables`, read on the source. */
async function smallTables(source: Client, tables: TableInfo[]): Promise<TableInfo[]> {
  const { rows } = await source.query<{ oid: number }>(
    "SELECT c.oid::int8 AS oid FROM pg_class c WHERE c.oid = ANY($1::oid[]) AND pg_total_relation_size(c.oid) <= $2", [tables.map((t) => t.oid), COUNT_MAX_BYTES]);
  const small = new Set(rows.map((r) => Number(r.oid)));
  return tables.filter((t) => small.has(t.oid));
}

/** Row counts of `tables` in one statement. */
async function counts(c: Client, tables: TableInfo[]): Promise<number[]> {
  if (!tables.length) return [];
  const { rows } = await c.query<{ i: number; n: string }>(tables.map((t, i) => `SELECT ${i} AS i, count(*) AS n FROM ${fromTable(t)}`).join(" UNION ALL "));
  const out: number[] = new Array(tables.length);
  for (const r of rows) out[r.i] = Number(r.n);
  return out;
}

export interface WindowCheck {
  ok: boolean;
  /** The differences, first first (empty when ok). */
  mismatches: RowMismatch[];
  /** Tables whose rows differ: a full compare and repair is for them. */
  tables: string[];
  detail: string;
}

export interface ChangedVerifyOptions {
  sourceUrl: string;
  targetUrl: string;
  jobs?: number;
}

export class ChangedVerify {
  private constructor(
    private readonly changed: ChangedRows,
    /** Kept from before the fence: the window opens no connection on the target. */
    private readonly target: Client,
    private readonly small: TableInfo[],
  ) {}

  /**
   * Before the fence: steps 1-5 above. `catchUp` applies what the app wrote meanwhile
   * (the applier's catch-up). Throws FerryError when the sides' schemas differ.
   */
  static async prepare(opts: ChangedVerifyOptions, applier: CaptureApplier, catchUp: () => Promise<unknown>): Promise<{ verify: ChangedVerify; detail: string }> {
    const started = Date.now();
    const changed = new ChangedRows();
    applier.watch((t) => changed.addTouched(t, applier.capturedTables));
    const full = await compareDatabases({ ...opts, chunkRows: FULL_VERIFY_CHUNK_ROWS });
    refuseDdl(full.report);
    const [source, target] = await Promise.all([openComparingSession(opts.sourceUrl, "ferry-verify"), openComparingSession(opts.targetUrl, "ferry-verify")]);
    try {
      await noteDiffering(source, target, full.differing, changed);
      const fromFull = changed.keys;
      await catchUp();
      const caughtUp = changed.keys;
      changed.keepOnly(await compareChanged(source, target, changed));
      const small = await smallTables(source, [...applier.capturedTables.values()]);
      const detail = `full verify ${full.report.durationMs} ms (${full.report.tables.length} table(s), ${full.differing.length} with rows not applied yet: ${fromFull} key(s)); ` +
        `caught up again (${caughtUp} key(s) to compare), ${changed.keys} key(s) and ${changed.tables} table(s) left for the window; ${Date.now() - started} ms in all`;
      return { verify: new ChangedVerify(changed, target, small), detail };
    } catch (err) {
      await target.end().catch(() => undefined);
      throw err;
    } finally {
      await source.end().catch(() => undefined);
    }
  }

  /**
   * Inside the window, on the cutover's own source session (the fence ends every other):
   * the rows noted, every sequence, the small tables' counts.
   */
  async inWindow(source: Client): Promise<WindowCheck> {
    await normalizeSession(source);
    const compared = `${this.changed.keys} key(s), ${this.changed.tables} whole table(s)`;
    const mismatches = await compareChanged(source, this.target, this.changed);
    const [srcSeq, tgtSeq] = [await listSequences(source), await listSequences(this.target)];
    const sequences = compareSequences(srcSeq, tgtSeq).filter((s) => !s.ok);
    const [srcCounts, tgtCounts] = await Promise.all([counts(source, this.small), counts(this.target, this.small)]);
    this.small.forEach((t, i) => {
      if (srcCounts[i] !== tgtCounts[i]) mismatches.push({ table: displayName(t), what: `${srcCounts[i]} row(s) on the source, ${tgtCounts[i]} on the target` });
    });
    const described = [
      ...mismatches.map((m) => `${m.table}: ${m.key === undefined ? m.what : `row with key ${m.key} ${m.what}`}`),
      ...sequences.map((s) => `sequence ${s.sequence}: ${s.source} on the source, ${s.target} on the target`),
    ];
    return {
      ok: described.length === 0,
      mismatches,
      tables: [...new Set(mismatches.map((m) => m.table))],
      detail: described.length ? described.slice(0, 3).join("; ") : `${compared}, ${srcSeq.length} sequence(s), ${this.small.length} small table count(s) equal`,
    };
  }

  async close(): Promise<void> {
    await this.target.end().catch(() => undefined);
  }
}
