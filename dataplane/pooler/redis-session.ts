// One app connection through the Redis proxy (docs/pooler.md, "The Redis half"). The
// client authenticates to the proxy (its own user and password, never the server's);
// every other command is forwarded, whole and in order, on the one upstream connection
// this client has, and every reply comes back byte for byte. What lives on a connection
// is tracked so that a repoint can rebuild it on the new server: RESP3 (HELLO 3), SELECT,
// CLIENT SETNAME, subscriptions. So is what a pause must wait for: replies still due (a
// blocked BRPOP is one) and an open MULTI or WATCH, whose commands still flow while the
// proxy is paused so that the transaction can end. Any other command waits in `held`.
// A blocking command that a pause ended with CLIENT UNBLOCK (redis-unblock.ts) answers
// null: that null is swallowed, and the command waits at the head of the held ones to be
// sent again with what is left of its timeout, so the client sees one longer BRPOP.
import type { TLSSocket } from "node:tls";
import { sameSecret } from "./secret";
import { commandArgs, encodeCommand, errorReply, isNullReply, OK, replyShape, ReplyShape, RespFramer, RespProtocolError } from "./resp";
import { RedisServer, Replay, Upstream } from "./redis-upstream";
import { BlockingCommand, blockingCommand, resendFrame } from "./redis-blocking";
import type { Unblockable } from "./redis-unblock";

/** What a session needs of the proxy it belongs to. */
export interface ProxyContext {
  readonly paused: boolean;
  readonly server: RedisServer;
  readonly serverCa?: string;
  readonly clientUser: string;
  readonly clientPassword: string;
  /** A reply came back, a transaction ended or a client left: a pause may be complete. */
  changed(): void;
  /** A blocking command a pause unblocked was sent again. */
  resent(): void;
  removed(session: Session): void;
  log(line: string): void;
}

/** A reply the client is owed, in order. */
interface Due {
  /** Replies still to come: 1, or one confirmation per name of a (un)subscribe. */
  left: number;
  /** A (un)subscribe: its confirmations are pushes in RESP3, arrays in RESP2, with this kind first. */
  confirm?: string;
  /** A reply the proxy gives itself (AUTH): sent once every reply before it has gone out. */
  local?: Buffer;
  /** State the reply makes true (SELECT, CLIENT SETNAME, HELLO), applied unless it is an error. */
  onReply?: (shape: ReplyShape) => void;
  after?: () => void;
  /** A blocking command that a pause may end early and send again (never inside MULTI). */
  blocking?: BlockingCommand;
  /** CLIENT UNBLOCK went for it: a null reply is the proxy's (it came of the unblock, or of a timeout at that moment). */
  unblockSent?: boolean;
  /** Unblocked: it waits in the proxy to be sent again, nothing owed by the server. */
  resend?: boolean;
}

/** The subscribe commands: which set of names each changes, and the kind its confirmations carry. */
const SUBSCRIBE: Record<string, { set: "channels" | "patterns" | "shard"; add: boolean }> = {
  SUBSCRIBE: { set: "channels", add: true }, UNSUBSCRIBE: { set: "channels", add: false },
  PSUBSCRIBE: { set: "patterns", add: true }, PUNSUBSCRIBE: { set: "patterns", add: false },
  SSUBSCRIBE: { set: "shard", add: true }, SUNSUBSCRIBE: { set: "shard", add: false },
};
const REPLAYED = { channels: "SUBSCRIBE", patterns: "PSUBSCRIBE", shard: "SSUBSCRIBE" } as const;
const MESSAGES = new Set(["message", "pmessage", "smessage"]);

/**
 * Commands that would turn the connection into something else than request and reply
 * (MONITOR, a replication stream) or drop its authentication (RESET): refused, as no app
 * driver sends them.
 */
const REFUSED = new Set(["MONITOR", "SYNC", "PSYNC", "RESET"]);

// What Redis answers, word for word (src/server.c, src/acl.c), so drivers react as they do to Redis.
const NOAUTH = errorReply("NOAUTH Authentication required.");
// (Redis 7.0's wording, which the test's redis-server speaks; 7.2 adds "<proto>" after HELLO.)
const NOAUTH_HELLO = errorReply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
const WRONGPASS = errorReply("WRONGPASS invalid username-password pair or user is disabled.");
const NOPROTO = errorReply("NOPROTO unsupported protocol version");
const isError = (shape: ReplyShape) => shape.type === "-" || shape.type === "!";

