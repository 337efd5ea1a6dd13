// `replicate --strategy copy`: the client-side copy for sources that refuse outside replicas
// (Heroku). Order matters:
//   1. subscribe to keyspace notifications (tail.ts) so no change made from now on is lost;
//   2. repair a gap left by an earlier run that stopped or crashed (reconcile.ts);
//   3. the bulk pass: SCAN every database from its saved cursor, copy batch by batch
//      (copy-keys.ts); each batch and its cursor commit together;
//   4. the catch-up: copy again the keys the tail marked dirty (backlog.ts);
//   5. without --follow: fence, final catch-up, record "covered until" and return (a
//      Pulumi Command must return); with --follow: keep catching up until SIGTERM/SIGINT
//      or until `cutover` asks through ferry:state:meta, then fence and finish.
// A later run, or `cutover` when no follower is alive, repairs the time nobody tailed.
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { FerryError, Progress, sleep } from "../cli/common";
import { DbClients, Endpoint, explainLostConnection } from "./connection";
import { commitBatch, copyBatch, CopyContext, prepareBatch } from "./copy-keys";
import { drainBacklog } from "./backlog";
import { dbKeyCounts } from "./info";
import { BigKeyLimits, canReadWithScript, DEFAULT_BIG_KEY_LIMITS } from "./read-keys";
import { reconcileGap, ReconcileResult } from "./reconcile";
import {
  BIG_PENDING, ConflictPolicy, CopyMeta, deleteMatching, readMeta, readProgress, releaseLock, takeLock, TMP_PREFIX, writeMeta,
} from "./state";
import { Tail } from "./tail";
import { dataKeyCounts } from "./data-keys";
import { claimDbs, newOwnerToken, ownsCopy, takenOver, writeOwnedMeta } from "./owner";

export interface CopyOptions {
  source: Endpoint;
  target: Endpoint;
  /** Undefined: refuse a target that already holds keys. */
  conflict?: ConflictPolicy;
  follow: boolean;
  batchSize: number;
  /** Throttle for a busy source (keys per second); undefined = as fast as possible. */
  maxRate?: number;
  limits?: BigKeyLimits;
  /** Aborted on SIGTERM/SIGINT: stop cleanly, keep state. */
  signal?: AbortSignal;
  progress?: Progress;
  /** With follow: called once the target is caught up (bulk pass and first catch-up done) and the copy starts following. */
  onFollowing?: () => void;
  /** Every key the tail hears changed on the source, as it hears it. */
  onChangedKey?: (db: number, key: Buffer) => void;
}

export interface CopyResult {
  runId: string;
  resumed: boolean;
  dbs: number[];
  copied: number;
  skipped: number;
  bigKeys: number;
  recopied: number;
  deleted: number;
  reconciled?: ReconcileResult;
  seconds: number;
  keysPerSecond: number;
  stoppedBy: "done" | "signal" | "cutover";
}

/** A heartbeat older than this means the follower is gone. */
export const HEARTBEAT_STALE_MS = 5_000;
const HEARTBEAT_EVERY_MS = 1_000;
const IDLE_POLL_MS = 100;
/** Batches read ahead of the one being written: hides round trips on a busy machine. */
const PIPELINE_DEPTH = 8;
/** Big keys copied at once in the background, beside the small keys. */
const BIG_KEY_LANES = 3;

export async function sourceTimeMs(source: Redis): Promise<number> {
  const [sec, usec] = await source.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}

export async function runCopy(opts: CopyOptions): Promise<CopyResult> {
  const source = new DbClients(opts.source);
  const target = new DbClients(opts.target);
  const ctx: CopyContext = { source, target, conflict: "replace", limits: opts.limits ?? DEFAULT_BIG_KEY_LIMITS, owner: newOwnerToken() };
  try {
    return await new CopyRun(ctx, opts).run();
  } catch (err) {
    throw explainLostConnection(err, [source, target]);
  } finally {
    await source.close();
    await target.close();
  }
}

class CopyRun {
  private meta!: CopyMeta;
  private tail!: Tail;
  private publisher!: Redis;
  private lastBeat = 0;
  private readonly started = Date.now();
  private readonly result: CopyResult = {
    runId: "", resumed: false, dbs: [], copied: 0, skipped: 0, bigKeys: 0, recopied: 0, deleted: 0,
    seconds: 0, keysPerSecond: 0, stoppedBy: "done",
  };

