// Local PostgreSQL clusters on loopback ports in temporary directories. PostgreSQL
// refuses to run as root, so as root every server binary runs as the `postgres`
// system user that Debian's package creates.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Client } from "pg";
import { freePort, isRoot, onExit, run, tempDir, waitFor } from "./process";
import { TlsFiles, TlsOptions, serverCertificate } from "./certificates";
import { asPostgres, postgresBinDir } from "../../dataplane/postgres/binaries";

export { asPostgres, postgresBinDir } from "../../dataplane/postgres/binaries";

function postgresUser(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export interface PostgresOptions {
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number>;
  /** Superuser password; random when omitted. */
  password?: string;
  /**
   * Serve TLS on a private-CA (RDS-like) or self-signed (Heroku-like) certificate.
   * `required` (default true) turns every TCP line of pg_hba.conf into `hostssl`:
   * Heroku Postgres and RDS with rds.force_ssl=1 refuse plain connections.
   */
  tls?: TlsOptions & { required?: boolean };
}

export interface LocalPostgres {
  port: number;
  dataDir: string;
  socketDir: string;
  password: string;
  binDir: string;
  /** The certificate files when the cluster serves TLS. */
  tls?: TlsFiles;
  /** URL for `user` (default the superuser `postgres`) and `database` (default `postgres`). */
  url(database?: string, user?: string, password?: string): string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  start(): Promise<void>;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** SIGKILL the postmaster, as a crash would. */
  kill9(): void;
  restart(): Promise<void>;
  isRunning(): boolean;
  /** The postmaster's process id while it runs. */
  pid(): number | undefined;
}

const DEFAULT_SETTINGS: Record<string, string | number> = {
  listen_addresses: "'127.0.0.1'",
  wal_level: "logical",
  max_wal_senders: 10,
  max_replication_slots: 10,
  max_connections: 100,
  shared_buffers: "'128MB'",
  // Test and rehearsal clusters live in temp dirs; durability against an OS crash
  // is not what they test, a killed process still recovers from WAL.
  fsync: "off",
  synchronous_commit: "off",
  full_page_writes: "off",
  logging_collector: "off",
};

/** Create and start a fresh cluster with scram-sha-256 passwords on a free port. */
export async function startPostgres(opts: PostgresOptions = {}): Promise<LocalPostgres> {
  const binDir = postgresBinDir();
  const owner = postgresUser();
  const base = tempDir("pg", owner);
  const dataDir = join(base, "data");
  const socketDir = base;
  const password = opts.password ?? randomBytes(12).toString("hex");
  const pwFile = join(base, "pw");
  writeFileSync(pwFile, password + "\n", { mode: 0o600 });
  if (owner) execFileSync("chown", [`${owner.uid}:${owner.gid}`, pwFile]);
  await run(...asPostgres(join(binDir, "initdb"), [
    "-D", dataDir, "-U", "postgres", "--pwfile", pwFile, "--auth", "scram-sha-256",
    "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync",
  ]));
  const port = await freePort();
  const settings = { ...DEFAULT_SETTINGS, ...opts.settings, port, unix_socket_directories: `'${socketDir}'` };
  appendFileSync(
    join(dataDir, "postgresql.conf"),
    "\n# ferry local server\n" + Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join("\n") + "\n",
  );
  appendFileSync(join(dataDir, "pg_hba.conf"), "host replication all 127.0.0.1/32 scram-sha-256\n");
  const tls = opts.tls ? await enableTls(base, dataDir, opts.tls, owner) : undefined;
  return controlCluster({ binDir, dataDir, socketDir, port, password, tls });
}

/**
 * Certificate files for the cluster (the key readable by its owner only, or the server
 * refuses to start), `ssl = on`, and with `required` only `hostssl` lines for TCP.
 * https://www.postgresql.org/docs/current/ssl-tcp.html
 */
async function enableTls(base: string, dataDir: string, opts: TlsOptions & { required?: boolean }, owner?: { uid: number; gid: number }): Promise<TlsFiles> {
  const files = await serverCertificate(base, opts);
  for (const f of [files.certFile, files.keyFile, files.caFile]) {
    if (owner) execFileSync("chown", [`${owner.uid}:${owner.gid}`, f]);
  }
  execFileSync("chmod", ["0600", files.keyFile]);
  appendFileSync(join(dataDir, "postgresql.conf"), `ssl = on\nssl_cert_file = '${files.certFile}'\nssl_key_file = '${files.keyFile}'\n`);
  if (opts.required ?? true) {
    const hba = join(dataDir, "pg_hba.conf");
    writeFileSync(hba, readFileSync(hba, "utf8").replace(/^host(\s)/gm, "hostssl$1"));
  }
  return files;
}

/**
 * Control an existing data directory (a fresh cluster, or a standby made by
 * pg_basebackup). Starts it and registers it for cleanup.
 */
export async function controlCluster(c: {
  binDir: string;
  dataDir: string;
  socketDir: string;
  port: number;
  password: string;
  tls?: TlsFiles;
}): Promise<LocalPostgres> {
  const pgCtl = join(c.binDir, "pg_ctl");
  const logFile = join(c.socketDir, `postgres-${c.port}.log`);
  const url = (database = "postgres", user = "postgres", password = c.password) =>
    `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${c.port}/${database}`;
  const pidFile = join(c.dataDir, "postmaster.pid");
  const postmaster = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : undefined);
  const isRunning = () => {
    const pid = postmaster();
    if (pid === undefined) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  // The helper trusts the cluster's own CA but not a host name: a test may issue the
  // certificate for a name other than 127.0.0.1 on purpose.
  const ssl = c.tls ? { ca: readFileSync(c.tls.caFile, "utf8"), checkServerIdentity: () => undefined } : false;
  const query = async <T>(sql: string, params?: unknown[], database?: string): Promise<T[]> => {
    const client = new Client({ connectionString: url(database), ssl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const start = async () => {
    await run(...asPostgres(pgCtl, ["-D", c.dataDir, "-l", logFile, "-w", "-t", "60", "start"]));
    await waitFor(`PostgreSQL on port ${c.port}`, async () => {
      await query("select 1");
      return true;
    });
  };
  const stop = async (mode: "fast" | "immediate" = "fast") => {
    if (isRunning()) await run(...asPostgres(pgCtl, ["-D", c.dataDir, "-m", mode, "-w", "stop"]));
  };
  const kill9 = () => {
    const pid = postmaster();
    if (pid === undefined) return;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  onExit(() => {
    if (isRunning()) spawnSync(...asPostgres(pgCtl, ["-D", c.dataDir, "-m", "immediate", "stop"]), { stdio: "ignore" });
  });
  await start();
  return {
    ...c,
    url,
    query,
    start,
    stop,
    kill9,
    restart: async () => {
      await stop();
      await start();
    },
    isRunning,
    pid: () => (isRunning() ? postmaster() : undefined),
  };
}
