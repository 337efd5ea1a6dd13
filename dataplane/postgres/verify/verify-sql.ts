// The SQL the verification runs on both sides. Each chunk is reduced inside the
// database to a row count and the sum of a 64-bit hash per row, which does not
// depend on row order (no sort, parallel scans allowed) and changes when a row is
// changed, missing or extra. Rows are hashed with each type's own extended hash
// function (what hash indexes and hash partitioning use), which skips the costly
// text output of fixed-scale numerics and timestamps; types whose equal values can
// print differently are hashed by their text (copy-catalog's EQUAL_BUT_PRINTED_DIFFERENTLY).
import { Client } from "pg";
import { connect, qualified, quoteIdent, quoteLiteral } from "../connection";
import { Column, TableInfo, withDumpSearchPath } from "../copy-catalog";

/** A key range [lower, upper): undefined bounds are open. Bounds are key values as text, one per key column. */
export interface KeyRange {
  lower?: string[];
  upper?: string[];
}

export interface ChunkSum {
  rows: number;
  /** Sum of the row hashes, as text (a numeric). */
  sum: string;
}

/**
 * Hash per row, identical on both sides for identical rows: each column's own hash
 * function seeded with the column's position in name order (so swapped values
 * differ, and column order may differ between sides), XORed together. NULL hashes
 * as its seed. Columns of types without a hash function are hashed through text.
 */
