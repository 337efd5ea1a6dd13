// A pause's unblocking (docs/pooler.md, "The Redis half", pause). A pause completes once
// no reply is owed, and an idle Sidekiq's `BRPOP queue 2` owes one for up to 2 s. So
// while a pause waits, each client whose only command in flight is a blocking one that
// can be sent again (redis-blocking.ts) has it ended with `CLIENT UNBLOCK <id> TIMEOUT`,
// from a side connection to the same server with the same login: the server answers it
// as if its timeout ran out, the client's session swallows that null and sends the
// command again after the resume (redis-session.ts).
//
// CLIENT UNBLOCK (https://redis.io/docs/latest/commands/client-unblock/) answers 1 when
// it unblocked the client and 0 when the client was not blocked: its command has not
// reached the server yet, or was answered already (a job pushed just before). A 0 is
// asked again, a little later, for as long as that client's command stays unanswered.
// It needs the @admin, @dangerous and @connection ACL categories. ElastiCache restricts
// no CLIENT command (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ClientConfig.RestrictedCommands.html)
// but an RBAC user's access string may leave them out (`-@dangerous`); Heroku Key-Value
// Store keeps CLIENT (rehearsal/servers/redis.ts). Refused (NOPERM, an unknown command),
// the round stops and the pause waits as it did before; the status says why.
import { encodeCommand } from "./resp";
import { RedisServer, Upstream } from "./redis-upstream";

/** What a round asks of a client's session. */
export interface Unblockable {
  /** The upstream id whose only command in flight is a blocking one that can be sent again; else undefined. */
  blockedOn(): number | undefined;
  /** CLIENT UNBLOCK is on its way for it: a null reply to it is the proxy's from now on. */
  unblocking(): void;
  /** The server refused to unblock it: the null its own timeout brings is the client's. */
  notUnblocked(): void;
}

/** The name the side connection shows in CLIENT LIST. */
export const UNBLOCK_CLIENT_NAME = "ferry-proxy-unblock";
const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 200;

/** One pause's unblocking: a side connection opened at its first CLIENT UNBLOCK, closed with the round. */
export class UnblockRound {
  /** Commands the server unblocked (CLIENT UNBLOCK answered 1). */
  unblocked = 0;
  /** Why this server refused CLIENT UNBLOCK (its first line), when it did. */
  refused?: string;
  private side?: Upstream;
  /** Callers of `ask`, in the order their commands went. */
  private readonly answers: ((reply: Buffer | Error) => void)[] = [];
  /** Clients this round unblocked, is unblocking, or asks again soon. */
  private readonly asking = new Set<Unblockable>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly server: RedisServer,
    private readonly serverCa: string | undefined,
    /** Called when an answer came: a pause may be complete. */
    private readonly changed: () => void,
    private readonly log: (line: string) => void,
  ) {}

  /** CLIENT UNBLOCKs sent and not answered: a pause waits for them, so none reaches a command sent again. */
  get answersDue(): number {
    return this.answers.length;
  }

  /** Every client blocked on a command that can be sent again, and not being unblocked, is. */
  sweep(clients: Iterable<Unblockable>): void {
    if (this.closed || this.refused !== undefined) return;
    for (const client of clients) if (!this.asking.has(client) && client.blockedOn() !== undefined) void this.unblock(client, FIRST_RETRY_MS);
  }

  close(): void {
    this.closed = true;
    this.retries.forEach(clearTimeout);
    this.side?.close();
    this.side = undefined;
    for (const answer of this.answers.splice(0)) answer(new Error("the pause ended"));
  }

  private async unblock(client: Unblockable, retryMs: number): Promise<void> {
    const id = client.blockedOn();
    if (id === undefined || this.closed || this.refused !== undefined) return void this.asking.delete(client);
    this.asking.add(client);
    client.unblocking();
    const reply = await this.ask(["CLIENT", "UNBLOCK", String(id), "TIMEOUT"]);
    // Lost with the side connection, the answer is unknown: the client keeps its mark, so
    // a null is sent again (a longer BRPOP), and any other reply goes to it all the same.
    if (reply instanceof Error) {
      this.refuse(reply.message);
    } else if (reply[0] !== 0x3a /* : */) {
      client.notUnblocked();
      this.refuse(reply.toString("utf8", 1).trim());
    } else if (reply.toString("latin1", 1, 2) === "1") {
      // Still asked: its null is on the way, and nothing else of it can block in this pause.
      this.unblocked++;
    } else {
      // Not blocked (yet, or any more): its mark stays, as the reply it gets may be on its
      // way already. Safe either way: only a null is ever held back (redis-session.ts).
      this.later(() => void this.unblock(client, Math.min(2 * retryMs, MAX_RETRY_MS)), retryMs);
    }
    this.changed();
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      fn();
    }, ms);
    this.retries.add(timer);
  }

  /** The round stops: the pause waits for the blocked commands, as without it. */
  private refuse(reason: string): void {
    if (this.closed || this.refused !== undefined) return;
    this.refused = reason.split("\n")[0].slice(0, 200);
    this.asking.clear();
    this.log(`redis proxy: CLIENT UNBLOCK is not available on ${this.server.host}:${this.server.port} (${this.refused}); the pause waits for blocked commands to time out`);
  }

  /** One command on the side connection, opened (logged in with the server URL's credentials) at the first. */
  private ask(command: string[]): Promise<Buffer | Error> {
    const side = (this.side ??= this.open());
    return new Promise((resolve) => {
      this.answers.push(resolve);
      side.write(encodeCommand(command));
    });
  }

  private open(): Upstream {
    const side: Upstream = new Upstream(this.server, this.serverCa, { protocol: 2, name: UNBLOCK_CLIENT_NAME, subscriptions: [] }, {
      reply: (frame) => this.answers.shift()?.(frame),
      push: () => undefined,
      gone: (err) => {
        if (this.side === side) this.side = undefined;
        for (const answer of this.answers.splice(0)) answer(err);
      },
    });
    return side;
  }
}
