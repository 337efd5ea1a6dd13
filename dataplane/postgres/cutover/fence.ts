// The write fence on the source at cutover. pg_easy_replicate makes one role read-only;
// every other login role can still write. ferry fences every login role that may connect
// to the databases the strategy moves (fence-plan.ts decides, and refuses before anything
// changes when a role that can write is out of ferry's reach):
//   ALTER ROLE r IN DATABASE d SET default_transaction_read_only = on   (per role: the
//     most specific setting level, so a role-wide `= off` cannot undo it)
//   ALTER DATABASE d SET default_transaction_read_only = on              (roles created later)
// and then terminates every client session of those databases, so that every session
// that can still exist started read-only. A fenced role's session that cannot be ended
// fails the fence (the caller gives the source back); it is never skipped.
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
import { FenceOptions, fencePlanFor } from "./fence-plan";
import { crashPoint } from "./crash-points";

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
  /**
   * Roles that can write but are left to the operator: `--unfenced-role` (their writers are
   * stopped) or `--provider-superusers` (the provider's own). Nothing else is ever left unfenced.
   */
  unfenced: string[];
}

/** The fence cannot stop every writer (raised before anything was changed). */
export class FenceRefused extends Error {}

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

async function databaseDefaultSet(c: Client, db: string): Promise<boolean> {
  const { rows } = await c.query<{ n: string }>(`
    SELECT count(*) AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
    WHERE s.setrole = 0 AND d.datname = $1 AND 'default_transaction_read_only=on' = ANY (s.setconfig)`, [db]);
  return rows[0].n !== "0";
}

async function writeMarker(c: Client, record: FenceRecord): Promise<void> {
  await c.query(`ALTER DATABASE ${quoteIdent(await currentDb(c))} SET ${MARKER} = ${quoteLiteral(JSON.stringify(record))}`);
}

async function currentDb(c: Client): Promise<string> {
  return (await c.query<{ d: string }>("SELECT current_database() AS d")).rows[0].d;
}

export interface SessionsToEnd {
  /** Only these roles' sessions (unfence: the fenced roles, to reconnect writable). */
  only?: string[];
  /** These roles' sessions must end: a refusal to end one fails the call. */
  mustEnd?: string[];
  /** These roles' sessions are left alone (the operator stopped their writers). */
  spare?: string[];
}

/**
 * End client sessions in `databases` but ours and wait until they are gone. A session
 * of a role in `mustEnd` that ferry may not end is an error: it started writable and
 * would go on writing. Other sessions are ended where ferry may (they cannot write, or
 * are already read-only by default).
 */
export async function terminateSessions(c: Client, databases: string[], which: SessionsToEnd = {}): Promise<number> {
  const { rows } = await c.query<{ pid: number; usename: string }>(`
    SELECT pid, usename FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = ANY($1)
      AND ($2::text[] IS NULL OR usename = ANY($2)) AND NOT (usename = ANY($3))`, [databases, which.only ?? null, which.spare ?? []]);
  const mustEnd = new Set(which.mustEnd ?? []);
  const pids: number[] = [];
  for (const { pid, usename } of rows) {
    const ended = await c.query("SELECT pg_terminate_backend($1)", [pid]).then(() => true, (err: { code?: string; message?: string }) => {
      if (err.code !== "42501") throw err;
      if (mustEnd.has(usename)) throw new Error(`could not end session ${pid} of ${usename}, which started writable: ${err.message ?? "permission denied"}`);
      return false;
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

export interface FenceRun extends FenceOptions {
  /**
   * Called with a new record before any role is touched, with whether the source holds
   * it (only superusers may set a custom setting): the caller keeps its own copy (the
   * target's record), so a failure or a crash from here on can always be undone. It
   * throws when the record cannot be kept anywhere: nothing is fenced then.
   */
  onPlanned?: (record: FenceRecord, keptOnSource: boolean) => Promise<void>;
  /** A lock the fence waits for (another session changing a role) fails it after this long. */
  lockTimeoutMs?: number;
}

/**
 * Fence the source (idempotent: an existing record is completed, not replaced).
 * `c` must be connected to the migrated database with allowWrites(). A new fence is
 * planned first and refused (FenceRefused, nothing changed) when a role that can write
 * is out of reach; a failure part-way leaves a record (on the source or with the
 * caller) that unfence() undoes exactly.
 */
export async function fence(c: Client, wholeCluster: boolean, lagBytes: number, known: FenceRecord | null = null, run: FenceRun = {}): Promise<FenceResult> {
  const existing = (await readFence(c)) ?? known;
  const record = existing ?? (await planNewFence(c, wholeCluster, lagBytes, run));
  await withLockTimeout(c, run.lockTimeoutMs, async () => {
    for (const db of record.databases) {
      for (const r of record.roles) {
        await c.query(`ALTER ROLE ${quoteIdent(r)} IN DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
        crashPoint("fence:role-read-only");
      }
      if (record.databaseDefault) {
        await c.query(`ALTER DATABASE ${quoteIdent(db)} SET default_transaction_read_only = on`);
        crashPoint("fence:database-read-only");
      }
    }
  });
  const terminated = await terminateSessions(c, record.databases, { mustEnd: record.roles, spare: record.unfenced });
  return { record, terminated, resumed: existing !== null };
}

/** Plan, refuse or record a new fence: the record is written (or handed to the caller) before any role is touched. */
async function planNewFence(c: Client, wholeCluster: boolean, lagBytes: number, run: FenceRun): Promise<FenceRecord> {
  const databases = await databasesToFence(c, wholeCluster);
  await assertNoPreparedTransactions(c, databases);
  const plan = await fencePlanFor(c, databases, run);
  if (plan.problem) throw new FenceRefused(plan.problem);
  const databaseDefault = !(await databaseDefaultSet(c, await currentDb(c)));
  const record: FenceRecord = { roles: plan.roles, databases, databaseDefault, at: Date.now(), lagBytes, unfenced: plan.unfenced };
  const kept = await writeMarker(c, record).then(() => true, (err) => {
    // Only superusers may set a custom setting (Heroku's owner role is not one): the
    // caller keeps the record (on the target), which is then the only copy.
    if ((err as { code?: string }).code !== "42501") throw err;
    return false;
  });
  if (kept) crashPoint("fence:record-on-source");
  await run.onPlanned?.(record, kept);
  if (!kept) crashPoint("fence:record-on-target");
  return record;
}

async function withLockTimeout<T>(c: Client, ms: number | undefined, fn: () => Promise<T>): Promise<T> {
  if (ms === undefined) return fn();
  await c.query(`SET lock_timeout = ${Math.max(1, Math.round(ms))}`);
  try {
    return await fn();
  } finally {
    await c.query("RESET lock_timeout").catch(() => undefined);
  }
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
      crashPoint("unfence:role-writable");
    }
    if (record.databaseDefault) {
      await c.query(`ALTER DATABASE ${quoteIdent(db)} RESET default_transaction_read_only`);
      crashPoint("unfence:database-writable");
    }
  }
  await c.query(`ALTER DATABASE ${quoteIdent(await currentDb(c))} RESET ${MARKER}`).catch((err) => {
    if ((err as { code?: string }).code !== "42501") throw err; // never set (see fence)
  });
  crashPoint("unfence:record-reset");
  await terminateSessions(c, record.databases, { only: record.roles });
  return record;
}

/** Open a session on `url` that may write even while that database is fenced. */
export function withWritable<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  return withClient(url, async (c) => {
    await allowWrites(c);
    return fn(c);
  });
}
