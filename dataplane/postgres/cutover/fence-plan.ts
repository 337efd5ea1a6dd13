// Who the cutover's fence must reach, and whether ferry's role can reach them, decided
// before anything changes (preflight, the cutover's gate, and the fence itself).
//
// A role is a *writer* when it can log in, may connect to a fenced database and could
// change data there: a superuser, or (itself or through any role it is a member of, with
// or without INHERIT, since SET ROLE reaches them) it may INSERT/UPDATE/DELETE/TRUNCATE a
// table, use a sequence, create in a schema or the database, or run a SECURITY DEFINER
// function. In databases other than the one ferry is connected to (physical moves the
// cluster) privileges cannot be read, so every role that may connect there counts.
//
// Every writer must be *fenceable*: ferry's role may change its settings and end its
// sessions. The rules, from the PostgreSQL manual:
//   ALTER ROLE ... SET (https://www.postgresql.org/docs/15/sql-alterrole.html,
//   https://www.postgresql.org/docs/16/sql-alterrole.html): superusers change anyone's;
//   ordinary roles only their own; CREATEROLE roles those of non-superusers, and from
//   PostgreSQL 16 only of roles on which they hold ADMIN OPTION ("Restrict the privileges
//   of CREATEROLE and its ability to modify other roles", 16 release notes; the creator of
//   a role gets it automatically: https://www.postgresql.org/docs/16/sql-createrole.html).
//   pg_terminate_backend (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL):
//   superusers end any session; others only non-superuser sessions, and only of roles
//   whose privileges they have, or with pg_signal_backend (Heroku's owner credential is a
//   member: https://devcenter.heroku.com/articles/heroku-postgresql-credentials).
// A writer ferry cannot fence is refused in one line before anything changes, unless the
// operator said its writers are stopped (`--unfenced-role`) or, for superusers ferry's role
// is not, that they are the provider's own (`--provider-superusers`: Heroku gives no
// customer a superuser, "one step below the superuser" in the page above).
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { CAPTURE_SCHEMA, STATE_SCHEMA } from "../names";

export interface FenceOptions {
  /** Roles the operator has stopped every writer of: not fenced, and not refused. */
  unfencedRoles?: string[];
  /** Superusers ferry's role cannot fence are the provider's (Heroku): not refused. */
  providerSuperusers?: boolean;
  /** server_version_num to apply the ALTER ROLE rules of (tests: the PostgreSQL 16 rules on a 15 catalog). */
  serverVersion?: number;
}

/** What ferry's role may do to other roles. */
export interface Me {
  name: string;
  superuser: boolean;
  createRole: boolean;
  /** Member (with its privileges) of pg_signal_backend. */
  signalBackend: boolean;
}

/** One login role that may connect to a fenced database and is not already read-only there. */
export interface RoleFacts {
  name: string;
  superuser: boolean;
  replication: boolean;
  /** Could change data in a fenced database (see the header). */
  writes: boolean;
  /** ferry's role holds ADMIN OPTION on it, directly or through a role it is a member of. */
  adminOption: boolean;
  /** ferry's role has its privileges (pg_has_role USAGE): may end its sessions. */
  privilegesOf: boolean;
}

export interface FencePlan {
  /** Roles ferry makes read-only and whose sessions it ends. */
  roles: string[];
  /** Writers ferry leaves alone because the operator said they are stopped (or the provider's). */
  unfenced: string[];
  /** Writers ferry cannot fence: the cutover must not start. */
  refused: { role: string; reason: string }[];
}

/** Why ferry's role cannot change `r`'s settings (server `version`), or undefined when it can. */
export function cannotAlter(me: Me, r: RoleFacts, version: number): string | undefined {
  if (me.superuser || me.name === r.name) return undefined;
  if (r.superuser) return `it is a superuser and ${me.name} is not`;
  if (!me.createRole) return `${me.name} has neither superuser nor CREATEROLE`;
  if (version >= 160000 && !r.adminOption) return `from PostgreSQL 16, CREATEROLE reaches only roles granted to ${me.name} WITH ADMIN OPTION`;
  return undefined;
}

