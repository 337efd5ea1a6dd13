// What the copy and the verification read from a database's catalog: the user
// tables with their columns, primary keys and sizes, the sequences, large objects.
// Extension member tables (CREATE EXTENSION recreates them) and ferry's own
// bookkeeping schema are left out (USER_RELATION).
import { Client } from "pg";
import { USER_RELATION } from "./catalog";
import { qualified } from "./connection";

export interface Column {
  name: string;
  /** format_type() of the column, usable in a cast. */
  type: string;
  generated: boolean;
  /** Binary COPY is safe: a built-in type (or enum, or array/domain of one) with send/receive. */
  binarySafe: boolean;
  /** The type's extended (64-bit, seeded) hash function; undefined when it has none (hash its text). */
  hashProc?: string;
  /** An object identifier type (regclass, ...; or an array/domain of one): its text names objects as the session's search_path sees them. */
  oidAlias?: boolean;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  /** "r" an ordinary table or partition, "p" a partitioned root. */
  kind: "r" | "p";
  isPartition: boolean;
  /** Heap size in bytes (main fork), what ctid ranges split. */
  heapBytes: number;
  /** Heap + TOAST, what the copy moves (for progress). */
  totalBytes: number;
  /** pg_class.reltuples: an estimate, -1 when never analyzed. */
  estimatedRows: number;
  columns: Column[];
  /** Primary key columns in key order; empty when the table has none. */
  primaryKey: Column[];
}

export interface SequenceInfo {
  schema: string;
  name: string;
  /** The sequence's own last_value: the last value nextval returned, or (isCalled false) the one it returns next. */
  lastValue: string;
  /** false: nextval returns lastValue itself next (never called, or setval(..., false)). */
  isCalled: boolean;
  startValue: string;
  increment: string;
}

/** A name as SQL needs it written: bare when plain lowercase (reserved words aside), else double-quoted. */
const shownIdent = (name: string): string => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);

/**
 * `schema.name` for messages, reports and as a key: `public.accounts`, but
 * `"a.b".c` and `a."b.c"` (unquoted, both would read `a.b.c` and one table would hide the other).
 */
export const displayName = (t: { schema: string; name: string }): string => `${shownIdent(t.schema)}.${shownIdent(t.name)}`;

/** A true array (name and point also have typelem, but are fixed-length). */
const IS_ARRAY = "(bt.typlen = -1 AND bt.typelem <> 0)";

/**
 * The extended (64-bit, seeded) hash function of a type's default hash opclass,
 * when it takes that very type (so it can be called on the column without a cast).
 */
const hashProcOf = (t: string) => `(
  SELECT p.amproc::regproc::text FROM pg_opclass oc
  JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
  JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 2 AND p.amproclefttype = oc.opcintype
  JOIN pg_proc f ON f.oid = p.amproc AND f.proargtypes[0] = ${t}.oid
  WHERE oc.opcdefault AND oc.opcintype = ${t}.oid LIMIT 1)`;

/**
 * Types whose equality (and so whose hash function) holds values equal that print
 * differently: numeric without a fixed scale (1.0 = 1.00), interval ('1 day' =
 * '24 hours'), jsonb (its numbers compare as numeric), bpchar (trailing spaces), any
 * type from an extension (citext ignores case), text under a nondeterministic
 * collation, and arrays of float (-0 = 0; a bare float column gets a cheaper check in
 * verify-sql). Verify must see every difference a dump of both sides would show, so
 * these hash their text. numeric(p,s) keeps its hash function: its scale is fixed.
 */
const EQUAL_BUT_PRINTED_DIFFERENTLY = `(
  et.typnamespace <> 'pg_catalog'::regnamespace
  OR et.typname IN ('interval', 'jsonb', 'bpchar')
  OR (et.typname IN ('float4', 'float8') AND ${IS_ARRAY})
  OR (et.typname = 'numeric' AND CASE WHEN t.typbasetype <> 0 THEN t.typtypmod ELSE a.atttypmod END = -1)
  OR coalesce((SELECT NOT co.collisdeterministic FROM pg_collation co WHERE co.oid = a.attcollation), false))`;

/**
 * Arrays hash through their element type's function. Enums have none here on
 * purpose: hashenumextended hashes the label's OID, which differs between two
 * databases that hold the same label, so they are hashed by their text.
 */