  constructor(private readonly ctx: CopyContext, private readonly opts: CopyOptions) {}

  async run(): Promise<CopyResult> {
    this.publisher = await this.ctx.source.db(0);
    if (!(await canReadWithScript(this.publisher))) {
      throw new FerryError("--source refuses EVAL, which the copy reads keys with; see `ferry redis preflight`", 1);
    }
    const previous = await readMeta(this.ctx.target);
    this.meta = previous ? this.resume(previous) : await this.fresh();
    this.ctx.conflict = this.meta.conflict;
    if (!(await takeLock(this.ctx.target, this.meta.runId))) {
      throw new FerryError("another `ferry redis replicate` is copying into --target right now (ferry:state:lock); stop it first", 1);
    }
    // Holding the lease, take the copy over: a process that held it before and stalled
    // inside a batch finds its token gone when it wakes, and writes nothing more.
    await claimDbs(this.ctx.target, [0, ...this.meta.dbs], this.ctx.owner);
    try {
      this.tail = new Tail(this.opts.source, this.ctx.target, this.ctx.owner, (db) => this.noteDb(db), async () => {
        await this.ownState();
      });
      this.tail.observer = this.opts.onChangedKey;
      await this.tail.start();
      const gapSinceMs = previous ? gapStart(previous) : undefined;
      await this.saveMeta({
        runId: this.meta.runId, phase: "copying", following: true, stopRequested: false, coveredUntilMs: undefined,
      });
      await this.beat(true);
      for (const db of this.meta.dbs) await deleteMatching(await this.ctx.target.db(db), `${TMP_PREFIX}*`);
      if (gapSinceMs !== undefined) {
        this.result.reconciled = await reconcileGap(this.ctx, this.meta.dbs, gapSinceMs, this.opts.batchSize);
      }
      await this.bulkPass();
      if (!this.stopWanted()) {
        await this.saveMeta({ phase: "following" });
        await this.catchUp();
        if (this.opts.follow) {
          this.opts.onFollowing?.();
          await this.follow();
        }
      }
      await this.finish();
    } finally {
      await this.tail.stop();
      await releaseLock(this.ctx.target, this.meta.runId);
    }
    this.result.seconds = (Date.now() - this.started) / 1000;
    this.result.keysPerSecond = Math.round(this.result.copied / Math.max(this.result.seconds, 0.001));
    return this.result;
  }

  private async fresh(): Promise<CopyMeta> {
    const present = await dataKeyCounts(this.ctx.target);
    const keysOnTarget = [...present.values()].reduce((a, b) => a + b, 0);
    if (keysOnTarget > 0 && !this.opts.conflict) {
      throw new FerryError(`--target already holds ${keysOnTarget} keys that ferry did not copy there (its own copy is emptied by ferry redis cleanup); choose --conflict replace (source wins) or --conflict skip (target wins)`, 2);
    }
    const counts = await dbKeyCounts(this.publisher);
    const meta: CopyMeta = {
      runId: randomBytes(8).toString("hex"),
      conflict: this.opts.conflict ?? "replace",
      phase: "copying",
      dbs: [...counts.keys()].sort((a, b) => a - b),
      startedAtMs: await sourceTimeMs(this.publisher),
      sourceKeys: [...counts.values()].reduce((a, b) => a + b, 0),
      ownFill: keysOnTarget === 0,
    };
    await writeMeta(this.ctx.target, meta);
    this.result.runId = meta.runId;
    this.result.dbs = meta.dbs;
    return meta;
  }

  private resume(previous: CopyMeta): CopyMeta {
    if (this.opts.conflict && this.opts.conflict !== previous.conflict) {
      throw new FerryError(`a copy with --conflict ${previous.conflict} is in progress on --target; re-run with the same --conflict`, 2);
    }
    this.result.resumed = true;
    this.result.runId = previous.runId;
    this.result.dbs = previous.dbs;
    return previous;
  }