export class Session implements Unblockable {
  private authed = false;
  private protocol: 2 | 3 = 2;
  private db?: number;
  private name?: string;
  private readonly subs = { channels: new Set<string>(), patterns: new Set<string>(), shard: new Set<string>() };
  private multi = false;
  private watching = false;
  /** State changes queued inside MULTI: they happen at EXEC. */
  private atExec: (() => void)[] = [];
  private readonly due: Due[] = [];
  private readonly held: Buffer[] = [];
  private upstream?: Upstream;
  private ending = false;
  private closed = false;
  private clientFull = false;
  private readonly framer = new RespFramer(true);

  constructor(private readonly client: TLSSocket, private readonly proxy: ProxyContext) {
    client.setNoDelay(true);
    client.on("data", (d: Buffer) => this.fromClient(d));
    client.on("close", () => this.close());
    client.on("error", () => this.close());
  }

  /** Commands sent upstream whose replies have not all come back. */
  get inFlight(): number {
    return this.sent().length;
  }

  private sent(): Due[] {
    return this.due.filter((d) => !d.local && !d.resend);
  }

  /**
   * The upstream id to unblock when this client's only command in flight is a blocking
   * one that can be sent again. Only then: whatever the server has blocked on this
   * connection is that command, and no reply after it waits behind its new answer.
   */
  blockedOn(): number | undefined {
    const sent = this.sent();
    if (this.transactionOpen || sent.length !== 1 || !sent[0].blocking) return undefined;
    return this.upstream?.clientId;
  }

  unblocking(): void {
    const [due] = this.sent();
    if (due?.blocking) due.unblockSent = true;
  }

  notUnblocked(): void {
    const [due] = this.sent();
    if (due) due.unblockSent = false;
  }

  get transactionOpen(): boolean {
    return this.multi || this.watching;
  }

  /** What a pause waits for on this connection. */
  get busy(): boolean {
    return this.inFlight > 0 || this.transactionOpen;
  }

  get heldCount(): number {
    return this.held.length;
  }

  get connected(): boolean {
    return this.upstream !== undefined;
  }

  /** The proxy resumed: an unblocked command goes again, then the held ones, in the order they came. */
  release(): void {
    this.resendUnblocked();
    for (const frame of this.held.splice(0)) this.take(frame);
  }

  /** Every command came after the unblocked one, so it goes first, on whatever upstream is current. */
  private resendUnblocked(): void {
    for (const due of this.due.filter((d) => d.resend)) {
      due.resend = false;
      due.unblockSent = false;
      this.send(resendFrame(due.blocking!));
      this.proxy.resent();
    }
  }

  /**
   * A new upstream on `server` with this connection's state replayed, ready but not yet
   * used: `commit` swaps it in and closes the old one, `abort` drops it. Called while the
   * proxy is paused and nothing is in flight, so no reply is owed by the old upstream.
   */
  async prepare(server: RedisServer): Promise<{ commit(): void; abort(): void }> {
    if (!this.upstream) return { commit: () => undefined, abort: () => undefined };
    const next = this.open(server);
    await next.ready;
    return {
      commit: () => {
        if (this.closed) return next.close();
        const old = this.upstream;
        this.upstream = next;
        old?.close();
      },
      abort: () => next.close(),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.upstream?.close();
    this.client.destroy();
    this.proxy.removed(this);
  }

  private fromClient(chunk: Buffer): void {
    if (this.ending) return;
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      return this.protocolError(err as Error);
    }
    this.upstream?.cork();
    try {
      for (const frame of frames) this.take(frame);
    } finally {
      this.upstream?.uncork();
    }
  }

  /** Redis answers a protocol error and closes the connection; so does the proxy. */
  private protocolError(err: Error): void {
    this.ending = true;
    this.answer(errorReply(`ERR Protocol error: ${err.message}`), () => this.client.end());
  }

  /** Once one command waits, every later one waits behind it: order is kept. */
  private take(frame: Buffer): void {
    if (this.ending || this.closed) return;
    if (this.held.length) this.held.push(frame);
    else this.dispatch(frame);
  }

  private holds(): boolean {
    return this.proxy.paused && !this.transactionOpen;
  }

  private dispatch(frame: Buffer): void {
    let args: Buffer[];
    try {
      args = commandArgs(frame);
    } catch (err) {
      if (err instanceof RespProtocolError) return this.protocolError(err);
      throw err;
    }
    if (!args.length) return; // a blank inline line: Redis ignores it
    const command = args[0].toString("latin1").toUpperCase();
    if (command === "AUTH") return this.answer(this.auth(args.slice(1)));
    if (command === "HELLO") return this.hello(frame, args);
    if (command === "QUIT") return this.quit();
    if (!this.authed) return this.answer(NOAUTH);
    if (REFUSED.has(command)) return this.answer(errorReply(`ERR ${command} is not supported through ferry's Redis proxy`));
    if (this.holds()) return void this.held.push(frame);
    this.forward(frame, this.dueFor(command, args));
  }

