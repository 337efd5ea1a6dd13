// The follower `ferry cutover` runs in its own process for a Redis copy nobody follows.
// The program's `redis replicate` is a Command that returns, so nothing tails between
// replicate and cutover, and without this the cutover would find the keys written in
// that time by comparing every key inside the write window: at 100,000 keys that was
// 16.9 s of a 30.1 s window (docs/redis.md). Before the fence, while the app still
// writes, the follower repairs that time, tails from then on, and a full verify runs;
// inside the window only the keys changed since are copied and compared:
//   start          the copy resumed with a live tail (copy.ts), until caught up
//   verifyEarly    every key compared; from its first read on, each key the tail hears
//                  changed is noted, and each key found differing too
//   finish         (after the fence) the tail fenced, the noted keys copied, the copy stopped
//   windowKeys     what the window's verify compares (verifyKeys): a key outside them
//                  was equal in the early verify and has not changed since
import { CopyResult, runCopy } from "./copy";
import { CutoverOptions, followerRunning } from "./cutover";
import { DbClients } from "./connection";
import { copyStatus } from "./status";
import { verify, VerifyResult } from "./verify";

export interface WindowFollower {
  /** Resolves once the target is caught up and followed; rejects if the follower failed first. */
  ready: Promise<void>;
  /** Before the fence: the full verify, noting from its start every key changed or differing. */
  verifyEarly(): Promise<VerifyResult>;
  /** After the fence: the tail fenced, the last changed keys copied, the copy stopped. Idempotent. */
  finish(): Promise<CopyResult>;
  /**
   * The keys the window's verify compares, by database; undefined when it must compare
   * every key: the early verify did not run to its end, or the follower did not reach its
   * clean stop (a tail that broke may have missed changes).
   */
  windowKeys(): Map<number, Buffer[]> | undefined;
}

/** Keys by database, each once (by its bytes). */
class KeySet {
  private readonly byDb = new Map<number, Map<string, Buffer>>();
  size = 0;

  add(db: number, key: Buffer): void {
    let keys = this.byDb.get(db);
    if (!keys) this.byDb.set(db, (keys = new Map()));
    const id = key.toString("latin1");
    if (keys.has(id)) return;
    keys.set(id, Buffer.from(key));
    this.size++;
  }

  toMap(): Map<number, Buffer[]> {
    return new Map([...this.byDb].map(([db, keys]) => [db, [...keys.values()]]));
  }
}

/**
 * Started before the fence; undefined for a replica, and when a follower is already alive
 * (the switch asks that one to finish, and the window compares every key).
 */
export async function followUntilFence(opts: CutoverOptions): Promise<WindowFollower | undefined> {
  if (opts.mode !== "copy" || (await followerAlive(opts))) return undefined;
  const stop = new AbortController();
  let following!: () => void;
  const caughtUp = new Promise<void>((resolve) => (following = resolve));
  let noting: KeySet | undefined;
  const running = runCopy({
    source: opts.source, target: opts.target, follow: true, batchSize: opts.batchSize, limits: opts.limits, progress: opts.progress,
    signal: stop.signal, onFollowing: following, onChangedKey: (db, key) => noting?.add(db, key),
  });
  running.catch(() => undefined); // observed through ready and finish
  let verifiedEarly = false;
  let stoppedCleanly = false;
  const stopped = running.then(() => void (stoppedCleanly = true));
  stopped.catch(() => undefined);
  return {
    ready: Promise.race([caughtUp, running.then(() => Promise.reject(new Error("the follower stopped before it caught up")))]),
    async verifyEarly() {
      noting = new KeySet();
      const keys = noting;
      const result = await verify({
        source: opts.source, target: opts.target, samplePct: opts.samplePct, ttlToleranceMs: opts.ttlToleranceMs, batchSize: opts.batchSize,
        onDifferent: (db, key) => keys.add(db, key),
      });
      verifiedEarly = true;
      return result;
    },
    async finish() {
      stop.abort();
      const result = await running;
      await stopped;
      return result;
    },
    windowKeys: () => (verifiedEarly && stoppedCleanly && noting ? noting.toMap() : undefined),
  };
}

async function followerAlive(opts: CutoverOptions): Promise<boolean> {
  const source = new DbClients(opts.source);
  const target = new DbClients(opts.target);
  try {
    return await followerRunning(target, await copyStatus(source, target));
  } finally {
    await source.close();
    await target.close();
  }
}