/** Why ferry's role cannot end `r`'s sessions, or undefined when it can. */
export function cannotSignal(me: Me, r: RoleFacts): string | undefined {
  if (me.superuser) return undefined;
  if (r.superuser) return `only a superuser may end a superuser's sessions`;
  if (me.signalBackend || r.privilegesOf) return undefined;
  return `${me.name} may not end its sessions (it is neither a member of ${r.name} nor of pg_signal_backend)`;
}

/** Sort every candidate into fenced, left to the operator, refused or harmless (pure). */
export function planFence(me: Me, roles: RoleFacts[], version: number, opts: FenceOptions = {}): FencePlan {
  const declared = new Set(opts.unfencedRoles ?? []);
  const plan: FencePlan = { roles: [], unfenced: [], refused: [] };
  for (const r of roles) {
    // A replication role that cannot change data was never fenced: its walsender is not a client session.
    if (r.replication && !r.superuser && !r.writes) continue;
    const reason = cannotAlter(me, r, version) ?? cannotSignal(me, r);
    if (!reason) plan.roles.push(r.name);
    else if (!r.writes) continue; // it cannot change data: nothing of its can be lost
    else if (declared.has(r.name) || (r.superuser && opts.providerSuperusers)) plan.unfenced.push(r.name);
    else plan.refused.push({ role: r.name, reason });
  }
  return plan;
}

/** The refusal line: every writer ferry cannot fence, why, and what to do; undefined when there is none. */
export function fenceProblem(me: Me, plan: FencePlan): string | undefined {
  if (!plan.refused.length) return undefined;
  const names = plan.refused.map((r) => r.role);
  const them = names.length > 1 ? "them" : "it";
  const listed = plan.refused.map((r) => `${r.role} (${r.reason})`).join(", ");
  const superusers = plan.refused.some((r) => r.reason.includes("superuser"));
  return `the fence cannot stop ${names.length} role(s) that can write to the source: ${listed}; writes after the fence would be lost. ` +
    `Run ferry as a role that may alter and signal ${them} (a superuser, or CREATEROLE with pg_signal_backend; ` +
    `from PostgreSQL 16 also GRANT ${names.join(", ")} TO ${me.name} WITH ADMIN OPTION), revoke ${names.length > 1 ? "their" : "its"} write privileges ` +
    `until the cutover is done, or stop every writer using ${them} and pass ${names.map((n) => `--unfenced-role ${n}`).join(" ")}` +
    (superusers ? " (a provider's own superuser, as on Heroku Postgres: --provider-superusers)" : "");
}

/**
 * Schemas no write of the app's goes through: the system's, ferry's bookkeeping, and the
 * capture strategy's (its SECURITY DEFINER functions are trigger functions, which
 * PostgreSQL refuses to call other than as triggers, whoever has EXECUTE).
 */
const SYSTEM_SCHEMA = (alias: string) => `${alias}.nspname NOT IN ('pg_catalog', 'information_schema', '${STATE_SCHEMA}', '${CAPTURE_SCHEMA}') AND ${alias}.nspname NOT LIKE 'pg\\_%'`;

/** Could role `m` (an oid expression) change data in the current database? */
const MAY_CHANGE_DATA = (m: string) => `(
  has_database_privilege(${m}, current_database(), 'CREATE')
  OR EXISTS (SELECT 1 FROM pg_namespace n WHERE ${SYSTEM_SCHEMA("n")} AND has_schema_privilege(${m}, n.oid, 'CREATE'))
  OR EXISTS (SELECT 1 FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE ${SYSTEM_SCHEMA("n")} AND (
               (t.relkind IN ('r', 'p', 'f', 'v', 'm')
                 AND (has_table_privilege(${m}, t.oid, 'DELETE, TRUNCATE') OR has_any_column_privilege(${m}, t.oid, 'INSERT, UPDATE')))
               OR (t.relkind = 'S' AND has_sequence_privilege(${m}, t.oid, 'USAGE, UPDATE'))))
  OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE p.prosecdef AND ${SYSTEM_SCHEMA("n")} AND has_function_privilege(${m}, p.oid, 'EXECUTE')))`;

