// Local redis-server instances on loopback: plain, with a password, with TLS on a
// self-signed certificate, or with SYNC/PSYNC renamed away (how Heroku's behaves).
import { spawn, ChildProcess } from "node:child_process";
import { join } from "node:path";
import { readFileSync, writeFileSync } from "node:fs";
import { freePort, onExit, run, tempDir, waitFor, portOpen } from "./process";

export interface RedisOptions {
  password?: string;
  /** Serve TLS only, on a certificate generated for 127.0.0.1. */
  tls?: boolean;
  /** Commands renamed away (e.g. ["SYNC", "PSYNC"] to refuse outside replicas). */
  disableCommands?: string[];
  /** Extra `--key value` settings. */
  settings?: Record<string, string>;
}

export interface LocalRedis {
  port: number;
  dir: string;
  password?: string;
  /** PEM of the self-signed certificate when tls is on. */
  caCert?: string;
  url(db?: number): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill9(): void;
  isRunning(): boolean;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
export async function selfSignedCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  return { cert, key };
}

export async function startRedis(opts: RedisOptions = {}): Promise<LocalRedis> {
  const dir = tempDir("redis");
  const port = await freePort();
  const args = ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--protected-mode", "no"];
  let caCert: string | undefined;
  if (opts.tls) {
    const { cert, key } = await selfSignedCertificate(dir);
    caCert = readFileSync(cert, "utf8");
    args.push("--port", "0", "--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key,
      "--tls-ca-cert-file", cert, "--tls-auth-clients", "no", "--tls-replication", "yes");
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
    url: (db = 0) => `${scheme}://${auth}127.0.0.1:${port}/${db}`,
    start,
    stop,
    kill9: () => child?.kill("SIGKILL"),
    isRunning,
  };
}
