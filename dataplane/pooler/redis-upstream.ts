// One client's connection to the server Redis, as the proxy opens it (docs/pooler.md,
// "The Redis half"): TLS as the server URL says, the server's own credentials (from the server URL, never
// the client's), then the connection state the client built replayed (RESP3, SELECT,
// CLIENT SETNAME, its subscriptions), so that to the client a new upstream is the old one.
// The replies to that handshake are the proxy's: only what comes after goes to the client.
import { connect as connectPlain, isIP, Socket } from "node:net";
import { connect } from "node:tls";
import { FerryError } from "../cli/common";
import { parseRedisUrl, trustedTls } from "../redis/connection";
import { encodeCommand, RespFramer, replyShape } from "./resp";

/** Where the proxy points: the server URL's parts. */
export interface RedisServer {
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** The database a client starts on (the URL's path). */
  db: number;
  /**
   * verify: the certificate is checked against FERRY_POOLER_SERVER_CA and the system roots
   * (ElastiCache). no-verify: `?ssl_cert_reqs=none` in the URL, the spelling redis-py and
   * Heroku's own docs give for Heroku's self-signed certificates
   * (https://devcenter.heroku.com/articles/connecting-heroku-redis#connecting-in-python);
   * the rest of ferry accepts them the same way (--tls-insecure: redis/connection.ts).
   * none: a `redis://` URL, a server that speaks no TLS at all: a box's own Redis, which
   * the app reached that way before, or Redis on EC2 inside the VPC (components/target/redis.ts).
   */
  tls: "verify" | "no-verify" | "none";
}

export function redisServer(url: string, name: string): RedisServer {
  const p = parseRedisUrl(url, name);
  const reqs = new URL(url).searchParams.get("ssl_cert_reqs");
  if (reqs !== null && reqs.toLowerCase() !== "none" && reqs.toLowerCase() !== "required") {
    throw new FerryError(`${name}: ssl_cert_reqs must be none (Heroku's self-signed certificates) or required (got "${reqs}")`, 2);
  }
  if (!p.tls && reqs !== null) throw new FerryError(`${name}: ssl_cert_reqs is for a rediss:// URL (got a redis:// one)`, 2);
  const tls = !p.tls ? "none" : reqs?.toLowerCase() === "none" ? "no-verify" : "verify";
  return { host: p.host, port: p.port, username: p.username, password: p.password, db: p.db, tls };
}

export const sameRedisServer = (a: RedisServer, b: RedisServer) => (Object.keys(a) as (keyof RedisServer)[]).every((k) => a[k] === b[k]);

/** The connection state a client built, replayed on every new upstream. */
export interface Replay {
  protocol: 2 | 3;
  /** Undefined: the URL's database. */
  db?: number;
  name?: string;
  /** SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE and their names. */
  subscriptions: { command: string; names: string[] }[];
}

const CONNECT_TIMEOUT_MS = 10_000;
const firstLine = (frame: Buffer) => frame.toString("utf8", 1).trim().slice(0, 200);
const MESSAGES = new Set(["message", "pmessage", "smessage"]);

/**
 * One reply the handshake expects, in order. `read`: the proxy keeps something of it, and
 * an error there does not fail the connection (a server may refuse what it only informs).
 */
type Expected = { read?: (frame: Buffer) => void };

/**
 * The handshake's commands, and the replies they get (one per name for a subscribe).
 * CLIENT ID comes before the subscriptions (a RESP2 subscribed connection may run nothing
 * else) and gives the id a pause's CLIENT UNBLOCK names (redis-unblock.ts).
 */
function handshake(server: RedisServer, replay: Replay, readId: (frame: Buffer) => void): { commands: Buffer[]; expected: Expected[] } {
  const login = server.password === undefined ? [] : [server.username ?? "default", server.password];
  const one = (command: Buffer | undefined, read?: Expected["read"]) => (command ? [{ command, expected: [{ read }] }] : []);
  const steps = [
    ...one(replay.protocol === 3 ? encodeCommand(["HELLO", "3", ...(login.length ? ["AUTH", ...login] : [])]) : login.length ? encodeCommand(["AUTH", ...login]) : undefined),
    ...one((replay.db ?? server.db) !== 0 ? encodeCommand(["SELECT", String(replay.db ?? server.db)]) : undefined),
    ...one(replay.name !== undefined ? encodeCommand(["CLIENT", "SETNAME", replay.name]) : undefined),
    ...one(encodeCommand(["CLIENT", "ID"]), readId),
    ...replay.subscriptions.filter((s) => s.names.length).map((s) => ({ command: encodeCommand([s.command, ...s.names]), expected: s.names.map((): Expected => ({})) })),
  ];
  return { commands: steps.map((s) => s.command), expected: steps.flatMap((s) => s.expected) };
}

export interface UpstreamEvents {
  /** A reply (or a push) after the handshake: the client's. */
  reply(frame: Buffer): void;
  /** A message published during the handshake, on a channel already subscribed. */
  push(frame: Buffer): void;
  /** The connection failed or closed without the proxy closing it. */
  gone(err: Error): void;
}

export class Upstream {
  /** Resolves once every handshake reply came back without an error. */
  readonly ready: Promise<void>;
  /** The subscription count the server confirmed last (0 when none). */
  subscriptions = 0;
  /** This connection's id on the server (CLIENT ID); undefined while unknown or refused. */
  clientId?: number;
  /** Why the server would not tell the id (its first line), when it refused CLIENT ID. */
  clientIdRefused?: string;
  private readonly socket: Socket;
  private readonly framer = new RespFramer();
  private readonly expected: Expected[];
  private closing = false;
  private settle!: (err?: Error) => void;

