// Connecting to Redis from the data plane. Heroku Redis serves TLS on a self-signed
// certificate, so trust is explicit: a CA file (--tls-ca) added to the system roots, or
// an explicit --tls-insecure. Errors name the flag (--source/--target), never the password.
import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { PeerCertificate, SecureContext } from "node:tls";
import Redis, { RedisOptions } from "ioredis";
import { FerryError } from "../cli/common";
import { caContext } from "../cli/trust";

/** Every ferry connection's CLIENT SETNAME: how a fence check tells ferry from the app (clients.ts). */
export const FERRY_CLIENT_NAME = "ferry";

/** How to trust TLS servers, from --tls-ca / --tls-insecure. */
export interface TlsTrust {
  caFile?: string;
  insecure?: boolean;
}

/** One side of the move: its URL and the flag it came from (for messages). */
export interface Endpoint {
  url: string;
  flag: "--source" | "--target";
  trust: TlsTrust;
}

export interface ParsedRedisUrl {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
}

export function parseRedisUrl(url: string, flag: string): ParsedRedisUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FerryError(`${flag} is not a valid URL`, 2);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new FerryError(`${flag} must be a redis:// or rediss:// URL, got ${u.protocol}//`, 2);
  }
  const dbText = u.pathname.replace(/^\//, "");
  const db = dbText === "" ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new FerryError(`${flag} has an invalid database number "${dbText}"`, 2);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === "rediss:",
  };
}

/** host:port of an endpoint, for messages and JSON (never the password). */
export function describeEndpoint(ep: Endpoint): string {
  const p = parseRedisUrl(ep.url, ep.flag);
  return `${p.tls ? "rediss" : "redis"}://${p.host}:${p.port}`;
}

function tlsOptions(trust: TlsTrust, flagForCa: string): RedisOptions["tls"] {
  if (trust.insecure || !trust.caFile) return trustedTls(undefined, trust.insecure);
  let pem: string;
  try {
    pem = readFileSync(trust.caFile, "utf8");
  } catch {
    throw new FerryError(`${flagForCa} file ${trust.caFile} cannot be read`, 2);
  }
  if (!pem.includes("BEGIN CERTIFICATE")) throw new FerryError(`${flagForCa} file ${trust.caFile} holds no PEM certificate`, 2);
  return trustedTls(pem);
}

/**
 * The TLS trust of a Redis connection: `insecure` accepts any certificate (Heroku's
 * self-signed ones, an explicit choice); a CA's PEM is trusted beside the system roots
 * (the other side, e.g. ElastiCache, is signed by a public CA); else the system roots.
 */
export function trustedTls(pem?: string, insecure?: boolean): { rejectUnauthorized?: boolean; secureContext?: SecureContext } {
  if (insecure) return { rejectUnauthorized: false };
  return pem ? { secureContext: caContext(pem, true) } : {};
}

/** ioredis options for an endpoint; `db` overrides the URL's database. */
export function redisOptions(ep: Endpoint, db?: number): RedisOptions {
  const p = parseRedisUrl(ep.url, ep.flag);
  return {
    host: p.host,
    port: p.port,
    username: p.username,
    password: p.password,
    db: db ?? p.db,
    tls: p.tls ? tlsOptions(ep.trust, "--tls-ca") : undefined,
    lazyConnect: true,
    // A data-plane step fails loudly and is re-run; silent reconnects would hide gaps.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 10_000,
    enableReadyCheck: true,
    connectionName: FERRY_CLIENT_NAME,
    // RESP2 works on every server we move from (HELLO/RESP3 needs Redis 6+) and keeps
    // reply shapes flat (ZRANGE WITHSCORES, XINFO) whatever the server's version.
    protocol: 2,
  };
}

/** The names a certificate is valid for (its subjectAltName entries, else its CN). */
function certificateNames(cert: PeerCertificate | undefined): string {
  const san = (cert?.subjectaltname ?? "").split(/,\s*/).map((s) => s.replace(/^(DNS|IP Address):/, "")).filter(Boolean);
  return (san.length ? san : [cert?.subject?.CN ?? "other names"]).join(", ");
}