  /** AUTH [user] password: the proxy's client login (user `default` or the client user). */
  private auth(args: Buffer[]): Buffer {
    if (args.length < 1 || args.length > 2) return errorReply("ERR wrong number of arguments for 'auth' command");
    if (!this.loginMatches(args.length === 2 ? args[0].toString() : "default", args[args.length - 1].toString())) return WRONGPASS;
    this.authed = true;
    return OK;
  }

  private loginMatches(user: string, password: string): boolean {
    const userOk = user === "default" || user === this.proxy.clientUser;
    return sameSecret(password, this.proxy.clientPassword) && userOk;
  }

  /**
   * HELLO [protover [AUTH user password] [SETNAME name]]: the login is checked here and
   * never forwarded (the upstream is logged in with the server's credentials); the rest
   * goes to the server, whose answer (its map of server facts) the client gets.
   */
  private hello(frame: Buffer, args: Buffer[]): void {
    const words = args.map((a) => a.toString());
    const protover = words[1];
    if (protover !== undefined && protover !== "2" && protover !== "3") return this.answer(NOPROTO);
    let login: [string, string] | undefined;
    let setname: string | undefined;
    for (let i = 2; i < words.length; i++) {
      const option = words[i].toUpperCase();
      if (option === "AUTH" && i + 2 < words.length) login = [words[++i], words[++i]];
      else if (option === "SETNAME" && i + 1 < words.length) setname = words[++i];
      else return this.answer(errorReply(`ERR Syntax error in HELLO option '${words[i]}'`));
    }
    if (login && !this.loginMatches(...login)) return this.answer(WRONGPASS);
    if (!login && !this.authed) return this.answer(NOAUTH_HELLO);
    if (this.holds()) return void this.held.push(frame);
    this.authed = true;
    const forwarded = encodeCommand(["HELLO", ...(protover ? [protover] : []), ...(setname !== undefined ? ["SETNAME", setname] : [])]);
    this.forward(forwarded, {
      left: 1,
      onReply: () => {
        if (protover) this.protocol = protover === "3" ? 3 : 2;
        if (setname !== undefined) this.name = setname;
      },
    });
  }

  private quit(): void {
    this.ending = true;
    this.answer(OK, () => this.client.end());
  }

  /** What the reply to `command` is, and the connection state it changes. */
  private dueFor(command: string, args: Buffer[]): Due {
    const sub = SUBSCRIBE[command];
    if (sub) return this.subscribe(command, sub, args.slice(1).map((a) => a.toString()));
    // Inside MULTI a command is only queued: what it changes happens at EXEC.
    const queued = this.multi && !["EXEC", "DISCARD", "MULTI", "WATCH"].includes(command);
    const changes = (apply: () => void): Due => ({
      left: 1,
      onReply: (shape) => {
        if (isError(shape)) return;
        if (queued) this.atExec.push(apply);
        else apply();
      },
    });
    switch (command) {
      case "SELECT":
        return changes(() => (this.db = Number(args[1]?.toString())));
      case "CLIENT":
        return args[1]?.toString().toUpperCase() === "SETNAME" ? changes(() => (this.name = args[2]?.toString())) : { left: 1 };
      case "MULTI":
        this.multi = true;
        return { left: 1 };
      case "WATCH":
        if (!this.multi) this.watching = true;
        return { left: 1 };
      case "UNWATCH":
        if (!this.multi) this.watching = false;
        return { left: 1 };
      case "EXEC":
      case "DISCARD":
        return this.endTransaction(command);
      default:
        // Inside MULTI a blocking command is queued, and runs at EXEC without blocking.
        return { left: 1, blocking: this.multi ? undefined : blockingCommand(command, args) };
    }
  }

  private endTransaction(command: string): Due {
    this.multi = false;
    this.watching = false;
    const queued = this.atExec.splice(0);
    return { left: 1, onReply: (shape) => (command === "EXEC" && shape.type === "*" ? queued.forEach((apply) => apply()) : undefined) };
  }

  /**
   * (P|S)(UN)SUBSCRIBE: one confirmation per name; an UNSUBSCRIBE of everything gets one
   * per name subscribed, or a single one when there is none (Redis's pubsub.c).
   */
  private subscribe(command: string, sub: (typeof SUBSCRIBE)[string], names: string[]): Due {
    const set = this.subs[sub.set];
    const left = sub.add || names.length ? names.length : Math.max(1, set.size);
    if (sub.add) names.forEach((n) => set.add(n));
    else if (names.length) names.forEach((n) => set.delete(n));
    else set.clear();
    // No name at all is an arity error: one reply.
    return { left: Math.max(1, left), confirm: command.toLowerCase() };
  }

