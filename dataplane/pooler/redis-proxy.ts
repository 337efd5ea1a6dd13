// The Redis half of the pooler (docs/pooler.md, "The Redis half"): a RESP-aware proxy in
// the `ferry pooler serve` process, on the pooler's TLS certificate, that the cutover
// pauses, repoints and resumes over the same control API as PgBouncer.
//   pause    new commands wait in the proxy; replies to those already sent still flow,
//            and a client inside MULTI or WATCH may finish its transaction. A client
//            whose only command in flight is a blocked BRPOP (or another blocking one
//            that can be sent again: redis-blocking.ts) has it ended by CLIENT UNBLOCK
//            and held, to go again at the resume (redis-unblock.ts). Done once no reply
//            is owed and no transaction is open; past the deadline everything resumes
//            and the pause fails (409), as PgBouncer's.
//   repoint  (paused only) every client gets a new upstream on the new server, logged in
//            with that URL's credentials, its RESP3, SELECT, CLIENT SETNAME and
//            subscriptions replayed; only once every one is ready are they swapped in and
//            the old ones closed. One that cannot be readied leaves all on the old server.
//   resume   the held commands go, each client's in the order they came.
// The server URL lives in memory only; the status names host, port and database.
import { createServer, Server, TLSSocket } from "node:tls";
import { FerryError } from "../cli/common";
import { PauseTimeout } from "./admin";
import { RedisServer, redisServer, sameRedisServer, Upstream } from "./redis-upstream";
import { ProxyContext, Session } from "./redis-session";
import { UnblockRound } from "./redis-unblock";

export interface RedisProxyOptions {
  listenAddr: string;
  port: number;
  serverUrl: string;
  /** PEM the server's certificate chains to (beside the system roots). */
  serverCa?: string;
  clientUser: string;
  clientPassword: string;
  tlsCert: string;
  tlsKey: string;
  log: (line: string) => void;
}

/** What GET /status and the Redis routes answer: where the proxy points, never with what credentials. */
export interface RedisProxyState {
  host: string;
  port: number;
  db: number;
  /** How the server's certificate is checked: verify, or no-verify (Heroku's self-signed). */
  tls: RedisServer["tls"];
  paused: boolean;
  clients: number;
  /** Commands sent to the server whose replies have not come back (blocked BRPOPs among them). */
  inFlight: number;
  /** Clients inside MULTI or WATCH. */
  openTransactions: number;
  /** Commands waiting in the proxy for a resume (an unblocked one is counted in `unblocked` and `resent`). */
  held: number;
  /** Blocking commands pauses ended with CLIENT UNBLOCK, since the proxy started. */
  unblocked: number;
  /** Of those, sent again after a resume. */
  resent: number;
  /** Why the last pause could not unblock (the server refused CLIENT UNBLOCK, or the side connection to it failed): it waited for them instead. */
  unblockRefused?: string;
}

/** What a pause answers: how long it took, and how many blocked commands it ended (the state's `unblocked` counts every pause's). */
export interface PauseResult {
  ms: number;
  already: boolean;
  unblockedByPause: number;
}

/** A repoint needs a paused proxy: clients move between two commands, never with a reply owed. */
export class NotPaused extends Error {}

export class RedisProxy implements ProxyContext {
  paused = false;
  private readonly sessions = new Set<Session>();
  /** Pauses waiting to complete, told how they ended. */
  private waiters: ((how: "drained" | "resumed") => void)[] = [];
  private repointing: Promise<unknown> = Promise.resolve();
  /** The unblocking of the pause that waits, if one does. */
  private round?: UnblockRound;
  private readonly counts = { unblocked: 0, resent: 0 };
  private unblockRefused?: string;

  private constructor(public server: RedisServer, private readonly opts: RedisProxyOptions, private readonly listener: Server) {}

  /** Listening once it resolves; the server URL is checked first (one line naming FERRY_POOLER_REDIS_URL). */
  static async start(opts: RedisProxyOptions): Promise<RedisProxy> {
    const server = redisServer(opts.serverUrl, "FERRY_POOLER_REDIS_URL");
    const listener = createServer({ cert: opts.tlsCert, key: opts.tlsKey });
    const proxy = new RedisProxy(server, opts, listener);
    listener.on("secureConnection", (socket: TLSSocket) => proxy.sessions.add(new Session(socket, proxy)));
    // A client that fails its TLS handshake never becomes a session: nothing to clean up.
    listener.on("tlsClientError", () => undefined);
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(opts.port, opts.listenAddr, () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.listener.address() as { port: number }).port;
  }

  get serverCa(): string | undefined {
    return this.opts.serverCa;
  }

  get clientUser(): string {
    return this.opts.clientUser;
  }

  get clientPassword(): string {
    return this.opts.clientPassword;
  }

  log(line: string): void {
    this.opts.log(line);
  }

  removed(session: Session): void {
    this.sessions.delete(session);
    this.changed();
  }

  changed(): void {
    if (!this.paused) return;
    this.round?.sweep(this.sessions);
    if (this.drained()) this.settle("drained");
  }

  resent(): void {
    this.counts.resent++;
  }

