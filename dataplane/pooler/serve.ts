// `ferry pooler serve`: the process a pooler task runs (docs/pooler.md). It owns
// pgbouncer (a child process), renders its ini and auth file into a private directory
// from secret values, and answers ferry's pause / repoint / resume / status over HTTPS on
// the pooler's own certificate, each request authenticated by the admin password. The
// server URL lives in memory and in the 0600 ini only: never on a command line, in a log
// or in an answer (which names host, port and database).
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { isRoot } from "../cli/process";
import { FerryError } from "../cli/common";
import { AdminLogin, databaseState, DatabaseState, pauseWithin, PauseTimeout, reload, resume, withAdmin } from "./admin";
import { PoolerSettings, renderAuthFile, renderIni, serverTarget, ServerTarget } from "./ini";
import { sameSecret } from "./secret";
import { NotPaused, RedisProxy } from "./redis-proxy";
import { redisServer } from "./redis-upstream";

export const PGBOUNCER = "/usr/sbin/pgbouncer";

export interface ServeOptions extends Omit<PoolerSettings, "dir" | "files"> {
  /** Where the private directory is made (default the OS temp dir). */
  parentDir?: string;
  serverUrl: string;
  adminPassword: string;
  clientPassword: string;
  /** The pooler's certificate and key (PEM): pgbouncer's client leg and the control API. */
  tlsCert: string;
  tlsKey: string;
  /** The server's CA bundle (PEM), for server_tls_sslmode verify-ca / verify-full. */
  serverCa?: string;
  controlAddr: string;
  controlPort: number;
  pgbouncer?: string;
  /** Where pgbouncer's own log lines go (default this process's stderr). */
  log?: (line: string) => void;
  /** The Redis proxy (`--redis-port`), off when absent; its server URL from FERRY_POOLER_REDIS_URL. */
  redis?: { listenAddr: string; port: number; serverUrl: string };
}

/** What GET /status answers: where the alias points, never with what credentials. */
export interface ReplicaState {
  database: string;
  host: string;
  port: number;
  dbname: string;
  paused: boolean;
  serverConnections: number;
  poolMode: string;
}

export interface Supervisor {
  controlPort: number;
  /** The Redis proxy's port, when it runs. */
  redisPort?: number;
  /** Resolves when pgbouncer exits (on its own, or after close). */
  exited: Promise<number | null>;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/** The private directory, owned by the user pgbouncer runs as. */
function privateDir(opts: ServeOptions): { dir: string; owner?: { uid: number; gid: number } } {
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), "ferry-pooler-"));
  chmodSync(dir, 0o700);
  if (!opts.runAs || !isRoot()) return { dir };
  const owner = {
    uid: Number(execFileSync("id", ["-u", opts.runAs]).toString()),
    gid: Number(execFileSync("id", ["-g", opts.runAs]).toString()),
  };
  chownSync(dir, owner.uid, owner.gid);
  return { dir, owner };
}

/** Written whole or not at all (a RELOAD never reads half a file), 0600, owned by pgbouncer's user. */
function writePrivate(path: string, text: string, owner?: { uid: number; gid: number }): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, path);
}

/** The pooler's certificate and key, checked before anything is written or started. */
function usableCertificate(cert: string, key: string): void {
  try {
    createSecureContext({ cert, key });
  } catch {
    throw new FerryError("FERRY_POOLER_TLS_CERT and FERRY_POOLER_TLS_KEY must be a PEM certificate and its private key", 2);
  }
}