const HASH_PROC = `CASE
  WHEN bt.typtype = 'e' OR et.typtype = 'e' THEN NULL
  WHEN ${EQUAL_BUT_PRINTED_DIFFERENTLY} THEN NULL
  WHEN ${IS_ARRAY} THEN CASE WHEN ${hashProcOf("et")} IS NOT NULL THEN 'hash_array_extended' END
  ELSE ${hashProcOf("bt")} END`;

/**
 * The object identifier types (regclass, regtype, ...): stored and sent in binary as
 * the object's OID, which names another object or none on the target; their text form
 * (read under pg_dump's empty search_path: `lib.mood`) is resolved again there, which
 * is how pg_dump moves them. https://www.postgresql.org/docs/15/datatype-oid.html
 */
const OID_ALIAS_TYPES = ["regclass", "regcollation", "regconfig", "regdictionary", "regnamespace", "regoper", "regoperator", "regproc", "regprocedure", "regrole", "regtype"];

/**
 * Binary COPY moves the server's internal send/receive format; it is only as portable
 * as the type's code. Built-in types (and arrays of them) are, and enums (sent by
 * label). Arrays of enums get text: an array's binary form carries its element
 * type's OID, which differs on the target, and ferry does not rely on the receiver
 * overlooking that. Extension and composite types get text too, and so do the
 * object identifier types (OID_ALIAS_TYPES).
 */
const IS_OID_ALIAS = `(et.typnamespace = 'pg_catalog'::regnamespace AND et.typname IN (${OID_ALIAS_TYPES.map((n) => `'${n}'`).join(", ")}))`;
const BINARY_SAFE = `(
  t.typsend <> 0 AND t.typreceive <> 0 AND (
    et.typnamespace = 'pg_catalog'::regnamespace OR bt.typtype = 'e')
  AND NOT ${IS_OID_ALIAS})`;

/**
 * What pg_dump runs every session under (`SELECT pg_catalog.set_config('search_path', '', false)`):
 * pg_get_indexdef, format_type and regproc output then qualify every name outside
 * pg_catalog, so what is read on the source means the same on a target whose sessions
 * have another search_path (a database's own `ALTER DATABASE ... SET search_path`),
 * and statements run on the target resolve nothing through its search_path
 * (https://www.postgresql.org/docs/15/ddl-schemas.html#DDL-SCHEMAS-PATTERNS, CVE-2018-1058).
 */
export const DUMP_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false)";

/**
 * Run `fn` with the session's search_path empty, then put the session's back (a
 * caller's later queries may rely on its search_path to find operators of extension
 * types). Inside a transaction that `fn` aborts, the rollback restores it anyway.
 */
export async function withDumpSearchPath<T>(c: Client, fn: () => Promise<T>): Promise<T> {
  const { rows } = await c.query<{ path: string }>("SELECT pg_catalog.current_setting('search_path') AS path");
  await c.query(DUMP_SEARCH_PATH);
  try {
    return await fn();
  } finally {
    await c.query("SELECT pg_catalog.set_config('search_path', $1, false)", [rows[0].path]).catch(() => undefined);
  }
}

/** The tables the copy moves (listTables): user tables and partitioned roots, temporary ones left out. */
const COPIED_TABLE = `c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND ${USER_RELATION}`;

/**
 * What a copy of this database moves, in bytes: its tables (heap and TOAST) and the
 * indexes it rebuilds on them; beside pg_database_size, which also counts the catalogs
 * and what the copy leaves out. `ferry init` records both; the plan's write-window
 * estimate is this over a measured copy rate.
 */
export const COPIED_SIZE_SQL = `SELECT pg_database_size(current_database()) AS database_bytes,
  coalesce(sum(pg_table_size(c.oid) + pg_indexes_size(c.oid)), 0)::int8 AS copied_bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${COPIED_TABLE}`;

/**
 * Every user table (ordinary, partition, partitioned root) with columns and key.
 * Column types are named as pg_dump names them (qualified unless in pg_catalog), the
 * same on both sides whatever each session's search_path.
 */
export function listTables(c: Client): Promise<TableInfo[]> {
  return withDumpSearchPath(c, () => readTables(c));
}