  constructor(readonly server: RedisServer, serverCa: string | undefined, replay: Replay, private readonly on: UpstreamEvents) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => undefined);
    this.socket = server.tls === "none"
      ? connectPlain({ host: server.host, port: server.port })
      : connect({ host: server.host, port: server.port, servername: isIP(server.host) ? undefined : server.host, ...trustedTls(serverCa, server.tls === "no-verify") });
    // TLS's handshake ends in secureConnect (the server's certificate passed), TCP's in connect.
    const connected = server.tls === "none" ? "connect" : "secureConnect";
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 30_000);
    this.socket.setTimeout(CONNECT_TIMEOUT_MS, () => this.fail(new Error(`no connection within ${CONNECT_TIMEOUT_MS / 1000} s`)));
    this.socket.once(connected, () => this.socket.setTimeout(0));
    this.socket.on("data", (d: Buffer) => this.data(d));
    this.socket.on("error", (err) => this.fail(err));
    this.socket.on("close", () => this.fail(new Error("the server closed the connection")));
    const { commands, expected } = handshake(server, replay, (frame) => this.readId(frame));
    this.expected = expected;
    // Written before the connection is made: the socket sends them, in order, once it is.
    for (const c of commands) this.socket.write(c);
  }

  get where(): string {
    return `${this.server.host}:${this.server.port}`;
  }

  write(frame: Buffer): boolean {
    return this.socket.write(frame);
  }

  whenWritable(fn: () => void): void {
    this.socket.once("drain", fn);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Closed by the proxy (a repoint, the client left): no `gone`. */
  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private data(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      return this.fail(new Error(`the server sent bytes that are not RESP: ${(err as Error).message}`));
    }
    for (const frame of frames) {
      if (this.expected.length === 0) {
        this.on.reply(frame);
        continue;
      }
      const shape = replyShape(frame);
      if (MESSAGES.has(shape.head ?? "") && (shape.type === ">" || shape.type === "*")) {
        this.on.push(frame);
        continue;
      }
      const { read } = this.expected.shift()!;
      if (read) read(frame);
      else if (shape.type === "-" || shape.type === "!") {
        return this.fail(new Error(`the server refused the connection's setup: ${firstLine(frame)}`));
      }
      if (shape.count !== undefined) this.subscriptions = shape.count;
      if (this.expected.length === 0) this.settle();
    }
  }

  /** CLIENT ID's answer: the id, or (renamed away, or an ACL without it) why not. */
  private readId(frame: Buffer): void {
    if (frame[0] === 0x3a /* : */) this.clientId = Number(frame.toString("latin1", 1, frame.indexOf("\r\n")));
    else this.clientIdRefused = firstLine(frame);
  }

  private fail(err: Error): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.destroy();
    this.settle(err);
    this.on.gone(err);
  }
}