/** Does something accept TCP on host:port within `ms`? Tells "no TLS there" from "unreachable". */
function tcpAnswers(host: string, port: number, ms = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * A TLS connection that timed out or was dropped before the handshake finished: when
 * the port still takes plain TCP, the server does not speak TLS there (a plain Redis
 * waits for a newline that a TLS hello never sends).
 */
async function explainNoTls(ep: Endpoint, err: unknown): Promise<FerryError | undefined> {
  const p = parseRedisUrl(ep.url, ep.flag);
  const code = (err as { code?: string }).code ?? "";
  const msg = err instanceof Error ? err.message : String(err);
  if (!p.tls || !/ETIMEDOUT|ECONNRESET|secure TLS connection|socket hang up/i.test(code + " " + msg)) return undefined;
  if (!(await tcpAnswers(p.host, p.port))) return undefined;
  return new FerryError(`${ep.flag} ${describeEndpoint(ep)}: TLS requested (rediss://) but the server did not answer in TLS: use redis:// if it has no TLS`, 1);
}

/** Turn a connection failure into one line naming the flag and the remedy. */
export function explainConnectError(ep: Endpoint, err: unknown): FerryError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code ?? "";
  const where = `${ep.flag} ${describeEndpoint(ep)}`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const host = parseRedisUrl(ep.url, ep.flag).host;
    const names = certificateNames((err as { cert?: PeerCertificate }).cert);
    return new FerryError(`${where}: TLS certificate is for ${names}, not ${host}: connect by a name in the certificate, or knowingly pass --tls-insecure`, 1);
  }
  if (/self.signed|unable to verify|UNABLE_TO_GET_ISSUER|CERT_|certificate/i.test(msg + code)) {
    return new FerryError(`${where}: TLS certificate not trusted (${msg}); pass --tls-ca FILE or, knowingly, --tls-insecure`, 1);
  }
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) return new FerryError(`${where}: wrong password or user (WRONGPASS)`, 1);
  if (/NOAUTH/i.test(msg)) return new FerryError(`${where}: server requires a password; put it in the URL`, 1);
  if (code === "ECONNREFUSED") return new FerryError(`${where}: connection refused`, 1);
  if (/ECONNRESET|socket hang up|Connection is closed/i.test(msg + code)) {
    return new FerryError(`${where}: connection closed by the server (is it TLS-only? use rediss://)`, 1);
  }
  return new FerryError(`${where}: ${msg}`, 1);
}

/**
 * A command on a connection that went away mid-run fails with ioredis's bare
 * "Connection is closed.", which names no server: name the side that was lost.
 */
export function explainLostConnection(err: unknown, sides: DbClients[]): unknown {
  if (!(err instanceof Error) || !/Connection is closed/i.test(err.message)) return err;
  const gone = sides.find((s) => s.lost());
  if (!gone) return err;
  return new FerryError(`${gone.endpoint.flag} ${describeEndpoint(gone.endpoint)}: connection lost mid-run; re-run to resume`, 1);
}

/** A connected client; fails with a one-line reason. The caller disconnects it. */
export async function connect(ep: Endpoint, db?: number): Promise<Redis> {
  const client = new Redis(redisOptions(ep, db));
  let lastError: unknown;
  client.on("error", (err) => {
    lastError = err;
  });
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw (await explainNoTls(ep, lastError ?? err)) ?? explainConnectError(ep, lastError ?? err);
  }
  return client;
}

/** Run `fn` with a connected client and always disconnect it. */
export async function withClient<T>(ep: Endpoint, fn: (c: Redis) => Promise<T>, db?: number): Promise<T> {
  const client = await connect(ep, db);
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/**
 * One lazily opened client per logical database, so concurrent work on several
 * databases never races on SELECT.
 */
export class DbClients {
  private readonly clients = new Map<number, Promise<Redis>>();
  private readonly opened: Redis[] = [];

  constructor(readonly endpoint: Endpoint) {}

  db(db: number): Promise<Redis> {
    let client = this.clients.get(db);
    if (!client) {
      client = connect(this.endpoint, db);
      client.then((c) => this.opened.push(c), () => undefined);
      this.clients.set(db, client);
      client.catch(() => this.clients.delete(db));
    }
    return client;
  }

  /** Did a connection that was open go away (server gone, link cut)? */
  lost(): boolean {
    return this.opened.some((c) => c.status === "end" || c.status === "close");
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    this.opened.length = 0;
    for (const c of all) (await c.catch(() => undefined))?.disconnect();
  }
}
