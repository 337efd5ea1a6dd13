// pgbouncer's admin console, as the supervisor reaches it: over the Unix socket in its own
// private directory (never the network), as the admin user. The console speaks the simple
// query protocol only, which node-postgres uses for a query without parameters.
import { Client } from "pg";

export interface AdminLogin {
  /** The Unix socket's directory and pgbouncer's port (the socket is named after it). */
  dir: string;
  port: number;
  user: string;
  password: string;
}

/** What SHOW DATABASES says of one alias. */
export interface DatabaseState {
  host: string;
  port: number;
  dbname: string;
  paused: boolean;
  /** Server connections the pool still holds (SHOW POOLS): 0 once a pause completed. */
  serverConnections: number;
}

function adminClient(login: AdminLogin): Client {
  const c = new Client({ host: login.dir, port: login.port, user: login.user, password: login.password, database: "pgbouncer" });
  c.on("error", () => undefined);
  return c;
}

/** One console session for `fn`, ended afterwards. */
export async function withAdmin<T>(login: AdminLogin, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = adminClient(login);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The console's identifier quoting for a database name in PAUSE/RESUME. */
const consoleName = (name: string) => (/^[_0-9A-Za-z]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);

export async function databaseState(c: Client, alias: string): Promise<DatabaseState> {
  const dbs = (await c.query("SHOW DATABASES")).rows as Record<string, string | number | null>[];
  const db = dbs.find((r) => r.name === alias);
  if (!db) throw new Error(`pgbouncer has no database ${alias}`);
  const pools = (await c.query("SHOW POOLS")).rows as Record<string, string | number>[];
  const held = pools.filter((p) => p.database === alias)
    .reduce((n, p) => n + ["sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"].reduce((m, k) => m + Number(p[k] ?? 0), 0), 0);
  return { host: String(db.host), port: Number(db.port), dbname: String(db.database), paused: Number(db.paused) === 1, serverConnections: held };
}

/**
 * `PAUSE <alias>` with a deadline: PAUSE returns only once every server connection is
 * released (transaction mode: each transaction ended; session mode: each client gone), so
 * a client that holds one forever would hold it forever. Past the deadline the pause is
 * cancelled with RESUME on a second session (new queries stop waiting) and the session
 * still waiting on PAUSE is dropped.
 */
export async function pauseWithin(login: AdminLogin, alias: string, timeoutMs: number): Promise<{ ms: number; already: boolean }> {
  const t0 = Date.now();
  const before = await withAdmin(login, (c) => databaseState(c, alias));
  if (before.paused && before.serverConnections === 0) return { ms: 0, already: true };
  const waiting = adminClient(login);
  await waiting.connect();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
  const paused = before.paused ? waitUntilReleased(login, alias) : waiting.query(`PAUSE ${consoleName(alias)}`).then(() => "done" as const);
  try {
    const outcome = await Promise.race([paused, deadline]);
    if (outcome === "late") {
      await resume(login, alias);
      throw new PauseTimeout(`PAUSE did not complete within ${timeoutMs / 1000} s: a client holds its server connection (an open transaction, or a session-mode client that stays connected); resumed`);
    }
    return { ms: Date.now() - t0, already: false };
  } finally {
    clearTimeout(timer);
    paused.catch(() => undefined);
    // A PAUSE still waiting never answers: the session is ended without waiting for it.
    void waiting.end().catch(() => undefined);
  }
}

export class PauseTimeout extends Error {}

/** A pause begun earlier (flag set) completes once the pool holds no server connection. */
async function waitUntilReleased(login: AdminLogin, alias: string): Promise<"done"> {
  for (;;) {
    if ((await withAdmin(login, (c) => databaseState(c, alias))).serverConnections === 0) return "done";
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `RESUME <alias>` unless it is not paused; true when it was. */
export async function resume(login: AdminLogin, alias: string): Promise<boolean> {
  return withAdmin(login, async (c) => {
    if (!(await databaseState(c, alias)).paused) return false;
    await c.query(`RESUME ${consoleName(alias)}`);
    return true;
  });
}

/**
 * RELOAD: pgbouncer rereads its ini and auth file; a changed `[databases]` entry applies to
 * new server connections. `check` sees the alias as reloaded; with `thenResume`, once it
 * passed, RESUME on the same console session (the repoint's last step, one login fewer
 * inside the cutover's window).
 */
export async function reload(login: AdminLogin, alias: string, check: (now: DatabaseState) => void, thenResume = false): Promise<DatabaseState & { resumed?: boolean }> {
  return withAdmin(login, async (c) => {
    await c.query("RELOAD");
    const now = await databaseState(c, alias);
    check(now);
    if (!thenResume) return now;
    if (!now.paused) return { ...now, resumed: false };
    await c.query(`RESUME ${consoleName(alias)}`);
    return { ...(await databaseState(c, alias)), resumed: true };
  });
}