  private async noteDb(db: number): Promise<void> {
    if (this.meta.dbs.includes(db)) return;
    this.meta.dbs = [...this.meta.dbs, db].sort((a, b) => a - b);
    this.result.dbs = this.meta.dbs;
    await this.saveMeta({ dbs: this.meta.dbs });
    await claimDbs(this.ctx.target, [db], this.ctx.owner);
  }

  private async bulkPass(): Promise<void> {
    const total = this.meta.sourceKeys;
    let done = 0;
    for (const db of this.meta.dbs) done += (await readProgress(this.ctx.target, db)).copied;
    this.opts.progress?.start(total, "copy");
    // Big keys go to a background lane with its own connections, so their chunked copies
    // overlap the small keys instead of stalling the in-order commits behind them.
    const lane = new BigKeyLane({ ...this.ctx, source: new DbClients(this.opts.source), target: new DbClients(this.opts.target) });
    try {
      // Big keys an earlier run marked pending and did not finish.
      for (const db of this.meta.dbs) {
        for (const key of (await (await this.ctx.target.db(db)).smembersBuffer(BIG_PENDING))) lane.add(db, key);
      }
      for (const db of [...this.meta.dbs]) {
        const progress = await readProgress(this.ctx.target, db);
        if (progress.done) continue;
        await this.copyDb(db, progress.cursor, lane, (n) => {
          done += n;
          this.opts.progress?.update(done, Math.max(total, done));
        });
        if (this.stopWanted()) break;
      }
      await lane.drain();
    } finally {
      await lane.close();
      this.result.bigKeys += lane.copied;
    }
    if (!this.stopWanted()) this.opts.progress?.stop();
  }

  /**
   * SCAN one database from `cursor`. Up to PIPELINE_DEPTH batches are read from the
   * source while earlier ones are written; writes stay in SCAN order, so the cursor saved
   * with each batch only ever moves forward.
   */
  private async copyDb(db: number, cursor: string, lane: BigKeyLane, onCopied: (n: number) => void): Promise<void> {
    const source = await this.ctx.source.db(db);
    const inFlight: Array<Promise<void>> = [];
    let lastCommit: Promise<void> = Promise.resolve();
    do {
      if (this.stopWanted()) break;
      const [next, keys] = (await source.callBuffer("SCAN", cursor, "COUNT", this.opts.batchSize)) as [Buffer, Buffer[]];
      cursor = next.toString();
      const prepared = prepareBatch(this.ctx, db, keys, { kind: "bulk", cursor }, true);
      prepared.catch(() => undefined); // surfaced through its commit
      lastCommit = lastCommit.then(async () => {
        const batch = await prepared;
        const r = await commitBatch(this.ctx, batch);
        // Only now, with the keys marked pending on the target, may their copy start.
        for (const snap of batch.deferred) lane.add(db, snap.key);
        lane.assertHealthy();
        this.result.copied += r.copied;
        this.result.skipped += r.skipped;
        this.result.bigKeys += r.bigKeys;
        onCopied(r.copied + r.skipped);
      });
      lastCommit.catch(() => undefined); // surfaced when awaited below
      inFlight.push(lastCommit);
      if (inFlight.length >= PIPELINE_DEPTH) await inFlight.shift();
      await this.throttle();
      await this.beat();
    } while (cursor !== "0");
    await lastCommit;
  }

  private async catchUp(): Promise<number> {
    const r = await drainBacklog(this.ctx, this.meta.dbs, this.opts.batchSize);
    this.result.recopied += r.copied;
    this.result.deleted += r.deleted;
    return r.copied + r.deleted;
  }

  /** Keep the target current until told to stop. */
  private async follow(): Promise<void> {
    while (!this.stopWanted()) {
      const moved = await this.catchUp();
      await this.beat();
      if (this.stopWanted()) break;
      if (moved === 0) await sleep(IDLE_POLL_MS);
    }
  }

  /**
   * Fence the tail, stop it, copy what it recorded, and record up to when the target is
   * covered. The tail stops first: events after the fence (keys expiring on the source,
   * which expire on the target by their copied TTL too) must not write dirty keys into a
   * target that `cutover` is about to clean up.
   */
  private async finish(): Promise<void> {
    const fencedAt = await sourceTimeMs(this.publisher);
    await this.tail.fence();
    await this.tail.stop();
    await this.catchUp();
    const bulkDone = (await Promise.all(this.meta.dbs.map((db) => readProgress(this.ctx.target, db)))).every((p) => p.done);
    await this.saveMeta({
      phase: bulkDone ? "stopped" : "copying", following: false, coveredUntilMs: fencedAt, heartbeatMs: fencedAt,
    });
    if (this.opts.signal?.aborted) this.result.stoppedBy = "signal";
  }