export async function serve(opts: ServeOptions): Promise<Supervisor> {
  let server: ServerTarget = serverTarget(opts.serverUrl, "FERRY_POOLER_SERVER_URL");
  // Checked before anything starts: a bad Redis URL leaves no pgbouncer and no directory behind.
  if (opts.redis) redisServer(opts.redis.serverUrl, "FERRY_POOLER_REDIS_URL");
  usableCertificate(opts.tlsCert, opts.tlsKey);
  const { dir, owner } = privateDir(opts);
  const files = {
    clientCert: join(dir, "pooler.pem"),
    clientKey: join(dir, "pooler-key.pem"),
    serverCa: opts.serverCa ? join(dir, "server-ca.pem") : undefined,
    authFile: join(dir, "userlist.txt"),
  };
  const settings: PoolerSettings = { ...opts, dir, files };
  const iniPath = join(dir, "pgbouncer.ini");
  const login: AdminLogin = { dir, port: opts.listenPort, user: opts.adminUser, password: opts.adminPassword };
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  // Whatever fails on the way up takes the directory (passwords, the key) with it.
  const abandon = (err: unknown): never => {
    child?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
    throw err;
  };
  try {
    writePrivate(iniPath, renderIni(settings, server), owner);
    writePrivate(files.clientCert, opts.tlsCert, owner);
    writePrivate(files.clientKey, opts.tlsKey, owner);
    if (files.serverCa && opts.serverCa) writePrivate(files.serverCa, opts.serverCa, owner);
    writePrivate(files.authFile, renderAuthFile([{ user: opts.adminUser, password: opts.adminPassword }, { user: opts.clientUser, password: opts.clientPassword }]), owner);
    const started = startPgbouncer(opts, iniPath);
    child = started;
    exited = new Promise<number | null>((resolve) => started.on("exit", (code) => resolve(code)));
    await consoleAnswers(login, exited);
  } catch (err) {
    abandon(err);
  }
  const pgbouncer = child!;
  const redis = opts.redis ? await startRedisProxy(opts, opts.redis).catch(abandon) : undefined;

  let repointing = Promise.resolve();
  const state = async (): Promise<ReplicaState> => stateOf(opts, await withAdmin(login, (c) => databaseState(c, opts.database)));
  const routes: Routes = {
    "GET /status": async () => ({ ...(await state()), ...(redis ? { redis: redis.state() } : {}) }),
    ...(redis ? redisRoutes(redis) : {}),
    "POST /pause": async (body) => {
      const paused = await pauseWithin(login, opts.database, timeoutOf(body));
      return { ...paused, ...(await state()) };
    },
    "POST /resume": async () => ({ resumed: await resume(login, opts.database), ...(await state()) }),
    // With `resume: true`, resumed once repointed (never where the repoint failed).
    "POST /repoint": (body) => {
      const done = repointing.then(async () => {
        if (typeof body.url !== "string") throw new BadRequest("url must be a string");
        const next = serverTarget(body.url, "the repoint's URL");
        const thenResume = body.resume === true;
        if (sameServer(next, server)) {
          return { changed: false, ...(thenResume ? { resumed: await resume(login, opts.database) } : {}), ...(await state()) };
        }
        writePrivate(iniPath, renderIni(settings, next), owner);
        const now = await reload(login, opts.database, (db) => {
          if (db.host !== next.host || db.port !== next.port || db.dbname !== next.dbname) {
            throw new Error(`after RELOAD pgbouncer still points ${opts.database} at ${db.host}:${db.port}/${db.dbname}`);
          }
        }, thenResume);
        server = next;
        return { changed: true, ...(now.resumed !== undefined ? { resumed: now.resumed } : {}), ...stateOf(opts, now) };
      });
      repointing = done.then(() => undefined, () => undefined);
      return done;
    },
  };

  const control = createServer({ cert: opts.tlsCert, key: opts.tlsKey }, (req, res) => {
    void answer(req, res, opts.adminPassword, routes);
  });
  await new Promise<void>((resolve, reject) => {
    control.once("error", reject);
    control.listen(opts.controlPort, opts.controlAddr, () => resolve());
  }).catch(async (err) => {
    await redis?.close();
    abandon(err);
  });
  void exited.then(() => Promise.all([control.close(), redis?.close()]));
  return {
    controlPort: (control.address() as { port: number }).port,
    redisPort: redis?.port,
    exited,
    close: async () => {
      await redis?.close();
      await closeAll(control, pgbouncer, exited, dir);
    },
  };
}

type Routes = Record<string, (body: Record<string, unknown>) => Promise<unknown>>;

function startRedisProxy(opts: ServeOptions, redis: NonNullable<ServeOptions["redis"]>): Promise<RedisProxy> {
  return RedisProxy.start({
    listenAddr: redis.listenAddr, port: redis.port, serverUrl: redis.serverUrl, serverCa: opts.serverCa,
    clientUser: opts.clientUser, clientPassword: opts.clientPassword, tlsCert: opts.tlsCert, tlsKey: opts.tlsKey,
    log: opts.log ?? ((line) => process.stderr.write(`${line}\n`)),
  });
}

