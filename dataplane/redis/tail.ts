// The live tail: a subscriber to the source's keyspace notifications that records every
// key changed, deleted or expired as "dirty" on the target (ferry:state:dirty, per
// database), where the catch-up copies it again. Notifications are fire-and-forget, so
// the tail must be subscribed BEFORE the bulk pass starts, and a tail that was down is a
// gap that reconcile.ts repairs. A fence (PING on the subscribed connection itself: its
// reply comes after every notification the server queued for that connection before it)
// tells when all changes made up to a moment have been recorded. It writes nothing, so it
// works on a source whose writes are paused (clients.ts, --fence dynos-stopped).
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { connect, DbClients, Endpoint } from "./connection";
import { markDirty } from "./owner";

const KEYSPACE = Buffer.from("__keyspace@");
const KEYEVENT = Buffer.from("__keyevent@");
const FLUSH_EVERY_MS = 50;
const FLUSH_AT_KEYS = 2000;

/** Which db and key a notification is about (K: key in the channel; E: key in the message). */
export function parseNotification(channel: Buffer, message: Buffer): { db: number; key: Buffer } | undefined {
  const isSpace = channel.subarray(0, KEYSPACE.length).equals(KEYSPACE);
  const isEvent = channel.subarray(0, KEYEVENT.length).equals(KEYEVENT);
  if (!isSpace && !isEvent) return undefined;
  const sep = channel.indexOf("__:", KEYSPACE.length);
  if (sep < 0) return undefined;
  const db = Number(channel.subarray(KEYSPACE.length, sep).toString());
  const key = isSpace ? channel.subarray(sep + 3) : message;
  return Number.isInteger(db) ? { db, key: Buffer.from(key) } : undefined;
}

export class Tail {
  private subscriber?: Redis;
  private pending = new Map<number, Map<string, Buffer>>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private failure?: Error;
  /** Keys recorded as dirty since start (counting repeats). */
  recorded = 0;
  /** Told every changed key as its notification arrives (the cutover's window check: window-follower.ts). */
  observer?: (db: number, key: Buffer) => void;

  constructor(
    private readonly source: Endpoint,
    private readonly target: DbClients,
    /** The copier's fencing token (owner.ts): dirty keys are written only where it owns the database. */
    private readonly owner: string,
    private readonly onNewDb: (db: number) => Promise<void> = async () => {},
    /** Throws when the target is no longer this copy's to write (checked before each write). */
    private readonly assertOwner: () => Promise<void> = async () => {},
  ) {}

  /** Subscribe; resolves once the server confirmed the subscriptions. */
  async start(): Promise<void> {
    const sub = await connect(this.source);
    this.subscriber = sub;
    sub.on("pmessageBuffer", (_pattern: Buffer, channel: Buffer, message: Buffer) => this.onNotification(channel, message));
    sub.on("close", () => {
      if (this.subscriber) this.fail(new Error("lost the keyspace notification stream from --source; re-run to reconcile the gap"));
    });
    await sub.psubscribe("__keyspace@*__:*", "__keyevent@*__:*");
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
  }

  /** Throws if the stream broke (changes may have been missed). */
  assertHealthy(): void {
    if (this.failure) throw this.failure;
  }

  private fail(err: Error): void {
    this.failure ??= err;
  }

  private onNotification(channel: Buffer, message: Buffer): void {
    const parsed = parseNotification(channel, message);
    if (!parsed) return;
    let keys = this.pending.get(parsed.db);
    if (!keys) this.pending.set(parsed.db, (keys = new Map()));
    keys.set(parsed.key.toString("latin1"), parsed.key);
    this.recorded++;
    this.observer?.(parsed.db, parsed.key);
    if (keys.size >= FLUSH_AT_KEYS) void this.flush();
  }

  /** Write buffered dirty keys to the target; flushes run one after another. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if ([...this.pending.values()].every((keys) => keys.size === 0)) return;
      await this.assertOwner();
      const batches = [...this.pending.entries()];
      this.pending = new Map();
      for (const [db, keys] of batches) {
        if (keys.size === 0) continue;
        await this.onNewDb(db);
        await markDirty(await this.target.db(db), { db, owner: this.owner }, [...keys.values()]);
      }
    }).catch((err: Error) => this.fail(err));
    return this.flushing;
  }

  /**
   * Wait until every change the source made before this call is recorded as dirty on
   * the target: a PING on the subscribed connection, whose reply the server sends after
   * every notification it queued there before (one connection, in order; ioredis emits
   * each message as it parses it, before the later reply resolves).
   */
  async fence(timeoutMs = 30_000): Promise<void> {
    const sub = this.subscriber;
    if (!sub) throw new Error("the tail is not running");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the fence did not come back through the notification stream")), timeoutMs);
    });
    try {
      await Promise.race([sub.ping(randomBytes(8).toString("hex")), late]);
    } finally {
      clearTimeout(timer);
    }
    this.assertHealthy();
    await this.flush();
    this.assertHealthy();
  }

  /** Unsubscribe, then write what was recorded; nothing is written after this returns. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const sub = this.subscriber;
    this.subscriber = undefined;
    sub?.disconnect();
    await this.flush();
  }
}
