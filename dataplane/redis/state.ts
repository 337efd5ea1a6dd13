// Where a copy keeps its state: a small key namespace on the TARGET, `ferry:state:*`.
// On the target because every process that needs it (the follower, `status`, `cutover`,
// a re-run after a crash, possibly on another machine) can reach the target, while a local
// file would be invisible to them. It holds cursors, counters and key names, never a secret.
// Copy and verify skip the namespace; a successful cutover removes it.
//
//   db 0  ferry:state:meta      hash: run settings, phase, heartbeat, stop request
//   db 0  ferry:state:lock      the running copier's lease (SET PX NX)
//   db N  ferry:state:progress  hash: SCAN cursor, done flag, copied/skipped counters
//   db N  ferry:state:dirty     set: keys changed on the source, to copy again
//   db N  ferry:state:inflight  set: the dirty keys being copied right now (kept until done)
//   db N  ferry:state:skipped   set: keys kept as the target had them (--conflict skip)
//   db N  ferry:state:bigpending set: big keys found by the bulk pass (committed with its cursor),
//                               copied in the background; removed as each one lands
//   db N  ferry:state:tmp:*     big keys being assembled in chunks before a RENAME
//   db N  ferry:state:owner     the fencing token of the process writing the copy (owner.ts): batch
//                               scripts refuse to write unless it is theirs
//   db 0  ferry:state:fence     on the SOURCE: the fenced user's command rules, until unfenced (fence.ts)
//   db A  ferry:state:quieted   on the SOURCE, in the app's own db: the Sidekiq processes a cutover
//                               quieted, woken (TERM) if it gives the source back (sidekiq.ts)
//   db 0  ferry:state:fill      a former replica's data is all ferry's copy of the source (written as
//                               it stops replicating; the cutover's open removes it): cleanup may empty it
// The cutover mark (the target became the primary) is no key: it must outlive the app's
// FLUSHALL, so it is a function library on the target (mark.ts).
import Redis from "ioredis";
import { DbClients } from "./connection";

export const STATE_PREFIX = "ferry:state:";
export const META = `${STATE_PREFIX}meta`;
export const LOCK = `${STATE_PREFIX}lock`;
export const PROGRESS = `${STATE_PREFIX}progress`;
export const DIRTY = `${STATE_PREFIX}dirty`;
export const INFLIGHT = `${STATE_PREFIX}inflight`;
export const SKIPPED = `${STATE_PREFIX}skipped`;
export const BIG_PENDING = `${STATE_PREFIX}bigpending`;
export const TMP_PREFIX = `${STATE_PREFIX}tmp:`;
export const OWNER = `${STATE_PREFIX}owner`;
export const FENCE = `${STATE_PREFIX}fence`;
export const FILL = `${STATE_PREFIX}fill`;
export const QUIETED = `${STATE_PREFIX}quieted`;

const STATE_PREFIX_BYTES = Buffer.from(STATE_PREFIX);

export function isStateKey(key: Buffer): boolean {
  return key.length >= STATE_PREFIX_BYTES.length && key.compare(STATE_PREFIX_BYTES, 0, STATE_PREFIX_BYTES.length, 0, STATE_PREFIX_BYTES.length) === 0;
}

export type ConflictPolicy = "replace" | "skip";
export type CopyPhase = "copying" | "following" | "caught-up" | "stopped";

/** The run-wide record in `ferry:state:meta`. Times are in the SOURCE's clock (ms). */
export interface CopyMeta {
  runId: string;
  conflict: ConflictPolicy;
  phase: CopyPhase;
  dbs: number[];
  startedAtMs: number;
  /** Source key count when the copy started, for progress. */
  sourceKeys: number;
  /** Last sign of life of the tail (notifications subscriber). */
  heartbeatMs?: number;
  /** Every change before this time is copied or in a dirty set (set by a clean stop). */
  coveredUntilMs?: number;
  /** Changes since this time may have been missed by the tail and must be reconciled. */
  gapSinceMs?: number;
  following?: boolean;
  stopRequested?: boolean;
  /** The copy began on an empty target: every key on it is ferry's copy (cleanup may empty it). */
  ownFill?: boolean;
}

