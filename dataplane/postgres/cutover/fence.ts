// The write fence on the source at cutover. pg_easy_replicate makes one role read-only;
// every other login role can still write. ferry fences every login role except the
// dedicated replication roles (REPLICATION without superuser), in every database the
// strategy moves:
//   ALTER ROLE r IN DATABASE d SET default_transaction_read_only = on   (per role: the
//     most specific setting level, so a role-wide `= off` cannot undo it)
//   ALTER DATABASE d SET default_transaction_read_only = on              (roles created later)
// and then terminates every client session of those databases, so that every session
// that can still exist started read-only.
//
// Limit (documented in docs/postgres.md): default_transaction_read_only is a default; a
// client that runs `SET default_transaction_read_only = off` or `BEGIN READ WRITE` on
// purpose can still write. Apps do not; PostgreSQL has no hba-free way to forbid it.
//
// The fence is recorded on the source itself as a database setting `ferry.fence` (JSON),
// written BEFORE any role is touched, so a rerun after a crash at any point knows exactly
// what to undo; roles that were already read-only are not recorded and never unfenced.
import { Client } from "pg";
import { quoteIdent, quoteLiteral, withClient } from "../connection";
import { pollUntil } from "../wait";

const MARKER = "ferry.fence";

export interface FenceRecord {
  /** Roles ferry made read-only (and will make writable again on rollback). */
  roles: string[];
  databases: string[];
  /** ferry set the database-level default (it was not set before). */
  databaseDefault: boolean;
  /** When the fence began (epoch ms): the write-unavailability window starts here. */
  at: number;
  /** Replication lag when the fence began. */
  lagBytes: number;
  /** Roles ferry could not fence (not enough privilege): they can still write. */
  unfenced: string[];
}

/** Sessions ferry opens on a fenced database must write (ALTER ROLE is not allowed read-only). */
export async function allowWrites(c: Client): Promise<void> {
  await c.query("SET default_transaction_read_only = off");
}

/** The fence record of the database `c` is connected to, if one is set. */
export async function readFence(c: Client): Promise<FenceRecord | null> {
  const { rows } = await c.query<{ cfg: string[] | null }>(`
    SELECT s.setconfig AS cfg FROM pg_db_role_setting s
    JOIN pg_database d ON d.oid = s.setdatabase AND d.datname = current_database()
    WHERE s.setrole = 0`);
  const entry = rows[0]?.cfg?.find((kv) => kv.startsWith(`${MARKER}=`));
  return entry ? (JSON.parse(entry.slice(MARKER.length + 1)) as FenceRecord) : null;
}

/**
 * Whether the fence `record` describes is still in place on the source: every role it
 * fenced still defaults to read-only in every database it names. (Where the source
 * cannot hold the record, e.g. Heroku's owner role, the target keeps it.)
 */
export async function fenceInPlace(c: Client, record: FenceRecord): Promise<boolean> {
  if (record.roles.length === 0 && !record.databaseDefault) return false;
  const { rows } = await c.query<{ role: string; db: string }>(`
    SELECT r.rolname AS role, d.datname AS db FROM pg_db_role_setting s
    JOIN pg_roles r ON r.oid = s.setrole JOIN pg_database d ON d.oid = s.setdatabase
    WHERE 'default_transaction_read_only=on' = ANY (s.setconfig)`);
  const readOnly = new Set(rows.map((r) => `${r.role}\u0000${r.db}`));
  return record.roles.every((role) => record.databases.every((db) => readOnly.has(`${role}\u0000${db}`)));
}

/** Databases a strategy moves: the URL's database, or (physical) every connectable one. */
export async function databasesToFence(c: Client, wholeCluster: boolean): Promise<string[]> {
  const { rows } = await c.query<{ d: string }>(
    wholeCluster
      ? "SELECT datname AS d FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
      : "SELECT current_database() AS d",
  );
  return rows.map((r) => r.d);
}

/** Login roles that can write: all but replication-only roles and roles already read-only in `db`. */
async function rolesToFence(c: Client, db: string): Promise<string[]> {
  const { rows } = await c.query<{ r: string }>(`
    SELECT r.rolname AS r FROM pg_roles r
    WHERE r.rolcanlogin AND NOT (r.rolreplication AND NOT r.rolsuper)
      AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                      WHERE s.setrole = r.oid AND d.datname = $1
                        AND 'default_transaction_read_only=on' = ANY (s.setconfig))
    ORDER BY 1`, [db]);
  return rows.map((x) => x.r);
}

async function databaseDefaultSet(c: Client, db: string): Promise<boolean> {
  const { rows } = await c.query<{ n: string }>(`
    SELECT count(*) AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
    WHERE s.setrole = 0 AND d.datname = $1 AND 'default_transaction_read_only=on' = ANY (s.setconfig)`, [db]);
  return rows[0].n !== "0";
}

/** Can the current user change another role's settings? */
async function canAlter(c: Client, role: string): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(`
    SELECT me.rolsuper OR (me.rolcreaterole AND NOT r.rolsuper) OR me.rolname = r.rolname AS ok
    FROM pg_roles me, pg_roles r WHERE me.rolname = current_user AND r.rolname = $1`, [role]);
  return rows[0]?.ok ?? false;
}

