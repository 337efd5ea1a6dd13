// What a pooler replica's pgbouncer reads: pgbouncer.ini and its auth file, rendered from
// the supervisor's settings and the server URL it points at (docs/pooler.md). Pure: the
// supervisor writes them (0600) and RELOADs.
import { FerryError } from "../cli/common";

/** server_tls_sslmode values ferry accepts: the server leg is always encrypted. */
export const SERVER_SSL_MODES = ["require", "verify-ca", "verify-full"] as const;
export type ServerSslMode = (typeof SERVER_SSL_MODES)[number];

/** Where one database alias points: what `[databases]` holds for it. */
export interface ServerTarget {
  host: string;
  port: number;
  dbname: string;
  user: string;
  password: string;
  sslmode: ServerSslMode;
}

export interface PoolerSettings {
  /** The alias the app connects to (its DATABASE_URL's database): stays when the server changes. */
  database: string;
  listenAddr: string;
  listenPort: number;
  /** Private directory: the Unix socket, the ini, the auth file and the TLS files. */
  dir: string;
  poolMode: "transaction" | "session";
  clientUser: string;
  adminUser: string;
  /** Seconds a query may wait for a server connection (while paused, too) before its client is dropped. */
  queryWaitTimeout: number;
  defaultPoolSize: number;
  /** The Unix user pgbouncer switches to (it refuses to run as root). */
  runAs?: string;
  files: { clientCert: string; clientKey: string; serverCa?: string; authFile: string };
}

/** `url` (postgres:// or postgresql://) as the server a replica points at; `name` says where it came from. */
export function serverTarget(url: string, name: string): ServerTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FerryError(`${name} is not a valid URL`, 2);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new FerryError(`${name} must be a postgresql:// URL (got ${u.protocol}//)`, 2);
  if (!u.hostname || !u.username || !u.password) throw new FerryError(`${name} must name a host, a user and a password`, 2);
  const dbname = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!dbname) throw new FerryError(`${name} must name a database`, 2);
  const sslmode = u.searchParams.get("sslmode") ?? "verify-full";
  if (!(SERVER_SSL_MODES as readonly string[]).includes(sslmode)) {
    throw new FerryError(`${name}: the pooler's server leg needs sslmode ${SERVER_SSL_MODES.join(", ")} (got "${sslmode}")`, 2);
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port ? Number(u.port) : 5432,
    dbname,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    sslmode: sslmode as ServerSslMode,
  };
}

/** A connection-string value for `[databases]`: single-quoted, a quote doubled (pgbouncer's loader). */
function connValue(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new FerryError("the server URL holds a line break or NUL, which pgbouncer.ini cannot carry", 2);
  return `'${value.replace(/'/g, "''")}'`;
}

/** A database name as `[databases]` keys it: plain when it can be, else SQL identifier quoting. */
function dbKey(name: string): string {
  return /^[_0-9A-Za-z]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** One auth-file line (pgbouncer(5) "Authentication file format"). */
const authLine = (user: string, password: string) => `"${user.replace(/"/g, '""')}" "${password.replace(/"/g, '""')}"`;

export function renderAuthFile(users: { user: string; password: string }[]): string {
  return users.map((u) => authLine(u.user, u.password)).join("\n") + "\n";
}

export function renderIni(s: PoolerSettings, server: ServerTarget): string {
  if (s.database === "pgbouncer") throw new FerryError("--database: pgbouncer is the admin console's name; pick another alias", 2);
  if (server.sslmode !== "require" && !s.files.serverCa) {
    throw new FerryError(`the server URL asks for sslmode ${server.sslmode}, which needs the server's CA: set FERRY_POOLER_SERVER_CA`, 2);
  }
  const conn = [
    `host=${connValue(server.host)}`, `port=${server.port}`, `dbname=${connValue(server.dbname)}`,
    `user=${connValue(server.user)}`, `password=${connValue(server.password)}`,
  ].join(" ");
  const settings: Record<string, string | number | undefined> = {
    listen_addr: s.listenAddr,
    listen_port: s.listenPort,
    unix_socket_dir: s.dir,
    auth_type: "scram-sha-256",
    auth_file: s.files.authFile,
    admin_users: s.adminUser,
    pool_mode: s.poolMode,
    default_pool_size: s.defaultPoolSize,
    max_client_conn: 1000,
    query_wait_timeout: s.queryWaitTimeout,
    // After a failed server login pgbouncer waits this long before it tries again (15 s by
    // default, pgbouncer(5)), and every client waits with it. The RELOAD of a repoint,
    // inside the pause, opens a connection to the new server that the pause closes, which
    // counts as one: at 15 s every request after the cutover waited 15 s, at 1 s the
    // longest wait was still 0.7 s past the RESUME (docs/pooler.md, "Rehearsed"). A server
    // that is down is then tried ten times a second per pool, which RDS takes in its stride.
    server_login_retry: 0.1,
    // Drivers send these at startup; pgbouncer would refuse the client otherwise.
    ignore_startup_parameters: "extra_float_digits,options",
    client_tls_sslmode: "require",
    client_tls_cert_file: s.files.clientCert,
    client_tls_key_file: s.files.clientKey,
    server_tls_sslmode: server.sslmode,
    server_tls_ca_file: s.files.serverCa,
    user: s.runAs,
    log_connections: 0,
    log_disconnections: 0,
  };
  const lines = Object.entries(settings).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = ${v}`);
  return `[databases]\n${dbKey(s.database)} = ${conn}\n\n[pgbouncer]\n${lines.join("\n")}\n`;
}
