// `cutover`, once the app's writes have stopped:
//   replicaof: wait for equal offsets, REPLICAOF NO ONE, verify.
//   copy: if a follower is alive, ask it to finish (ferry:state:meta stopRequested) and
//         wait for its clean stop; otherwise run the final catch-up here (the same code as
//         `replicate --mode copy` without --follow: reconcile the untailed time, finish the
//         bulk pass, drain the backlog behind a fence). Then verify; on success remove
//         ferry:state:* from the target so the app starts on clean data.
// Exit 1 (state kept, nothing promoted twice) when the target does not equal the source.
import { FerryError, Progress, sleep } from "../cli/common";
import { DbClients, Endpoint } from "./connection";
import { CopyResult, runCopy } from "./copy";
import { promoteReplica, ReplicaStatus } from "./replicaof";
import { BigKeyLimits } from "./read-keys";
import { clearState, LOCK, readMeta, writeMeta } from "./state";
import { copyStatus } from "./status";
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
}

export interface CutoverResult {
  ok: boolean;
  mode: "replicaof" | "copy";
  seconds: number;
  replica?: ReplicaStatus;
  catchUp?: { by: "follower" | "cutover"; copy?: CopyResult };
  verify: VerifyResult;
  stateKeysRemoved?: number;
}

export async function cutover(opts: CutoverOptions): Promise<CutoverResult> {
  const started = Date.now();
  let replica: ReplicaStatus | undefined;
  let catchUp: CutoverResult["catchUp"];
  if (opts.mode === "replicaof") replica = await promoteReplica(opts.source, opts.target, opts.timeoutMs);
  else catchUp = await finishCopy(opts);
  const verified = await verify({
    source: opts.source, target: opts.target, samplePct: opts.samplePct, ttlToleranceMs: opts.ttlToleranceMs, batchSize: opts.batchSize,
  });
  let stateKeysRemoved: number | undefined;
  if (verified.ok && opts.mode === "copy") stateKeysRemoved = await removeCopyState(opts.target);
  return { ok: verified.ok, mode: opts.mode, seconds: (Date.now() - started) / 1000, replica, catchUp, verify: verified, stateKeysRemoved };
}

async function finishCopy(opts: CutoverOptions): Promise<CutoverResult["catchUp"]> {
  const source = new DbClients(opts.source);
  const target = new DbClients(opts.target);
  try {
    const status = await copyStatus(source, target);
    if (!status) throw new FerryError("no copy in progress on --target (no ferry:state:meta); run `ferry redis replicate --mode copy` first", 1);
    if (status.followerAlive || (await followerHoldsLease(target))) {
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
    if (status && !status.followerAlive && status.heartbeatAgeMs !== undefined && !(await followerHoldsLease(target))) return false;
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

async function removeCopyState(targetEp: Endpoint): Promise<number> {
  const target = new DbClients(targetEp);
  try {
    const meta = await readMeta(target);
    return await clearState(target, meta?.dbs ?? [0]);
  } finally {
    await target.close();
  }
}
