// Local redis-server instances on loopback: plain, with a password, with TLS on a
// self-signed certificate (how Heroku's serves) or on a private CA (how ElastiCache
// serves), or with SYNC/PSYNC renamed away (how Heroku's behaves).
import { spawn, ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { freePort, onExit, tempDir, waitFor, portOpen } from "./process";
import { TlsFiles, TlsOptions, serverCertificate } from "./certificates";

/**
 * What Heroku Key-Value Store (Heroku Redis) refuses, renamed away in its stand-in:
 * - SYNC, PSYNC: no outside replica (../shared/FACTS.md, "Heroku": no documented
 *   PSYNC/REPLICAOF to an outside replica).
 * - CONFIG: an instance's settings are Heroku's to change, through its CLI (`heroku
 *   redis:maxmemory`, `redis:timeout`, `redis:keyspace-notifications`:
 *   https://devcenter.heroku.com/articles/managing-heroku-redis-using-cli,
 *   https://github.com/heroku/cli/blob/main/docs/redis.md).
 * - ACL: the add-on has one credential and Heroku manages it (`heroku redis:credentials
 *   --reset` rotates it, same pages). No Heroku document we could find offers ACL users or
 *   ACL SETUSER to the app (searched: the Dev Center's Heroku Key-Value Store articles, the
 *   CLI's docs, Heroku's issue trackers), and the managed Redis services that do document
 *   it refuse ACL SETUSER (https://aiven.io/docs/products/valkey/reference/restricted-commands,
 *   https://docs.oracle.com/iaas/Content/ocicache/restrictedcommands.htm, Redis Cloud).
 *   So ferry must not count on fencing the app's user there, and the stand-in refuses it.
 * CLIENT stays: Heroku's own advice is to name connections with CLIENT SETNAME and read
 * them with CLIENT LIST (https://blog.heroku.com/real-world-redis-tips), which
 * `--fence dynos-stopped` relies on.
 */
export const HEROKU_REDIS_REFUSES: readonly string[] = ["SYNC", "PSYNC", "CONFIG", "ACL"];

export interface RedisOptions {
  password?: string;
  /**
   * Serve TLS only: `true` is a self-signed certificate for 127.0.0.1 and localhost;
   * an object picks a private CA or self-signed, and the names in the certificate.
   */
  tls?: boolean | TlsOptions;
  /** Commands renamed away (e.g. ["SYNC", "PSYNC"] to refuse outside replicas). */
  disableCommands?: string[];
  /** Extra `--key value` settings. */
  settings?: Record<string, string>;
}

export interface LocalRedis {
  port: number;
  dir: string;
  password?: string;
  /** PEM a client must trust when tls is on: the self-signed certificate or the private CA. */
  caCert?: string;
  /** The certificate files when tls is on (caFile is what --tls-ca takes). */
  tls?: TlsFiles;
  url(db?: number): string;
  /**
   * A new password, as the provider sets one when it rotates the credential (Heroku:
   * `heroku redis:credentials --reset`): through CONFIG even where clients are refused it,
   * and kept for a restart. Open connections stay authenticated, as in Redis itself.
   */
  setPassword(password: string): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill9(): void;
  isRunning(): boolean;
  /** redis-server's process id while it runs. */
  pid(): number | undefined;
}

export async function startRedis(opts: RedisOptions = {}): Promise<LocalRedis> {
  const dir = tempDir("redis");
  const port = await freePort();
  const args = ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no"];
  let caCert: string | undefined;
  let tls: TlsFiles | undefined;
  if (opts.tls) {
    tls = await serverCertificate(dir, opts.tls === true ? { kind: "self-signed" } : opts.tls);
    caCert = readFileSync(tls.caFile, "utf8");
    args.push("--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.certFile, "--tls-key-file", tls.keyFile,
      "--tls-ca-cert-file", tls.caFile, "--tls-auth-clients", "no", "--tls-replication", "yes");
  } else {
    args.push("--port", String(port));
  }
  let password = opts.password;
  // In a 0600 config file, not argv: the process list must never show a password.
  const conf = join(dir, "auth.conf");
  const writeAuth = () => writeFileSync(conf, password ? `requirepass "${password}"\nmasterauth "${password}"\n` : "", { mode: 0o600 });
  writeAuth();
  args.unshift(conf);
  // CONFIG refused to clients stays the provider's: renamed to a name only this process knows.
  const adminConfig = opts.disableCommands?.includes("CONFIG") ? `config-${randomBytes(8).toString("hex")}` : "CONFIG";
  for (const cmd of opts.disableCommands ?? []) args.push("--rename-command", cmd, cmd === "CONFIG" ? adminConfig : "");
  for (const [k, v] of Object.entries(opts.settings ?? {})) args.push(`--${k}`, v);

  let child: ChildProcess | undefined;
  const isRunning = () => !!child && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "inherit"] });
    const started = child;
    onExit(() => {
      if (started.exitCode === null) started.kill("SIGKILL");
    });
    await waitFor(`redis-server on port ${port}`, () => portOpen(port));
  };
  const stop = async () => {
    if (!child || !isRunning()) return;
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  await start();
  const scheme = opts.tls ? "rediss" : "redis";
  const url = (db = 0) => `${scheme}://${password ? `:${encodeURIComponent(password)}@` : ""}127.0.0.1:${port}/${db}`;
  const setPassword = async (next: string) => {
    const admin = new Redis(url(), { lazyConnect: true, maxRetriesPerRequest: 1, ...(caCert ? { tls: { ca: caCert, rejectUnauthorized: false } } : {}) });
    try {
      await admin.connect();
      await admin.call(adminConfig, "SET", "requirepass", next);
      await admin.call(adminConfig, "SET", "masterauth", next);
    } finally {
      admin.disconnect();
    }
    password = next;
    writeAuth();
  };
  return {
    port,
    dir,
    get password() {
      return password;
    },
    caCert,
    tls,
    url,
    setPassword,
    start,
    stop,
    kill9: () => child?.kill("SIGKILL"),
    isRunning,
    pid: () => (isRunning() ? child?.pid : undefined),
  };
}
