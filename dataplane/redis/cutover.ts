// `cutover`, once the app's writes have stopped:
//   replicaof: wait for equal offsets, REPLICAOF NO ONE, verify.
//   copy: if a follower is alive, ask it to finish (ferry:state:meta stopRequested) and
//         wait for its clean stop; otherwise run the final catch-up here (the same code as
//         `replicate --strategy copy` without --follow: reconcile the untailed time, finish the
//         bulk pass, drain the backlog behind a fence). Then verify; on success remove
//         ferry:state:* from the target so the app starts on clean data.
// First, before anything changes, the target must be able to keep the cutover mark
// (mark.ts). Then the source's writers are fenced (fence.ts): a client still pointed at
// the source gets NOPERM instead of writing into a copy about to be left behind; where
// the source refuses ACLs, --fence dynos-stopped holds every other client's writes
// instead (CLIENT PAUSE WRITE, clients.ts), the app's own dynos stopped by the program. On success the target is marked as cut over (a
// rollback then refuses); on failure the fence is lifted, so a cutover whose gate is not
// met leaves the source writable.
// Exit 1 (state kept, nothing promoted twice) when the target does not equal the source.
import { FerryError, Progress, sleep } from "../cli/common";
import { DbClients, Endpoint } from "./connection";
import { CopyResult, runCopy } from "./copy";
import { markOwnFill, promoteReplica, ReplicaStatus } from "./replicaof";
import { BigKeyLimits } from "./read-keys";
import { clearState, FILL, LOCK, readMeta, writeMeta } from "./state";
import { dataKeyCounts } from "./data-keys";
import { pauseWriters } from "./clients";
import { FenceRecord, fenceWriters, FENCE_KEY, RedisFence, unfenceWriters } from "./fence";
import { assertCanMark, cutoverMark, markCutover, markProblem } from "./mark";
import { wakeQuieted } from "./sidekiq";
import { copyStatus, CopyStatus, status } from "./status";
import { verify, VerifyResult } from "./verify";

export interface CutoverOptions {
  source: Endpoint;
  target: Endpoint;
  mode: "replicaof" | "copy";
  timeoutMs: number;
  samplePct: number;
  ttlToleranceMs: number;
  batchSize: number;
  limits?: BigKeyLimits;
  progress?: Progress;
  /** How the source's writers are kept out (default acl); dynos-stopped: checked, not assumed (clients.ts). */
  fence?: RedisFence;
}

export interface CutoverResult {
  ok: boolean;
  mode: "replicaof" | "copy";
  seconds: number;
  replica?: ReplicaStatus;
  catchUp?: CatchUp;
  verify: VerifyResult;
  stateKeysRemoved?: number;
  /** Whose writes were fenced on the source (absent with --fence dynos-stopped). */
  fence?: FenceRecord;
}