/** The Redis proxy's pause, repoint and resume: the Postgres routes' shapes, under /redis. */
function redisRoutes(redis: RedisProxy): Routes {
  return {
    "GET /redis/status": async () => redis.state(),
    "POST /redis/pause": async (body) => ({ ...(await redis.pause(timeoutOf(body))), ...redis.state() }),
    "POST /redis/resume": async () => ({ resumed: redis.resume(), ...redis.state() }),
    "POST /redis/repoint": async (body) => {
      if (typeof body.url !== "string") throw new BadRequest("url must be a string");
      const repointed = await redis.repoint(body.url);
      return { ...repointed, ...(body.resume === true ? { resumed: redis.resume() } : {}), ...redis.state() };
    },
  };
}

function timeoutOf(body: Record<string, unknown>): number {
  const timeoutMs = Number(body.timeoutMs);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new BadRequest("timeoutMs must be a positive number");
  return timeoutMs;
}

const sameServer = (a: ServerTarget, b: ServerTarget) => (Object.keys(a) as (keyof ServerTarget)[]).every((k) => a[k] === b[k]);

const stateOf = (opts: ServeOptions, db: DatabaseState): ReplicaState => ({
  database: opts.database, host: db.host, port: db.port, dbname: db.dbname, paused: db.paused, serverConnections: db.serverConnections, poolMode: opts.poolMode,
});

function startPgbouncer(opts: ServeOptions, iniPath: string): ChildProcess {
  const child = spawn(opts.pgbouncer ?? PGBOUNCER, [iniPath], { stdio: ["ignore", "pipe", "pipe"] });
  const log = opts.log ?? ((line: string) => process.stderr.write(`pgbouncer: ${line}\n`));
  for (const stream of [child.stdout, child.stderr]) {
    let pending = "";
    stream?.on("data", (d: Buffer) => {
      const lines = (pending + d.toString()).split("\n");
      pending = lines.pop() ?? "";
      lines.filter(Boolean).forEach(log);
    });
  }
  return child;
}

/** Until the admin console answers on the socket, or pgbouncer exited (a bad ini, a port in use). */
async function consoleAnswers(login: AdminLogin, exited: Promise<number | null>): Promise<void> {
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  const deadline = Date.now() + 15_000;
  let last: unknown;
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new FerryError(`pgbouncer exited (code ${gone}) before its admin console answered; its log lines above say why`);
    try {
      await withAdmin(login, (c) => c.query("SHOW VERSION"));
      return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new FerryError(`pgbouncer's admin console did not answer within 15 s: ${(last as Error)?.message ?? "no answer"}`);
}

async function closeAll(control: Server, child: ChildProcess, exited: Promise<number | null>, dir: string): Promise<void> {
  control.closeAllConnections();
  await new Promise<void>((r) => control.close(() => r()));
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  await exited;
  rmSync(dir, { recursive: true, force: true });
}

class BadRequest extends Error {}

/** The bearer token against the admin password. */
function authorized(req: IncomingMessage, password: string): boolean {
  return sameSecret(/^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "", password);
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) return reject(new BadRequest("request body too large"));
      chunks.push(d);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      if (!text) return resolve({});
      try {
        const body = JSON.parse(text) as unknown;
        if (typeof body !== "object" || body === null) return reject(new BadRequest("the request body must be a JSON object"));
        resolve(body as Record<string, unknown>);
      } catch {
        reject(new BadRequest("the request body is not JSON"));
      }
    });
  });
}

async function answer(req: IncomingMessage, res: ServerResponse, password: string, routes: Routes): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (!authorized(req, password)) return reply(401, { error: "the admin password is wrong or missing" });
  const route = routes[`${req.method} ${req.url}`];
  if (!route) return reply(404, { error: req.url?.startsWith("/redis/") ? "this pooler runs no Redis proxy (ferry pooler serve without --redis-port)" : `no ${req.method} ${req.url}` });
  try {
    reply(200, await route(await readBody(req)));
  } catch (err) {
    const status = err instanceof BadRequest || (err instanceof FerryError && err.exitCode === 2) ? 400 : err instanceof PauseTimeout || err instanceof NotPaused ? 409 : 500;
    reply(status, { error: (err as Error).message.split("\n")[0] });
  }
}