export async function readMeta(target: DbClients): Promise<CopyMeta | undefined> {
  const raw = await (await target.db(0)).hgetall(META);
  if (!raw.runId) return undefined;
  const num = (v?: string) => (v === undefined || v === "" ? undefined : Number(v));
  return {
    runId: raw.runId,
    conflict: raw.conflict === "skip" ? "skip" : "replace",
    phase: (raw.phase as CopyPhase) ?? "copying",
    dbs: raw.dbs ? raw.dbs.split(",").map(Number) : [],
    startedAtMs: Number(raw.startedAtMs),
    sourceKeys: Number(raw.sourceKeys ?? 0),
    heartbeatMs: num(raw.heartbeatMs),
    coveredUntilMs: num(raw.coveredUntilMs),
    gapSinceMs: num(raw.gapSinceMs),
    following: raw.following === "1",
    stopRequested: raw.stopRequested === "1",
    ownFill: raw.ownFill === "1",
  };
}

/** Meta fields as the hash stores them: those to set, and those `undefined` removes. */
export function metaChanges(fields: Partial<CopyMeta>): { set: Record<string, string>; del: string[] } {
  const set: Record<string, string> = {};
  const del: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) del.push(k);
    else if (Array.isArray(v)) set[k] = v.join(",");
    else if (typeof v === "boolean") set[k] = v ? "1" : "0";
    else set[k] = String(v);
  }
  return { set, del };
}

/** Write some meta fields; `undefined` removes a field. */
export async function writeMeta(target: DbClients, fields: Partial<CopyMeta>): Promise<void> {
  const { set, del } = metaChanges(fields);
  const tx = (await target.db(0)).multi();
  if (Object.keys(set).length) tx.hset(META, set);
  if (del.length) tx.hdel(META, ...del);
  await tx.exec();
}

export interface DbProgress {
  db: number;
  cursor: string;
  done: boolean;
  copied: number;
  skipped: number;
}

export async function readProgress(target: DbClients, db: number): Promise<DbProgress> {
  const raw = await (await target.db(db)).hgetall(PROGRESS);
  return {
    db,
    cursor: raw.cursor ?? "0",
    done: raw.done === "1",
    copied: Number(raw.copied ?? 0),
    skipped: Number(raw.skipped ?? 0),
  };
}

/** Dirty keys waiting (dirty + in flight) in one database. */
export async function backlogSize(target: DbClients, db: number): Promise<number> {
  const client = await target.db(db);
  const [dirty, inflight] = await Promise.all([client.scard(DIRTY), client.scard(INFLIGHT)]);
  return dirty + inflight;
}

/** Try to take (or renew) the single-copier lease. */
export async function takeLock(target: DbClients, runId: string, ttlMs = 15_000): Promise<boolean> {
  const client = await target.db(0);
  if ((await client.set(LOCK, runId, "PX", ttlMs, "NX")) === "OK") return true;
  if ((await client.get(LOCK)) === runId) {
    await client.pexpire(LOCK, ttlMs);
    return true;
  }
  return false;
}

export async function releaseLock(target: DbClients, runId: string): Promise<void> {
  const client = await target.db(0);
  if ((await client.get(LOCK)) === runId) await client.del(LOCK);
}

/** Delete every key of a pattern in one database, SCAN by SCAN (never KEYS). */
export async function deleteMatching(client: Redis, pattern: string): Promise<number> {
  let removed = 0;
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length) removed += await client.del(...keys);
  } while (cursor !== "0");
  return removed;
}

/** Remove every `ferry:state:*` key (after a successful cutover). */
export async function clearState(target: DbClients, dbs: number[]): Promise<number> {
  let removed = 0;
  for (const db of new Set([...dbs, 0])) removed += await deleteMatching(await target.db(db), `${STATE_PREFIX}*`);
  return removed;
}
