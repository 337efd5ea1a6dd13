// The catch-up: copy again every key the tail marked dirty. The dirty set is renamed to
// an in-flight set before copying, so keys marked meanwhile land in a fresh dirty set,
// and a crash leaves the in-flight set in place to be redone (copying is idempotent).
import { copyBatch, CopyContext } from "./copy-keys";
import { DIRTY, INFLIGHT } from "./state";

export interface BacklogResult {
  copied: number;
  deleted: number;
}

/** Copy the dirty keys of `db` once (those marked before this call). */
export async function drainDb(ctx: CopyContext, db: number, batchSize: number): Promise<BacklogResult> {
  const target = await ctx.target.db(db);
  const result: BacklogResult = { copied: 0, deleted: 0 };
  if (!(await target.exists(INFLIGHT))) {
    if (!(await target.exists(DIRTY))) return result;
    await target.rename(DIRTY, INFLIGHT);
  }
  let cursor = "0";
  do {
    const [next, keys] = (await target.callBuffer("SSCAN", INFLIGHT, cursor, "COUNT", batchSize)) as [Buffer, Buffer[]];
    cursor = next.toString();
    if (keys.length) {
      const r = await copyBatch(ctx, db, keys, { kind: "recopy" });
      result.copied += r.copied;
      result.deleted += r.deleted;
    }
  } while (cursor !== "0");
  await target.del(INFLIGHT);
  return result;
}

/** Drain every database's backlog once. */
export async function drainBacklog(ctx: CopyContext, dbs: Iterable<number>, batchSize: number): Promise<BacklogResult> {
  const total: BacklogResult = { copied: 0, deleted: 0 };
  for (const db of dbs) {
    const r = await drainDb(ctx, db, batchSize);
    total.copied += r.copied;
    total.deleted += r.deleted;
  }
  return total;
}