/**
 * The facts the plan is made of, read in the database `c` is connected to, for the
 * login roles that may connect to one of `databases` and are not read-only in all of them.
 */
export async function readFenceFacts(c: Client, databases: string[]): Promise<{ me: Me; roles: RoleFacts[]; version: number }> {
  const { rows: meRows } = await c.query<{ name: string; superuser: boolean; create_role: boolean; signal: boolean; version: string }>(`
    SELECT r.rolname AS name, r.rolsuper AS superuser, r.rolcreaterole AS create_role,
           pg_has_role(r.oid, 'pg_signal_backend', 'USAGE') AS signal, current_setting('server_version_num') AS version
    FROM pg_roles r WHERE r.rolname = current_user`);
  const { rows } = await c.query<{ name: string; superuser: boolean; replication: boolean; writes: boolean; admin_option: boolean; privileges_of: boolean }>(`
    WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user),
    candidates AS (
      SELECT r.* FROM pg_roles r
      WHERE r.rolcanlogin AND EXISTS (
        SELECT 1 FROM pg_database d
        WHERE d.datname = ANY($1) AND has_database_privilege(r.oid, d.oid, 'CONNECT')
          AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = d.oid
                          AND 'default_transaction_read_only=on' = ANY (s.setconfig))))
    SELECT r.rolname AS name, r.rolsuper AS superuser, r.rolreplication AS replication,
           r.rolsuper
             OR EXISTS (SELECT 1 FROM pg_database d WHERE d.datname = ANY($1) AND d.datname <> current_database()
                        AND has_database_privilege(r.oid, d.oid, 'CONNECT'))
             OR EXISTS (SELECT 1 FROM pg_roles m WHERE pg_has_role(r.oid, m.oid, 'MEMBER') AND ${MAY_CHANGE_DATA("m.oid")}) AS writes,
           EXISTS (SELECT 1 FROM pg_auth_members am WHERE am.roleid = r.oid AND am.admin_option
                   AND pg_has_role((SELECT oid FROM me), am.member, 'MEMBER')) AS admin_option,
           pg_has_role((SELECT oid FROM me), r.oid, 'USAGE') AS privileges_of
    FROM candidates r ORDER BY 1`, [databases]);
  const m = meRows[0];
  return {
    me: { name: m.name, superuser: m.superuser, createRole: m.create_role, signalBackend: m.signal },
    roles: rows.map((r) => ({ name: r.name, superuser: r.superuser, replication: r.replication, writes: r.writes, adminOption: r.admin_option, privilegesOf: r.privileges_of })),
    version: Number(m.version),
  };
}

/** Refuse, before anything changes, a `--unfenced-role` naming no role of the source. */
async function checkDeclaredRoles(c: Client, opts: FenceOptions): Promise<void> {
  const declared = opts.unfencedRoles ?? [];
  if (!declared.length) return;
  const { rows } = await c.query<{ r: string }>("SELECT rolname AS r FROM pg_roles WHERE rolname = ANY($1)", [declared]);
  const unknown = declared.filter((d) => !rows.some((r) => r.r === d));
  if (unknown.length) throw new FerryError(`--unfenced-role ${unknown[0]}: the source has no such role (role names are case-sensitive)`, 2);
}

/** The plan for `databases`, read through `c`; `problem` is the refusal line when a writer cannot be fenced. */
export async function fencePlanFor(c: Client, databases: string[], opts: FenceOptions = {}): Promise<FencePlan & { problem?: string }> {
  await checkDeclaredRoles(c, opts);
  const { me, roles, version } = await readFenceFacts(c, databases);
  const plan = planFence(me, roles, opts.serverVersion ?? version, opts);
  const problem = fenceProblem(me, plan);
  return { ...plan, ...(problem ? { problem } : {}) };
}