async function writeMarker(c: Client, record: FenceRecord): Promise<void> {
  await c.query(`ALTER DATABASE ${quoteIdent(await currentDb(c))} SET ${MARKER} = ${quoteLiteral(JSON.stringify(record))}`);
}

async function currentDb(c: Client): Promise<string> {
  return (await c.query<{ d: string }>("SELECT current_database() AS d")).rows[0].d;
}

/**
 * End every client session in `databases` but ours and wait until they are gone.
 * `roles` limits it to those roles' sessions (unfence), all sessions otherwise.
 */
export async function terminateSessions(c: Client, databases: string[], roles?: string[]): Promise<number> {
  const { rows } = await c.query<{ pid: number }>(`
    SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = ANY($1)
      AND ($2::text[] IS NULL OR usename = ANY($2))`, [databases, roles ?? null]);
  const pids: number[] = [];
  for (const { pid } of rows) {
    // Without superuser (Heroku) another role's sessions cannot be ended: those roles
    // are listed as unfenced already; skip their sessions rather than fail the fence.
    const ended = await c.query("SELECT pg_terminate_backend($1)", [pid]).then(() => true, (err: { code?: string }) => {
      if (err.code === "42501") return false;
      throw err;
    });
    if (ended) pids.push(pid);
  }
  if (!pids.length) return 0;
  await pollUntil(
    async () => (await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1)", [pids])).rows[0].n === "0",
    10_000,
    () => `${pids.length} terminated session(s) did not exit within 10 s`,
    5,
  );
  return pids.length;
}

/** Prepared transactions can be committed after the fence by anyone: refuse to fence over them. */
async function assertNoPreparedTransactions(c: Client, databases: string[]): Promise<void> {
  const { rows } = await c.query<{ gid: string }>("SELECT gid FROM pg_prepared_xacts WHERE database = ANY($1)", [databases]);
  if (rows.length) throw new Error(`prepared transaction(s) ${rows.map((r) => r.gid).join(", ")} would commit after the fence: COMMIT PREPARED or ROLLBACK PREPARED them first`);
}

export interface FenceResult {
  record: FenceRecord;
  terminated: number;
  /** true when a fence from an earlier, interrupted run was found and completed. */
  resumed: boolean;
}

/**
 * Fence the source (idempotent: an existing record is completed, not replaced).
 * `c` must be connected to the migrated database with allowWrites().
 */
export async function fence(c: Client, wholeCluster: boolean, lagBytes: number, known: FenceRecord | null = null): Promise<FenceResult> {
  const existing = (await readFence(c)) ?? known;
  let record = existing;
  if (!record) {
    const databases = await databasesToFence(c, wholeCluster);
    await assertNoPreparedTransactions(c, databases);
    const candidates = [...new Set((await Promise.all(databases.map((d) => rolesToFence(c, d)))).flat())];
    const roles: string[] = [];
    const unfenced: string[] = [];
    for (const r of candidates) ((await canAlter(c, r)) ? roles : unfenced).push(r);
    const databaseDefault = !(await databaseDefaultSet(c, await currentDb(c)));
    record = { roles, databases, databaseDefault, at: Date.now(), lagBytes, unfenced };
    // The record goes first: from here on, a crash leaves something a rerun can undo.
    await writeMarker(c, record).catch((err) => {
      // Only superusers may set a custom setting (Heroku's owner role is not one): the
      // caller also keeps the record on the target, which is then the only copy.
      if ((err as { code?: string }).code !== "42501") throw err;
    });
  }
  for (const db of record.databases) {
    for (const r of record.roles) {
      await c.query(`ALTER ROLE ${quoteIdent(r)} IN DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
    }
    if (record.databaseDefault) await c.query(`ALTER DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
  }
  const terminated = await terminateSessions(c, record.databases);
  return { record, terminated, resumed: existing !== null };
}

/**
 * Undo a fence recorded in the database `c` is connected to: reset exactly what was
 * set, drop the record, and end the sessions that started read-only so they reconnect
 * writable. Returns the record that was undone (null when there was none).
 */
export async function unfence(c: Client, known: FenceRecord | null = null): Promise<FenceRecord | null> {
  const record = (await readFence(c)) ?? known;
  if (!record) return null;
  for (const db of record.databases) {
    for (const r of record.roles) {
      await c.query(`ALTER ROLE ${quoteIdent(r)} IN DATABASE ${quoteIdent(db)} RESET default_transaction_read_only`);
    }
    if (record.databaseDefault) await c.query(`ALTER DATABASE ${quoteIdent(db)} RESET default_transaction_read_only`);
  }
  await c.query(`ALTER DATABASE ${quoteIdent(await currentDb(c))} RESET ${MARKER}`).catch((err) => {
    if ((err as { code?: string }).code !== "42501") throw err; // never set (see fence)
  });
  await terminateSessions(c, record.databases, record.roles);
  return record;
}

/** Open a session on `url` that may write even while that database is fenced. */
export function withWritable<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  return withClient(url, async (c) => {
    await allowWrites(c);
    return fn(c);
  });
}