async function withClients<T>(ep: Endpoint, fn: (c: DbClients) => Promise<T>): Promise<T> {
  const c = new DbClients(ep);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** The per-store cutover, as a list of steps (the combined `ferry cutover` calls the same ones). */
export async function cutover(opts: CutoverOptions): Promise<CutoverResult> {
  const started = Date.now();
  await withClients(opts.target, assertCanMark);
  const fence = await fenceSource(opts);
  let switched: Switched;
  let verified: VerifyResult;
  try {
    switched = await switchTarget(opts);
    verified = await verifyTarget(opts);
  } catch (err) {
    await liftFence(opts);
    throw err;
  }
  if (!verified.ok) {
    await liftFence(opts);
    return { ok: false, mode: opts.mode, seconds: (Date.now() - started) / 1000, ...switched, verify: verified };
  }
  const stateKeysRemoved = await openTarget(opts);
  return { ok: true, mode: opts.mode, seconds: (Date.now() - started) / 1000, ...switched, verify: verified, stateKeysRemoved, fence };
}

/**
 * The source's writers fenced (idempotent: an existing fence is kept, and checked); with
 * --fence dynos-stopped, every other client's writes held (clients.ts pauseWriters).
 */
export async function fenceSource(opts: Pick<CutoverOptions, "source" | "fence">): Promise<FenceRecord | undefined> {
  if (opts.fence === "dynos-stopped") return withClients(opts.source, pauseWriters);
  return withClients(opts.source, fenceWriters);
}

/** Give the source back: the fence lifted (nothing to do without one), then the Sidekiq processes the drain quieted woken. */
export async function liftFence(opts: Pick<CutoverOptions, "source">): Promise<{ unfenced?: FenceRecord; woken: number }> {
  const unfenced = await withClients(opts.source, unfenceWriters);
  return { unfenced, woken: await wakeQuieted(opts.source) };
}

/**
 * Who copied the last changes: a `replicate --follow` that was running, the follower the
 * cutover started before its fence (window-follower), or the cutover itself after the fence.
 */
export interface CatchUp {
  by: "follower" | "window-follower" | "cutover";
  copy?: CopyResult;
}

export interface Switched {
  replica?: ReplicaStatus;
  catchUp?: CatchUp;
}

/** The target has everything the source has and stands alone: the replica promoted, or the copy finished. */
export async function switchTarget(opts: CutoverOptions, follower?: { finish(): Promise<CopyResult> }): Promise<Switched> {
  if (opts.mode === "replicaof") return { replica: await promoteReplica(opts.source, opts.target, opts.timeoutMs) };
  const finished = await follower?.finish().catch(() => undefined);
  if (finished) return { catchUp: { by: "window-follower", copy: finished } };
  return { catchUp: await finishCopy(opts) };
}

export function verifyTarget(opts: CutoverOptions): Promise<VerifyResult> {
  return verify({ source: opts.source, target: opts.target, samplePct: opts.samplePct, ttlToleranceMs: opts.ttlToleranceMs, batchSize: opts.batchSize });
}

/**
 * The target is the primary: a copy's state keys removed (the app starts on clean data),
 * or the fence record a promoted replica carries from the source dropped (the source
 * keeps its own); then the cutover mark (a rollback refuses from here on). Idempotent.
 */
export async function openTarget(opts: Pick<CutoverOptions, "target" | "mode">): Promise<number | undefined> {
  let stateKeysRemoved: number | undefined;
  if (opts.mode === "copy") stateKeysRemoved = await removeCopyState(opts.target);
  else await withClients(opts.target, async (t) => (await t.db(0)).del(FENCE_KEY, FILL));
  await withClients(opts.target, (t) => markCutover(t, opts.mode));
  return stateKeysRemoved;
}

export interface CleanupResult {
  ok: boolean;
  actions: string[];
}

/**
 * Undo replicate on the target (lowering ferry:replicate, e.g. after a rollback), so that
 * raising it again starts over: a replica stops following the source; what ferry filled
 * the target with is emptied (a replica's data, promoted or not, is all the source's; a
 * copy that began on an empty target put every key there). Keys ferry did not put there
 * (a copy begun with --conflict on a target that held data) are kept, with only the
 * copy's state removed, and the next replicate refuses them in one line. Once the target
 * is the primary (cut over) nothing is touched: its data is the app's.
 */
export async function cleanup(target: Endpoint): Promise<CleanupResult> {
  return withClients(target, async (t) => {
    const db0 = await t.db(0);
    if (await cutoverMark(t)) return { ok: true, actions: ["the target is the primary (cut over): nothing to tear down"] };
    if (await db0.exists(LOCK)) throw new FerryError("refusing: a ferry redis replicate is copying into --target right now (ferry:state:lock); stop it, then rerun cleanup", 1);
    const actions: string[] = [];
    if (/role:slave/.test(await db0.info("replication"))) {
      await db0.call("REPLICAOF", "NO", "ONE");
      await markOwnFill(db0);
      actions.push("the target no longer replicates the source (REPLICAOF NO ONE)");
    }
    const meta = await readMeta(t);
    if (meta?.ownFill || (await db0.exists(FILL))) {
      const keys = [...(await dataKeyCounts(t)).values()].reduce((a, b) => a + b, 0);
      // FLUSHALL leaves function libraries (ferry's cutover mark is one): only keys go.
      await db0.flushall();
      actions.push(`the target emptied: its ${keys} key(s) were ferry's copy of the source; replicate starts over`);
    } else if (meta) {
      actions.push(`copy state removed (${await clearState(t, meta.dbs)} keys); the target's other keys kept: ferry did not put them all there (the copy began with --conflict ${meta.conflict})`);
    }
    return { ok: true, actions: actions.length ? actions : ["nothing to tear down"] };
  });
}

/** When and how the target became the primary, if it did. */
export function cutoverDone(target: Endpoint): Promise<{ mode: string; at: string } | undefined> {
  return withClients(target, cutoverMark);
}

export interface RollbackResult {
  ok: boolean;
  /** The fence lifted (absent when there was none). */
  unfenced?: FenceRecord;
  /** Sidekiq processes a cutover had quieted, stopped for their platform to start again. */
  woken?: number;
}

/**
 * Back to the source, before the target took writes: lift the fence. Once the target is
 * the primary (`ferry:state:cutover`), refuse: it may hold writes the source never saw.
 */
export async function rollback(source: Endpoint, target: Endpoint, check = false): Promise<RollbackResult> {
  const mark = await cutoverDone(target);
  if (mark) {
    throw new FerryError(
      `refusing to roll back: the target Redis became the primary at ${mark.at} and may hold writes the source never saw; going back needs the source emptied and a copy from the target (ferry redis replicate with --source and --target swapped)`,
      1,
    );
  }
  if (check) return { ok: true };
  const { unfenced, woken } = await liftFence({ source });
  return { ok: true, unfenced, ...(woken ? { woken } : {}) };
}

async function finishCopy(opts: CutoverOptions): Promise<CutoverResult["catchUp"]> {
  const source = new DbClients(opts.source);
  const target = new DbClients(opts.target);
  try {
    const status = await copyStatus(source, target);
    if (!status) throw new FerryError("no copy in progress on --target (no ferry:state:meta); run `ferry redis replicate --strategy copy` first", 1);
    if (await followerRunning(target, status)) {
      await writeMeta(target, { stopRequested: true });
      if (await followerStopped(source, target, opts.timeoutMs)) return { by: "follower" };
    }
  } finally {
    await source.close();
    await target.close();
  }
  // No live follower (or it died while finishing): catch up here.
  const copy = await runCopy({
    source: opts.source, target: opts.target, follow: false, batchSize: opts.batchSize, limits: opts.limits, progress: opts.progress,
  });
  return { by: "cutover", copy };
}

/** True once the follower stopped cleanly; false if it went silent (crashed) first. */
async function followerStopped(source: DbClients, target: DbClients, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const meta = await readMeta(target);
    if (meta && !meta.following && meta.phase === "stopped") return true;
    const status = await copyStatus(source, target);
    if (status?.heartbeatAgeMs !== undefined && !(await followerRunning(target, status))) return false;
    await sleep(100);
  }
  throw new FerryError(`the follower did not finish within ${timeoutMs / 1000}s (backlog still draining? are the app's writes stopped?)`, 1);
}

