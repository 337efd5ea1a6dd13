// Repairing a gap in the tail. While no subscriber listened (a crash, a run without
// --follow, a dropped connection) the source's notifications were lost for good. Instead
// of copying everything again, ask the source which keys were touched since the gap began:
// OBJECT IDLETIME (seconds since last read or write; it does not touch the key itself) is
// at most the gap's length for every key written during it. Those keys are marked dirty.
// When the source uses an LFU eviction policy IDLETIME is unavailable: every key is marked.
// Keys deleted during the gap exist only on the target: with --conflict replace they are
// marked dirty too (the catch-up deletes them); with skip, target-only keys are left.
import Redis from "ioredis";
import { CopyContext } from "./copy-keys";
import { isStateKey } from "./state";
import { info } from "./info";
import { markDirty, OwnedDb } from "./owner";

/**
 * The LRU clock counts whole seconds and is cached for up to 1/hz s, so a key written
 * at the gap's start can read one second older than the gap. (A crash's lost tail
 * writes are covered by gapStart() in copy.ts.)
 */
const IDLE_MARGIN_SECONDS = 1;

export interface ReconcileResult {
  /** "all" when the source's eviction policy hides idle times (LFU). */
  method: "idletime" | "all";
  marked: number;
  scanned: number;
}

async function* scanKeys(client: Redis, count: number): AsyncGenerator<Buffer[]> {
  let cursor = "0";
  do {
    const [next, keys] = (await client.callBuffer("SCAN", cursor, "COUNT", count)) as [Buffer, Buffer[]];
    cursor = next.toString();
    const own = keys.filter((k) => !isStateKey(k));
    if (own.length) yield own;
  } while (cursor !== "0");
}

/**
 * Seconds since each key was last touched (undefined when unknown), and the source's
 * clock once they were read. Small integers (0..9999, encoding "int") are objects shared
 * by every key holding them, whose idle time belongs to none of those keys (a counter
 * written a moment ago can look hours idle), so they count as unknown and are always
 * copied again. The clock is read by the same pipeline, after the idle times (one
 * connection runs them in order): a key's idle time keeps growing while the repair
 * scans, so it must be judged against when it was read, not when the repair began.
 */
async function idleTimes(source: Redis, keys: Buffer[]): Promise<{ idle: Array<number | undefined>; readByMs: number }> {
  const p = source.pipeline();
  for (const k of keys) p.callBuffer("OBJECT", "IDLETIME", k).callBuffer("OBJECT", "ENCODING", k);
  p.time();
  const replies = (await p.exec()) ?? [];
  const idle = keys.map((_, i) => {
    const [idleErr, idle] = replies[2 * i];
    const [, encoding] = replies[2 * i + 1];
    if (idleErr || String(encoding) === "int") return undefined;
    return Number(idle);
  });
  const [timeErr, time] = replies[2 * keys.length];
  if (timeErr) throw timeErr;
  const [sec, usec] = time as [string, string];
  return { idle, readByMs: Number(sec) * 1000 + Math.floor(Number(usec) / 1000) };
}

/** The longest idle time (s) a key touched since `gapSinceMs` can show at `readByMs`. */
function idleLimitSeconds(gapSinceMs: number, readByMs: number): number {
  return Math.ceil(Math.max(0, readByMs - gapSinceMs) / 1000) + IDLE_MARGIN_SECONDS;
}

async function usesLfu(ctx: CopyContext): Promise<boolean> {
  const policy = (await info(await ctx.source.db(0), "memory")).maxmemory_policy ?? "";
  return policy.includes("lfu");
}

/** Mark dirty every key that may have changed since `gapSinceMs` (source clock). */
export async function reconcileGap(
  ctx: CopyContext,
  dbs: Iterable<number>,
  gapSinceMs: number,
  batchSize: number,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { method: (await usesLfu(ctx)) ? "all" : "idletime", marked: 0, scanned: 0 };
  for (const db of dbs) {
    const source = await ctx.source.db(db);
    const target = await ctx.target.db(db);
    for await (const keys of scanKeys(source, batchSize)) {
      const { idle, readByMs } = await idleTimes(source, keys);
      const limit = idleLimitSeconds(gapSinceMs, readByMs);
      const touched = keys.filter((_, i) => idle[i] === undefined || idle[i]! <= limit);
      await markDirty(target, { db, owner: ctx.owner }, touched);
      result.marked += touched.length;
      result.scanned += keys.length;
    }
    if (ctx.conflict === "replace") result.marked += await markTargetOnlyKeys(source, target, { db, owner: ctx.owner }, batchSize);
  }
  return result;
}

/** Keys the target has and the source no longer has (deleted or expired during the gap). */
async function markTargetOnlyKeys(source: Redis, target: Redis, owned: OwnedDb, batchSize: number): Promise<number> {
  let marked = 0;
  for await (const keys of scanKeys(target, batchSize)) {
    const p = source.pipeline();
    for (const k of keys) p.callBuffer("EXISTS", k);
    const exists = ((await p.exec()) ?? []).map(([, n]) => n === 1);
    const gone = keys.filter((_, i) => !exists[i]);
    await markDirty(target, owned, gone);
    marked += gone.length;
  }
  return marked;
}