  private stopWanted(): boolean {
    this.tail.assertHealthy();
    if (this.opts.signal?.aborted) return true;
    if (this.meta.stopRequested) {
      this.result.stoppedBy = "cutover";
      return true;
    }
    return false;
  }

  /** Heartbeat + lease renewal + pick up a stop request from `cutover`, once a second. */
  private async beat(force = false): Promise<void> {
    if (!force && Date.now() - this.lastBeat < HEARTBEAT_EVERY_MS) return;
    this.lastBeat = Date.now();
    const current = await this.ownState();
    if (!(await takeLock(this.ctx.target, this.meta.runId))) throw new FerryError("lost the copy lease on --target to another process", 1);
    await this.saveMeta({ heartbeatMs: await sourceTimeMs(this.publisher) });
    this.meta.stopRequested = current.stopRequested ?? false;
  }

  /** Meta fields written while this process owns the copy (it claimed it holding the lease). */
  private saveMeta(fields: Partial<CopyMeta>): Promise<void> {
    return writeOwnedMeta(this.ctx.target, this.ctx.owner, fields);
  }

  /**
   * The copy state on the target, still this run's and still this process's to write. A
   * cutover that finished without this run (it took it for dead) removed it: the app may
   * own the target now, so not one more write; a cutover catching up itself right now took
   * it over under the same runId (checked before the lease, the beat and the tail's dirty
   * keys are written; batches check atomically, owner.ts).
   */
  private async ownState(): Promise<CopyMeta> {
    const current = await readMeta(this.ctx.target);
    if (current?.runId !== this.meta.runId) {
      throw new FerryError("the copy state on --target is gone (a cutover finished without this run); stopped without writing more", 1);
    }
    if (!(await ownsCopy(this.ctx.target, this.ctx.owner))) throw takenOver(0);
    return current;
  }

  private async throttle(): Promise<void> {
    if (!this.opts.maxRate) return;
    const aheadMs = (this.result.copied / this.opts.maxRate) * 1000 - (Date.now() - this.started);
    if (aheadMs > 0) await sleep(aheadMs);
  }
}

/**
 * The background copy of big keys. Each is copied in chunks into a temporary key and
 * renamed into place by a script that also removes it from ferry:state:bigpending; the
 * bulk batch that found it committed that mark together with its cursor, so a crash
 * in between leaves the key pending, and the next run copies it first.
 */
class BigKeyLane {
  copied = 0;
  private readonly queue: Array<[number, Buffer]> = [];
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;

  constructor(private readonly ctx: CopyContext) {}

  add(db: number, key: Buffer): void {
    this.queue.push([db, key]);
    this.pump();
  }

  /** Throw the first failure of a background copy, if any. */
  assertHealthy(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  async drain(): Promise<void> {
    while (this.running.size) await Promise.race(this.running);
    this.assertHealthy();
  }

  async close(): Promise<void> {
    while (this.running.size) await Promise.race(this.running);
    await this.ctx.source.close();
    await this.ctx.target.close();
  }

  private pump(): void {
    while (this.running.size < BIG_KEY_LANES && this.queue.length && this.failure === undefined) {
      const [db, key] = this.queue.shift()!;
      const job: Promise<void> = copyBatch(this.ctx, db, [key], { kind: "pending" }).then(
        (r) => {
          this.copied += r.bigKeys;
        },
        (err: unknown) => {
          this.failure ??= err;
        },
      ).finally(() => {
        this.running.delete(job);
        this.pump();
      });
      this.running.add(job);
    }
  }
}

/** Since when changes may have gone unrecorded, judging by how the previous run ended. */
export function gapStart(previous: CopyMeta): number {
  if (previous.coveredUntilMs !== undefined) return previous.coveredUntilMs;
  // A crash: the tail batched its writes for up to a moment before the last heartbeat.
  return (previous.heartbeatMs ?? previous.startedAtMs) - 3_000;
}
