// Privileges (ACLs) travel with the schema and are compared by verify, as pg_dump keeps
// them: the GRANT/REVOKE statements pg_dump writes for every object whose ACL differs
// from its default, and for objects an extension installed, from what the extension
// installed (pg_init_privs: https://www.postgresql.org/docs/15/catalog-pg-init-privs.html),
// e.g. a REVOKE on one of pg_stat_statements' functions. The schema itself is restored
// without them (`--no-privileges`: the target's roles differ); they follow in one pass
// where a grant to a role the target does not have is a warning naming the statement,
// not a failed copy. Owners are not carried (`--no-owner`): the target's objects belong
// to ferry's role there.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { libpqArgs, quoteIdent } from "./connection";
import { withDumpSearchPath } from "./copy-catalog";
import { SchemaArchive } from "./copy/copy-schema";
import { CAPTURE_SCHEMA, STATE_SCHEMA } from "./names";
import { runTool } from "./tools";

/** A TOC line of `pg_restore --list` for an ACL entry: `4321; 0 0 ACL public FUNCTION f(integer) owner`. */
const ACL_TOC = /^\d+; \d+ \d+ (ACL|DEFAULT ACL) /;

/** The statements that set privileges, one per line as pg_dump writes them; its preamble and SET SESSION AUTHORIZATION (the grantor) left out. */
export function privilegeStatements(sql: string): string[] {
  return sql.split("\n").map((l) => l.trim()).filter((l) => /^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES) /.test(l) && l.endsWith(";"));
}

/** The ACL entries of the copy's schema archive, as SQL (the archive holds them; the sections restored without them). */
export async function archivePrivileges(archive: SchemaArchive): Promise<string[]> {
  const env = process.env; // no connection: pg_restore only reads the archive
  const toc = (await runTool("pg_restore", ["--list", archive.file], env)).split("\n").filter((l) => ACL_TOC.test(l));
  if (!toc.length) return [];
  const list = join(archive.dir, "privileges.list");
  writeFileSync(list, toc.join("\n") + "\n");
  return privilegeStatements(await runTool("pg_restore", [`--use-list=${list}`, "--file=-", archive.file], env));
}

/** The source's privilege statements, read with pg_dump (logical replication copies no DDL, grants included). */
export async function dumpPrivileges(url: string): Promise<string[]> {
  const { conninfo, env } = libpqArgs(url);
  return privilegeStatements(await runTool("pg_dump", ["--dbname", conninfo, "--schema-only", "--no-owner", "--no-publications", "--no-subscriptions"], env));
}

/**
 * Apply privilege statements on the target in one transaction. Where one fails (a grant
 * to a role the target lacks), each runs on its own behind a savepoint and every failure
 * is a warning naming the statement (object and role names, no data).
 */
