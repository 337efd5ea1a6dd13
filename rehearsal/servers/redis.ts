// Local redis-server instances on loopback: plain, with a password, with TLS on a
// self-signed certificate (how Heroku's serves) or on a private CA (how ElastiCache
// serves), or with SYNC/PSYNC renamed away (how Heroku's behaves).
import { spawn, ChildProcess } from "node:child_process";
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
  start(): Promise<void>;
  stop(): Promise<void>;
  kill9(): void;
  isRunning(): boolean;
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
  if (opts.password) {
    // In a 0600 config file, not argv: the process list must never show a password.
    const conf = join(dir, "auth.conf");
    writeFileSync(conf, `requirepass "${opts.password}"\nmasterauth "${opts.password}"\n`, { mode: 0o600 });
    args.unshift(conf);
  }
  for (const cmd of opts.disableCommands ?? []) args.push("--rename-command", cmd, "");
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
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  return {
    port,
    dir,
    password: opts.password,
    caCert,
    tls,
    url: (db = 0) => `${scheme}://${auth}127.0.0.1:${port}/${db}`,
    start,
    stop,
    kill9: () => child?.kill("SIGKILL"),
    isRunning,
  };
}