  private forward(frame: Buffer, due: Due): void {
    this.due.push(due);
    this.send(frame);
  }

  private send(frame: Buffer): void {
    this.upstream ??= this.open(this.proxy.server);
    // Back-pressure: a slow server stops the proxy reading this client, not its memory.
    if (!this.upstream.write(frame) && !this.client.isPaused()) {
      this.client.pause();
      this.upstream.whenWritable(() => this.client.resume());
    }
  }

  private replay(): Replay {
    return {
      protocol: this.protocol, db: this.db, name: this.name,
      subscriptions: (Object.keys(REPLAYED) as (keyof typeof REPLAYED)[]).map((k) => ({ command: REPLAYED[k], names: [...this.subs[k]] })),
    };
  }

  private open(server: RedisServer): Upstream {
    const upstream: Upstream = new Upstream(server, this.proxy.serverCa, this.replay(), {
      reply: (frame) => this.fromUpstream(frame, upstream),
      push: (frame) => this.toClient(frame),
      gone: (err) => this.lost(err, upstream),
    });
    return upstream;
  }

  /**
   * The upstream this client uses failed: the client is closed, so that every command it
   * has in flight fails where it can see it (its driver reconnects), never silently.
   */
  private lost(err: Error, upstream: Upstream): void {
    if (this.upstream !== upstream || this.closed) return;
    this.proxy.log(`redis proxy: lost the server connection ${upstream.where} of a client with ${this.inFlight} command(s) in flight (${err.message.split("\n")[0]}); closing the client, which reconnects`);
    this.close();
  }

  /** Is this frame a push (a published message, RESP3 out-of-band data) rather than the reply `due` waits for? */
  private isPush(shape: ReplyShape, due: Due | undefined, subscriptions: number): boolean {
    if (shape.type === ">") return !(due?.confirm && shape.head === due.confirm);
    // RESP2 has no push type: a subscribed connection's messages are arrays, and it may run
    // nothing but (un)subscribe, PING and QUIT, so no reply to a command looks like one.
    return this.protocol === 2 && shape.type === "*" && subscriptions > 0 && MESSAGES.has(shape.head ?? "");
  }

  private fromUpstream(frame: Buffer, upstream: Upstream): void {
    if (this.upstream !== upstream) return;
    const shape = replyShape(frame);
    const due = this.due[0];
    if (this.isPush(shape, due, upstream.subscriptions)) return this.toClient(frame);
    if (!due || due.local || due.resend) {
      this.proxy.log(`redis proxy: ${upstream.where} sent a reply no command asked for; closing the client`);
      return this.close();
    }
    if (this.unblocked(due, frame)) return;
    if (due.confirm && !isError(shape)) {
      due.left--;
      if (shape.count !== undefined) upstream.subscriptions = shape.count;
    } else {
      due.left = 0;
    }
    if (due.left === 0) due.onReply?.(shape);
    this.toClient(frame);
    if (due.left > 0) return;
    this.due.shift();
    this.flushLocal();
    this.proxy.changed();
  }

  /**
   * The null a CLIENT UNBLOCK made the server answer is not the client's: the command
   * waits to be sent again. Only a null: a reply that carries an element (a job pushed
   * just before the unblock) is the client's, or the job is lost. And only while paused
   * with nothing sent after it: past a resume (a pause given up) the client may have sent
   * more, whose replies come before any resent one, so the null goes to the client, an
   * early nil.
   */
  private unblocked(due: Due, frame: Buffer): boolean {
    if (!due.unblockSent || !isNullReply(frame)) return false;
    if (!this.proxy.paused || this.sent().length !== 1) return false;
    due.resend = true;
    this.proxy.changed();
    return true;
  }

  /** A reply of the proxy's own, after every reply owed before it. */
  private answer(reply: Buffer, after?: () => void): void {
    this.due.push({ left: 1, local: reply, after });
    this.flushLocal();
  }

  private flushLocal(): void {
    while (this.due[0]?.local) {
      const due = this.due.shift()!;
      this.toClient(due.local!);
      due.after?.();
    }
  }

  /** Back-pressure the other way: a client slow to read stops the proxy reading its server. */
  private toClient(frame: Buffer): void {
    if (this.closed) return;
    if (!this.client.write(frame) && !this.clientFull) {
      this.clientFull = true;
      const upstream = this.upstream;
      upstream?.pauseReading();
      this.client.once("drain", () => {
        this.clientFull = false;
        upstream?.resumeReading();
      });
    }
  }
}
