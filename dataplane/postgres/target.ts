// Emptying the target database of what an earlier copy put there (the dump strategy's
// trial copy, a copy interrupted by a crash, or one a failed cutover gave back), so the
// next copy starts clean. Only what ferry copied goes, provably: every object to drop
// must either be one the copy recorded creating (the target's objects right after it
// restored the schema into an empty database) or exist under the same name on the
// source (what a copy makes). Anything else (a table someone created on the target)
// stops the emptying before anything is dropped, naming it. Extensions, ferry's own
// bookkeeping schema and the `public` schema itself (with its owner and grants) stay.
import { Client } from "pg";
import { FerryError } from "../cli/common";
import { quoteIdent } from "./connection";
import { withDumpSearchPath } from "./copy-catalog";
import { STATE_SCHEMA } from "./names";

const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema', '${STATE_SCHEMA}')
  AND n.nspname NOT LIKE 'pg\\_%'`;

const NOT_EXTENSION_MEMBER = (cls: string, alias: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d
  WHERE d.classid = '${cls}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

const RELATION_KINDS: Record<string, string> = { r: "table", p: "table", f: "foreign table", v: "view", m: "materialized view", S: "sequence", c: "type" };

/**
 * Every user object a copy can create, as `kind schema.name` (functions with their
 * argument types): schemas, relations (partitions too), functions and procedures,
 * and enum, domain, range and composite types. The same text on source and target.
 */
export async function copiedObjects(c: Client): Promise<string[]> {
  // Under pg_dump's empty search_path: argument types read the same on both sides.
  const { rows } = await withDumpSearchPath(c, () => c.query<{ o: string }>(`
    SELECT 'schema ' || quote_ident(n.nspname) AS o FROM pg_namespace n
      WHERE ${USER_SCHEMA} AND n.nspname <> 'public' AND ${NOT_EXTENSION_MEMBER("pg_namespace", "n")}
    UNION ALL
    SELECT (CASE c.relkind ${Object.entries(RELATION_KINDS).map(([k, v]) => `WHEN '${k}' THEN '${v}'`).join(" ")} END) || ' ' || format('%I.%I', n.nspname, c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_SCHEMA} AND c.relkind IN (${Object.keys(RELATION_KINDS).map((k) => `'${k}'`).join(", ")}) AND ${NOT_EXTENSION_MEMBER("pg_class", "c")}
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION_MEMBER("pg_proc", "p")}
    UNION ALL
    SELECT 'type ' || format('%I.%I', n.nspname, t.typname)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${USER_SCHEMA} AND t.typtype IN ('e', 'd', 'r', 'm') AND ${NOT_EXTENSION_MEMBER("pg_type", "t")}
    ORDER BY 1`));
  return rows.map((r) => r.o);
}

/**
 * The objects on the target that are not provably ferry's: neither recorded by a copy
 * (`recorded`) nor present on the source.
 */
export async function notCopiedByFerry(target: Client, source: Client, recorded: string[] = []): Promise<string[]> {
  const known = new Set([...recorded, ...(await copiedObjects(source))]);
  return (await copiedObjects(target)).filter((o) => !known.has(o));
}

/**
 * Empty the target of an earlier copy, refusing (nothing dropped) when it holds an
 * object that is not provably ferry's.
 */
export async function emptyTarget(c: Client, source: Client, recorded: string[] = []): Promise<string> {
  const foreign = await notCopiedByFerry(c, source, recorded);
  if (foreign.length) {
    throw new FerryError(
      `the target holds ${foreign.length} object(s) that ferry did not copy (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}), so ferry will not empty it: ` +
      "drop or move them yourself (or give the copy an empty database), then rerun",
    );
  }
  const { rows: schemas } = await c.query<{ s: string }>(`
    SELECT n.nspname AS s FROM pg_namespace n WHERE ${USER_SCHEMA} AND n.nspname <> 'public' AND ${NOT_EXTENSION_MEMBER("pg_namespace", "n")}`);
  for (const { s } of schemas) await c.query(`DROP SCHEMA ${quoteIdent(s)} CASCADE`);
  // In public: tables (cascading to their sequences, views, constraints), then what is left.
  const drops: [string, string][] = [
    ["TABLE", `SELECT format('%I.%I', n.nspname, c.relname) AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition AND ${NOT_EXTENSION_MEMBER("pg_class", "c")}`],
    ["VIEW", `SELECT format('%I.%I', n.nspname, c.relname) AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind = 'v' AND ${NOT_EXTENSION_MEMBER("pg_class", "c")}`],
    ["MATERIALIZED VIEW", `SELECT format('%I.%I', n.nspname, c.relname) AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind = 'm' AND ${NOT_EXTENSION_MEMBER("pg_class", "c")}`],
    ["SEQUENCE", `SELECT format('%I.%I', n.nspname, c.relname) AS o FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind = 'S' AND ${NOT_EXTENSION_MEMBER("pg_class", "c")}`],
    ["FUNCTION", `SELECT p.oid::regprocedure::text AS o FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') AND ${NOT_EXTENSION_MEMBER("pg_proc", "p")}`],
    ["TYPE", `SELECT format('%I.%I', n.nspname, t.typname) AS o FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE n.nspname = 'public' AND (t.typtype IN ('e', 'd', 'r', 'm')
                OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = t.typrelid AND k.relkind = 'c')))
                AND ${NOT_EXTENSION_MEMBER("pg_type", "t")}`],
  ];
  let dropped = schemas.length;
  for (const [kind, sql] of drops) {
    for (const { o } of (await c.query<{ o: string }>(sql)).rows) {
      await c.query(`DROP ${kind} IF EXISTS ${o} CASCADE`);
      dropped++;
    }
  }
  return `${dropped} object(s) dropped from the target`;
}