export function rowHash(table: TableInfo): string {
  const cols = [...table.columns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (!cols.length) return "0::int8";
  const terms = cols.map((c, i) => `coalesce(${hashCall(c, i + 1)}, ${i + 1})`);
  return `(${terms.join(" # ")})`;
}

/**
 * One column's hash. timestamptz and boolean have hash functions declared on another
 * type (timestamp, "char"): they go through an exact, cheap conversion to a type
 * that has one, instead of through text.
 */
function hashCall(c: Column, seed: number): string {
  const col = quoteIdent(c.name);
  if (c.type === "timestamp with time zone") return `timestamp_hash_extended(${col} AT TIME ZONE 'UTC', ${seed})`;
  if (c.type === "boolean") return `hashint4extended(${col}::int, ${seed})`;
  // -0 = 0 for float equality and its hash: a zero is hashed by its text, which keeps the sign.
  if (c.hashProc === "hashfloat8extended" || c.hashProc === "hashfloat4extended") {
    return `CASE WHEN ${col} = 0 THEN hashtextextended(${col}::text, ${seed}) ELSE ${c.hashProc}(${col}, ${seed}) END`;
  }
  if (c.hashProc) return `${c.hashProc}(${col}, ${seed})`;
  return `hashtextextended(${printed(c)} COLLATE "C", ${seed})`;
}

/**
 * A column's text as a dump prints it, under "C": hashtext follows the text's collation,
 * and a nondeterministic one hashes 'Ada' like 'ada'. A bpchar's cast to text drops its
 * trailing spaces, which its output function (and so a dump) keeps.
 */
function printed(c: Column): string {
  const col = quoteIdent(c.name);
  return c.type === "bpchar" || c.type.startsWith("character(") ? `textin(bpcharout(${col}))` : `${col}::text`;
}

/** FROM clause: a plain table without its inheritance children; a partitioned root with all partitions. */
export function fromTable(table: TableInfo): string {
  return `${table.kind === "r" ? "ONLY " : ""}${qualified(table.schema, table.name)}`;
}

const keyTuple = (pk: Column[]) =>
  pk.length === 1 ? quoteIdent(pk[0].name) : `ROW(${pk.map((c) => quoteIdent(c.name)).join(", ")})`;

const paramTuple = (pk: Column[], first: number) => {
  const params = pk.map((c, i) => `$${first + i}::${c.type}`);
  return pk.length === 1 ? params[0] : `ROW(${params.join(", ")})`;
};

/** WHERE clause and parameters selecting `range` of the primary key (row comparison uses the key's index). */
export function rangeWhere(pk: Column[], range: KeyRange): { sql: string; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  if (range.lower) {
    parts.push(`${keyTuple(pk)} >= ${paramTuple(pk, params.length + 1)}`);
    params.push(...range.lower);
  }
  if (range.upper) {
    parts.push(`${keyTuple(pk)} < ${paramTuple(pk, params.length + 1)}`);
    params.push(...range.upper);
  }
  return { sql: parts.length ? ` WHERE ${parts.join(" AND ")}` : "", params };
}

/**
 * The same predicate with the bounds written as literals (`'42'::bigint`), for a statement
 * that takes no parameters (COPY (SELECT ...) TO STDOUT).
 */
export function rangeWhereLiteral(pk: Column[], range: KeyRange): string {
  const { sql, params } = rangeWhere(pk, range);
  return sql.replace(/\$(\d+)::/g, (_m, n: string) => `${quoteLiteral(params[Number(n) - 1])}::`);
}

export const keyColumnsText = (pk: Column[]) => pk.map((c, i) => `${quoteIdent(c.name)}::text AS k${i}`).join(", ");
export const orderByKey = (pk: Column[]) => pk.map((c) => quoteIdent(c.name)).join(", ");
export const keyOf = (row: Record<string, unknown>, pk: Column[]): string[] => pk.map((_, i) => row[`k${i}`] as string);

/**
 * Run a query that hashes `table`'s rows. Object identifier columns (regclass, regtype,
 * ...) are hashed through their text, which names objects as the session's search_path
 * sees them (`bookings` on one side, `lib.bookings` on the other): for a table that has
 * any, the query runs under pg_dump's empty search_path, where every name outside
 * pg_catalog is qualified. Other tables keep the session's search_path, which finds the
 * operators of extension types (citext in public) that key comparisons need.
 */
export function hashingQuery<T>(c: Client, table: TableInfo, run: () => Promise<T>): Promise<T> {
  return table.columns.some((col) => col.oidAlias) ? withDumpSearchPath(c, run) : run();
}

/** The select list that reduces rows of `table` to `n` (their count) and `s` (their hash sum, as text). */
const sumsOf = (table: TableInfo) => `count(*) AS n, coalesce(sum(${rowHash(table)}), 0)::text AS s`;

/** Count and hash sum of the rows of `table` in `range` (the whole table when it has no key). */
export async function chunkSum(c: Client, table: TableInfo, range: KeyRange): Promise<ChunkSum> {
  const where = rangeWhere(table.primaryKey, range);
  const { rows } = await hashingQuery(c, table, () => c.query<{ n: string; s: string }>(
    `SELECT ${sumsOf(table)} FROM ${fromTable(table)}${where.sql}`,
    where.params,
  ));
  return { rows: Number(rows[0].n), sum: rows[0].s };
}

/**
 * Count and hash sum of each of `tables`, whole, in ONE statement: a schema of many small
 * tables (a Rails app has a hundred) costs one round trip per side instead of one per
 * table. No table here may need pg_dump's search_path (hashingQuery).
 */
export async function tableSums(c: Client, tables: TableInfo[]): Promise<ChunkSum[]> {
  const parts = tables.map((t, i) => `SELECT ${i} AS i, ${sumsOf(t)} FROM ${fromTable(t)}`);
  const { rows } = await c.query<{ i: number; n: string; s: string }>(parts.join(" UNION ALL "));
  const sums: ChunkSum[] = new Array(tables.length);
  for (const r of rows) sums[r.i] = { rows: Number(r.n), sum: r.s };
  return sums;
}

/**
 * Count and hash sum per key range of the rows of `table` in the heap blocks `where`
 * selects (a ctid range; the whole table without it): one sequential scan, each row
 * summed into its range of `split` (all into range 0 without one: no key). Sums of
 * slices add up to the ranges' sums, so each side slices its own heap.
 */
export async function sliceSums(c: Client, table: TableInfo, split: IntegerSplit | undefined, where?: string): Promise<Map<number, ChunkSum>> {
  const bucket = bucketOf(table.primaryKey.length ? quoteIdent(table.primaryKey[0].name) : "", split);
  const sql = `SELECT ${bucket} AS b, ${sumsOf(table)} FROM ${fromTable(table)}${where ? ` WHERE ${where}` : ""} GROUP BY 1`;
  // The planner cannot tell that the key falls into a few dozen ranges: it guessed a
  // group per 10 rows and sorted the slice to disk before aggregating (160,000 rows:
  // 1.3 s of a 1.9 s statement). A hash aggregate of a few dozen groups needs no sort.
  await c.query("SET enable_sort = off");
  try {
    const { rows } = await hashingQuery(c, table, () => c.query<{ b: number; n: string; s: string }>(sql));
    return new Map(rows.map((r) => [r.b, { rows: Number(r.n), sum: r.s }]));
  } finally {
    await c.query("RESET enable_sort");
  }
}

export async function countRows(c: Client, table: TableInfo): Promise<number> {
  const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${fromTable(table)}`);
  return Number(rows[0].n);
}

const INTEGER_TYPES = new Set(["smallint", "integer", "bigint"]);

/**
 * Cut the key space of `table` (read on the source) into ranges of about `chunkRows`
 * rows. An integer key is cut arithmetically between min and max (two index probes);
 * any other key at every chunkRows-th key in key order (one index-only scan). The
 * first and last ranges are open, so target rows outside the source's keys are seen.
 */
export async function keyRanges(c: Client, table: TableInfo, chunkRows: number): Promise<KeyRange[]> {
  const pk = table.primaryKey;
  if (!pk.length) return [{}];
  if (hasIntegerKey(table)) return splitRanges(await integerSplit(c, table, chunkRows));
  return rangesBetween(await sampledBounds(c, table, chunkRows));
}

/** The ranges between consecutive bounds, the first and the last open. */
function rangesBetween(bounds: string[][]): KeyRange[] {
  if (!bounds.length) return [{}];
  return [{ upper: bounds[0] }, ...bounds.slice(1).map((b, i) => ({ lower: bounds[i], upper: b })), { lower: bounds[bounds.length - 1] }];
}

export const hasIntegerKey = (table: TableInfo): boolean => table.primaryKey.length === 1 && INTEGER_TYPES.has(table.primaryKey[0].type);

const GROWING_TYPES = new Set([...INTEGER_TYPES, "timestamp with time zone", "timestamp without time zone", "date"]);

/**
 * Keys whose first column is an integer or a timestamp: new rows get keys at the end
 * of the key order (serials, identities, time), so the open last range holds them.
 * Not so for uuid or text keys, whose new rows land anywhere.
 */
export const keyGrowsAtEnd = (table: TableInfo): boolean => table.primaryKey.length > 0 && GROWING_TYPES.has(table.primaryKey[0].type);

/**
 * For fast mode on a non-integer key: only the first and the last `chunkRows` keys,
 * found with two index probes instead of a scan of the whole key (a cutover window
 * is waiting). A table smaller than two chunks is one range.
 */
export async function edgeRanges(c: Client, table: TableInfo, chunkRows: number): Promise<KeyRange[]> {
  const pk = table.primaryKey;
  const probe = async (direction: "ASC" | "DESC", offset: number) => {
    const order = pk.map((k) => `${quoteIdent(k.name)} ${direction}`).join(", ");
    const { rows } = await c.query(`SELECT ${keyColumnsText(pk)} FROM ${fromTable(table)} ORDER BY ${order} OFFSET ${offset} LIMIT 1`);
    return rows.length ? keyOf(rows[0], pk) : undefined;
  };
  const firstEnd = await probe("ASC", chunkRows);
  const lastStart = firstEnd && (await probe("DESC", 2 * chunkRows - 1)) ? await probe("DESC", chunkRows - 1) : undefined;
  return firstEnd && lastStart ? [{ upper: firstEnd }, { lower: lastStart }] : [{}];
}

/**
 * An integer key's ranges as arithmetic: `chunks` ranges `width` keys wide from `lo`,
 * the first and the last open. A row's range is then computed from its key alone
 * (`bucketOf`), so a sequential scan can sum rows into their ranges.
 */
export interface IntegerSplit {
  lo: bigint;
  width: bigint;
  chunks: number;
}

/** Cut an integer key between its min and max (two index probes); undefined for an empty table. */
export async function integerSplit(c: Client, table: TableInfo, chunkRows: number): Promise<IntegerSplit | undefined> {
  const k = quoteIdent(table.primaryKey[0].name);
  const { rows } = await c.query<{ lo: string | null; hi: string | null }>(`SELECT min(${k})::text AS lo, max(${k})::text AS hi FROM ${fromTable(table)}`);
  if (rows[0].lo === null || rows[0].hi === null) return undefined;
  const lo = BigInt(rows[0].lo);
  const span = BigInt(rows[0].hi) - lo + 1n;
  const estimate = table.estimatedRows > 0 ? BigInt(Math.round(table.estimatedRows)) : span;
  const chunks = (estimate < span ? estimate : span) / BigInt(chunkRows) + 1n;
  return { lo, width: (span + chunks - 1n) / chunks, chunks: Number(chunks) };
}

/** The key ranges of a split (one open range without one: an empty table). */
export function splitRanges(split: IntegerSplit | undefined): KeyRange[] {
  if (!split) return [{}];
  const bounds: string[][] = [];
  for (let i = 1n; i < BigInt(split.chunks); i++) bounds.push([(split.lo + i * split.width).toString()]);
  return rangesBetween(bounds);
}

/**
 * SQL for the index of the range of `split` holding `key` (an integer column): the same
 * ranges as splitRanges, the first and the last open. The subtraction only happens
 * between the first and the last bound, so no key overflows bigint.
 */
export function bucketOf(key: string, split: IntegerSplit | undefined): string {
  if (!split || split.chunks === 1) return "0";
  const last = split.lo + BigInt(split.chunks - 1) * split.width;
  return `CASE WHEN ${key} < ${split.lo}::int8 THEN 0 WHEN ${key} >= ${last}::int8 THEN ${split.chunks - 1} ELSE ((${key} - ${split.lo}::int8) / ${split.width}::int8)::int4 END`;
}

async function sampledBounds(c: Client, table: TableInfo, chunkRows: number): Promise<string[][]> {
  const pk = table.primaryKey;
  const { rows } = await c.query(
    `SELECT ${pk.map((_, i) => `k${i}`).join(", ")} FROM (
       SELECT ${keyColumnsText(pk)}, row_number() OVER (ORDER BY ${orderByKey(pk)}) AS rn FROM ${fromTable(table)}
     ) s WHERE rn % $1 = 0 ORDER BY rn`,
    [chunkRows],
  );
  return rows.map((r) => keyOf(r, pk));
}

/**
 * Session settings that make text forms (keys, unhashable columns) identical on both
 * sides; no parallel workers: verify's jobs are its parallelism, and a parallel worker
 * is a process started for one query. Each 50,000-row range hashed with two workers
 * cost more CPU in starting them than in hashing (0.2 GB bench data: 2.8 CPU seconds
 * per side with them, 1.5 without). No JIT: a row hash is calls to hash and output
 * functions, which compiled code calls all the same; compiling a whole-table hash cost
 * more than it saved (events, 634,000 rows: 0.37 CPU seconds with it, 0.30 without).
 */
export async function normalizeSession(c: Client): Promise<void> {
  await c.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'; SET extra_float_digits = 3; SET max_parallel_workers_per_gather = 0; SET jit = off");
}

/**
 * A session that reads rows as verify compares them (normalizeSession). A server that
 * goes away later fails the next query, not the process: the error event is ignored.
 */
export async function openComparingSession(url: string, applicationName: string): Promise<Client> {
  const c = await connect(url, { application_name: applicationName });
  c.on("error", () => undefined);
  await normalizeSession(c);
  return c;
}