  /** Nothing owed by the server, no transaction open, and no CLIENT UNBLOCK unanswered. */
  private drained(): boolean {
    return [...this.sessions].every((s) => !s.busy) && !this.round?.answersDue;
  }

  /** The pauses that wait are told how they ended, and their unblocking stops. */
  private settle(how: "drained" | "resumed"): void {
    for (const wake of this.waiters.splice(0)) wake(how);
    const round = this.round;
    if (!round) return;
    this.round = undefined;
    round.close();
    this.counts.unblocked += round.unblocked;
    this.unblockRefused = round.refused;
  }

  state(): RedisProxyState {
    const all = [...this.sessions];
    const sum = (f: (s: Session) => number) => all.reduce((n, s) => n + f(s), 0);
    return {
      host: this.server.host, port: this.server.port, db: this.server.db, tls: this.server.tls, paused: this.paused,
      clients: all.length, inFlight: sum((s) => s.inFlight), openTransactions: sum((s) => Number(s.transactionOpen)), held: sum((s) => s.heldCount),
      unblocked: this.counts.unblocked + (this.round?.unblocked ?? 0), resent: this.counts.resent,
      ...(this.unblockRefused !== undefined ? { unblockRefused: this.unblockRefused } : {}),
    };
  }

  /** Paused with nothing in flight, or resumed and a PauseTimeout past `timeoutMs`. */
  async pause(timeoutMs: number): Promise<PauseResult> {
    const t0 = Date.now();
    if (this.paused && this.drained()) return { ms: 0, already: true, unblockedByPause: 0 };
    this.paused = true;
    const round = (this.round ??= new UnblockRound(this.server, this.opts.serverCa, () => this.changed(), (line) => this.log(line)));
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<"drained" | "resumed" | "late">((resolve) => {
      this.waiters.push(resolve);
      timer = setTimeout(() => resolve("late"), timeoutMs);
    });
    this.changed();
    const how = await done;
    clearTimeout(timer);
    if (how === "drained") return { ms: Date.now() - t0, already: false, unblockedByPause: round.unblocked };
    if (how === "resumed") throw new PauseTimeout("the Redis proxy was resumed before its pause completed");
    const s = this.state();
    this.resume();
    const why = round.refused !== undefined ? `; the server refused CLIENT UNBLOCK (${round.refused})` : "";
    throw new PauseTimeout(`the Redis proxy's pause did not complete within ${timeoutMs / 1000} s: ${s.inFlight} command(s) still in flight (blocking commands CLIENT UNBLOCK could not end count)${why}, ${s.openTransactions} client(s) inside MULTI or WATCH; resumed`);
  }

  /** The held commands released; false when the proxy was not paused. */
  resume(): boolean {
    const was = this.paused;
    this.paused = false;
    this.settle("resumed");
    for (const s of [...this.sessions]) s.release();
    return was;
  }

  /** Every client moved onto `url` (see the header); serialized, so two repoints never interleave. */
  repoint(url: string): Promise<{ changed: boolean }> {
    const run = this.repointing.then(() => this.repointNow(url));
    this.repointing = run.catch(() => undefined);
    return run;
  }

  private async repointNow(url: string): Promise<{ changed: boolean }> {
    const next = redisServer(url, "the Redis repoint's URL");
    if (sameRedisServer(next, this.server)) return { changed: false };
    if (!this.paused || !this.drained()) throw new NotPaused("the Redis proxy is not paused: pause it first (a repoint moves each client between two commands)");
    // The probe beside the clients' new connections, not before them (one connection's
    // time less inside the cutover's window): none is swapped in unless it passed.
    const sessions = [...this.sessions].filter((s) => s.connected);
    const [probed, settled] = await Promise.all([this.probe(next).then(() => undefined, (err: Error) => err), Promise.allSettled(sessions.map((s) => s.prepare(next)))]);
    const ready = settled.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<Session["prepare"]>>> => r.status === "fulfilled").map((r) => r.value);
    const failed = settled.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (probed) {
      ready.forEach((r) => r.abort());
      throw probed;
    }
    if (failed.length) {
      ready.forEach((r) => r.abort());
      throw new Error(`could not move ${failed.length} of ${sessions.length} client(s) to ${next.host}:${next.port} (${(failed[0].reason as Error).message.split("\n")[0]}); every client stays on ${this.server.host}:${this.server.port}, paused`);
    }
    ready.forEach((r) => r.commit());
    this.server = next;
    return { changed: true };
  }

  /** The new server logs in (and its certificate passes) before any client is moved. */
  private async probe(server: RedisServer): Promise<void> {
    const upstream = new Upstream(server, this.opts.serverCa, { protocol: 2, subscriptions: [] }, { reply: () => undefined, push: () => undefined, gone: () => undefined });
    try {
      await upstream.ready;
    } catch (err) {
      throw new FerryError(`the Redis repoint's URL ${server.host}:${server.port}: ${(err as Error).message.split("\n")[0]}; every client stays where it was`, 1);
    } finally {
      upstream.close();
    }
  }

  async close(): Promise<void> {
    this.settle("resumed");
    for (const s of [...this.sessions]) s.close();
    await new Promise<void>((r) => this.listener.close(() => r()));
  }
}
