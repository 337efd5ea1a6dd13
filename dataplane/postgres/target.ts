// Emptying the target database of what an earlier copy put there (the dump strategy's
// trial copy, or a copy interrupted by a crash), so the next copy starts clean. Only
// user objects go: extensions and ferry's own bookkeeping schema stay, and so does
// the `public` schema itself (with its owner and grants).
import { Client } from "pg";
import { quoteIdent } from "./connection";
import { STATE_SCHEMA } from "./names";

const NOT_SYSTEM = `n.nspname NOT IN ('pg_catalog', 'information_schema', '${STATE_SCHEMA}')
  AND n.nspname NOT LIKE 'pg\\_%'`;

const NOT_EXTENSION_MEMBER = (cls: string, alias: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d
  WHERE d.classid = '${cls}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

export async function emptyTarget(c: Client): Promise<string> {
  const { rows: schemas } = await c.query<{ s: string }>(`
    SELECT n.nspname AS s FROM pg_namespace n WHERE ${NOT_SYSTEM} AND n.nspname <> 'public' AND ${NOT_EXTENSION_MEMBER("pg_namespace", "n")}`);
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
              WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm') AND ${NOT_EXTENSION_MEMBER("pg_type", "t")}`],
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