export async function applyPrivileges(target: Client, statements: string[]): Promise<string[]> {
  if (!statements.length) return [];
  await target.query("BEGIN");
  try {
    await target.query(statements.join("\n"));
    await target.query("COMMIT");
    return [];
  } catch {
    await target.query("ROLLBACK");
  }
  const warnings: string[] = [];
  await target.query("BEGIN");
  try {
    for (const sql of statements) {
      await target.query("SAVEPOINT ferry_acl");
      try {
        await target.query(sql);
        await target.query("RELEASE SAVEPOINT ferry_acl");
      } catch (err) {
        await target.query("ROLLBACK TO SAVEPOINT ferry_acl");
        warnings.push(`privilege not copied: ${sql} (${(err as Error).message}); create the role on the target and grant it there`);
      }
    }
    await target.query("COMMIT");
  } catch (err) {
    await target.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  return warnings;
}

/** One privilege on one object: `kind name` (functions with their input argument types), a grantee, a privilege. */
export interface PrivilegeEntry {
  object: string;
  grantee: string;
  privilege: string;
  grantable: boolean;
}

/** Not the user's: the system's, ferry's bookkeeping (target) and the capture strategy's log and trigger functions (source). */
const USER_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema', '${STATE_SCHEMA}', '${CAPTURE_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%'`;

/**
 * Every privilege on the user schemas, relations (tables, views, sequences, foreign
 * tables) and functions, extension members included, with defaults made explicit
 * (acldefault). Left out: the owner's own privileges and grants to superusers (they
 * mean nothing to a superuser, and owners differ between the sides), and the grantor.
 */
export async function readPrivileges(c: Client): Promise<PrivilegeEntry[]> {
  const { rows } = await withDumpSearchPath(c, () => c.query<{ object: string; grantee: string; privilege: string; grantable: boolean }>(`
    WITH objects AS (
      SELECT 'schema ' || quote_ident(n.nspname) AS object, n.nspowner AS owner, coalesce(n.nspacl, acldefault('n', n.nspowner)) AS acl
        FROM pg_namespace n WHERE ${USER_SCHEMA}
      UNION ALL
      SELECT (CASE WHEN c.relkind = 'S' THEN 'sequence ' ELSE 'table ' END) || format('%I.%I', n.nspname, c.relname), c.relowner,
             coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      UNION ALL
      -- regprocedure under the empty search_path: public.pg_stat_statements(boolean), not its 40 OUT arguments.
      SELECT 'function ' || p.oid::regprocedure::text, p.proowner,
             coalesce(p.proacl, acldefault('f', p.proowner))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${USER_SCHEMA}
    )
    SELECT o.object, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
           a.privilege_type AS privilege, a.is_grantable AS grantable
    FROM objects o, aclexplode(o.acl) a
    WHERE a.grantee <> o.owner AND NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = a.grantee), false)
    ORDER BY 1, 2, 3`));
  return rows;
}

export interface PrivilegeReport {
  ok: boolean;
  /** What differs, one line each (object, grantee, privilege: no data). */
  differences: string[];
  /** Roles the source grants to that the target does not have: their grants cannot be there (not a difference). */
  missingRoles: string[];
}

const entryKey = (e: PrivilegeEntry) => `${e.object}\u0000${e.grantee}\u0000${e.privilege}${e.grantable ? " WITH GRANT OPTION" : ""}`;
const describe = (e: PrivilegeEntry) => `${e.object}: ${e.privilege}${e.grantable ? " WITH GRANT OPTION" : ""} for ${e.grantee}`;

/**
 * Compare every privilege of one side with the other's. Grants to roles missing on the
 * target cannot be there: listed, not counted as differences.
 */
export function comparePrivileges(source: PrivilegeEntry[], target: PrivilegeEntry[], targetRoles: Set<string>): PrivilegeReport {
  const missingRoles = [...new Set(source.filter((e) => e.grantee !== "PUBLIC" && !targetRoles.has(e.grantee)).map((e) => e.grantee))].sort();
  const comparable = (e: PrivilegeEntry) => e.grantee === "PUBLIC" || targetRoles.has(e.grantee);
  const s = new Map(source.filter(comparable).map((e) => [entryKey(e), e]));
  const t = new Map(target.filter(comparable).map((e) => [entryKey(e), e]));
  const differences = [
    ...[...s].filter(([k]) => !t.has(k)).map(([, e]) => `${describe(e)} missing on target`),
    ...[...t].filter(([k]) => !s.has(k)).map(([, e]) => `${describe(e)} only on target`),
  ].sort();
  return { ok: differences.length === 0, differences, missingRoles };
}

/** `table public.x` -> `TABLE public.x`; functions and procedures alike as ROUTINE. */
const grantTarget = (object: string): string => {
  const at = object.indexOf(" ");
  const kind = object.slice(0, at);
  return `${kind === "function" ? "ROUTINE" : kind.toUpperCase()} ${object.slice(at + 1)}`;
};
const grantee = (name: string) => (name === "PUBLIC" ? "PUBLIC" : quoteIdent(name));

/**
 * Make the target's privileges those of the source (verify's repair): revoke what only the
 * target has, then grant what it lacks, for roles it has. Returns the statements run.
 */
export async function repairPrivileges(source: Client, target: Client): Promise<string[]> {
  const [s, t, roles] = await Promise.all([
    readPrivileges(source),
    readPrivileges(target),
    target.query<{ r: string }>("SELECT rolname AS r FROM pg_roles").then((x) => new Set(x.rows.map((r) => r.r))),
  ]);
  const comparable = (e: PrivilegeEntry) => e.grantee === "PUBLIC" || roles.has(e.grantee);
  const sourceKeys = new Set(s.filter(comparable).map(entryKey));
  const targetKeys = new Set(t.filter(comparable).map(entryKey));
  const statements = [
    ...t.filter((e) => comparable(e) && !sourceKeys.has(entryKey(e))).map((e) => `REVOKE ${e.privilege} ON ${grantTarget(e.object)} FROM ${grantee(e.grantee)}`),
    ...s.filter((e) => comparable(e) && !targetKeys.has(entryKey(e))).map((e) => `GRANT ${e.privilege} ON ${grantTarget(e.object)} TO ${grantee(e.grantee)}${e.grantable ? " WITH GRANT OPTION" : ""}`),
  ];
  if (statements.length) await withDumpSearchPath(target, () => target.query(statements.join(";\n")));
  return statements;
}

/** Both sides' privileges compared (verify): `source` and `target` read the same snapshot as the rest of verify. */
export async function verifyPrivileges(source: Client, target: Client): Promise<PrivilegeReport> {
  const [s, t, roles] = await Promise.all([
    readPrivileges(source),
    readPrivileges(target),
    target.query<{ r: string }>("SELECT rolname AS r FROM pg_roles").then((x) => new Set(x.rows.map((r) => r.r))),
  ]);
  return comparePrivileges(s, t, roles);
}