/**
 * A follower whose heartbeat is late but whose lease (15 s, renewed with each beat) is
 * still held may be slow (a busy machine), not gone: racing it with a second copier
 * would leave it running on after the cutover, writing into the app's new target.
 */
async function followerHoldsLease(target: DbClients): Promise<boolean> {
  const meta = await readMeta(target);
  if (!meta?.following) return false;
  return (await (await target.db(0)).get(LOCK)) === meta.runId;
}

/** A follower is running: its heartbeat is fresh, or it still holds its lease (slow, not gone). */
export async function followerRunning(target: DbClients, copy: CopyStatus | undefined): Promise<boolean> {
  return copy?.followerAlive === true || (await followerHoldsLease(target));
}

async function removeCopyState(targetEp: Endpoint): Promise<number> {
  const target = new DbClients(targetEp);
  try {
    const meta = await readMeta(target);
    return await clearState(target, meta?.dbs ?? [0]);
  } finally {
    await target.close();
  }
}

/** The fence an earlier cutover put on the source, if any. */
export function fenceOnSource(source: Endpoint): Promise<FenceRecord | undefined> {
  return withClients(source, async (s) => {
    const raw = await (await s.db(0)).get(FENCE_KEY);
    return raw ? (JSON.parse(raw) as FenceRecord) : undefined;
  });
}

/**
 * Before any fence: what replicate started is still running (a replica with its link up,
 * or a copy's state on the target); otherwise one line saying what is wrong. Read-only.
 */
export async function switchProblem(opts: Pick<CutoverOptions, "source" | "target" | "mode" | "fence">): Promise<string | undefined> {
  const cannotMark = await withClients(opts.target, markProblem);
  if (cannotMark) return cannotMark;
  const now = await status(opts.source, opts.target);
  if (opts.mode === "replicaof") {
    if (now.mode !== "replicaof") return "the target Redis is not a replica of the source: run ferry redis replicate --strategy replicaof";
    return now.replica.linkUp && !now.replica.syncInProgress ? undefined : `the replica's link is ${now.replica.linkUp ? "up but still in its initial sync" : "down"}`;
  }
  return now.mode === "copy" ? undefined : "no copy in progress on the target Redis: run ferry redis replicate --strategy copy";
}

/** replicaof: the target no longer replicates (an earlier run promoted it). */
export function promotedAlready(opts: Pick<CutoverOptions, "target" | "mode">): Promise<boolean> {
  if (opts.mode !== "replicaof") return Promise.resolve(false);
  return withClients(opts.target, async (t) => !/role:slave/.test(await (await t.db(0)).info("replication")));
}