async function readTables(c: Client): Promise<TableInfo[]> {
  const { rows: tables } = await c.query<{
    oid: string; schema: string; name: string; kind: "r" | "p"; is_partition: boolean;
    heap_bytes: string; total_bytes: string; est_rows: string;
  }>(`
    SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
           c.relispartition AS is_partition, pg_relation_size(c.oid) AS heap_bytes,
           pg_table_size(c.oid) AS total_bytes, c.reltuples::int8 AS est_rows
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${COPIED_TABLE}
    ORDER BY n.nspname, c.relname`);
  if (!tables.length) return [];
  const { rows: cols } = await c.query<{
    oid: string; name: string; type: string; generated: boolean; binary_safe: boolean; hash_proc: string | null; oid_alias: boolean; pk_pos: number | null;
  }>(`
    SELECT a.attrelid::int8 AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           a.attgenerated <> '' AS generated,
           ${BINARY_SAFE} AS binary_safe,
           ${HASH_PROC} AS hash_proc,
           ${IS_OID_ALIAS} AS oid_alias,
           (SELECT k.pos FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
             WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum)::int AS pk_pos
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    -- bt: the type with domains resolved; et: its element type for arrays.
    JOIN pg_type bt ON bt.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
    JOIN pg_type et ON et.oid = CASE WHEN ${IS_ARRAY} THEN bt.typelem ELSE bt.oid END
    WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attrelid, a.attnum`, [tables.map((t) => t.oid)]);
  return tables.map((t) => {
    const mine = cols.filter((col) => col.oid === t.oid);
    const columns = mine.map((col) => ({
      name: col.name, type: col.type, generated: col.generated, binarySafe: col.binary_safe, hashProc: col.hash_proc ?? undefined,
      ...(col.oid_alias ? { oidAlias: true } : {}),
    }));
    const primaryKey = mine
      .filter((col) => col.pk_pos !== null)
      .sort((a, b) => (a.pk_pos ?? 0) - (b.pk_pos ?? 0))
      .map((col) => columns.find((x) => x.name === col.name)!);
    return {
      oid: Number(t.oid), schema: t.schema, name: t.name, kind: t.kind, isPartition: t.is_partition,
      heapBytes: Number(t.heap_bytes), totalBytes: Number(t.total_bytes), estimatedRows: Number(t.est_rows),
      columns, primaryKey,
    };
  });
}

/** Names of up to `limit` user relations (tables, views, ...) in the database, and how many there are. */
export async function userRelations(c: Client, limit = 5): Promise<{ count: number; examples: string[] }> {
  const { rows } = await c.query<{ name: string; total: string }>(`
    SELECT n.nspname || '.' || c.relname AS name, count(*) OVER () AS total
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_RELATION}
    ORDER BY 1 LIMIT $1`, [limit]);
  return { count: rows.length ? Number(rows[0].total) : 0, examples: rows.map((r) => r.name) };
}

/** Sequences read per query: one UNION ALL arm each. */
const SEQUENCES_PER_QUERY = 500;

/**
 * Every user sequence with its state read from the sequence itself: pg_sequences shows
 * last_value NULL whenever is_called is false, so a sequence moved with
 * `setval(s, 500, false)` would look untouched (pg_dump restores it at 500).
 */
export async function listSequences(c: Client): Promise<SequenceInfo[]> {
  const { rows } = await c.query<{ schema: string; name: string; start_value: string; increment: string }>(`
    SELECT n.nspname AS schema, c.relname AS name, s.seqstart::text AS start_value, s.seqincrement::text AS increment
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${USER_RELATION}
    ORDER BY 1, 2`);
  const result: SequenceInfo[] = [];
  for (let i = 0; i < rows.length; i += SEQUENCES_PER_QUERY) {
    const batch = rows.slice(i, i + SEQUENCES_PER_QUERY);
    const { rows: states } = await c.query<{ i: number; last_value: string; is_called: boolean }>(
      batch.map((r, j) => `SELECT ${j} AS i, last_value::text, is_called FROM ${qualified(r.schema, r.name)}`).join(" UNION ALL "),
    );
    const byIndex = new Map(states.map((s) => [Number(s.i), s]));
    batch.forEach((r, j) => {
      const state = byIndex.get(j)!;
      result.push({ schema: r.schema, name: r.name, lastValue: state.last_value, isCalled: state.is_called, startValue: r.start_value, increment: r.increment });
    });
  }
  return result;
}

export async function countLargeObjects(c: Client): Promise<number> {
  const { rows } = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_largeobject_metadata");
  return Number(rows[0].n);
}

/** server_version_num, e.g. 150004. */
export async function serverVersion(c: Client): Promise<number> {
  const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Number(rows[0].v);
}
