// Copying one batch of keys of one database, source -> target. Used by the bulk pass
// (keys from SCAN, with the cursor to save) and by the catch-up (keys the tail marked
// dirty: a key now missing on the source is deleted on the target). Everything the
// batch does on the target, including the saved cursor, happens in one MULTI/EXEC, so a
// crash leaves the batch either fully applied or not at all, and a re-run is exact.
import { DbClients } from "./connection";
import { copyBigKey } from "./big-key";
import { BigKeyLimits, KeySnapshot, readKeys } from "./read-keys";
import { ConflictPolicy, isStateKey, PROGRESS, SKIPPED } from "./state";
import { FerryError } from "../cli/common";

export interface CopyContext {
  source: DbClients;
  target: DbClients;
  conflict: ConflictPolicy;
  limits: BigKeyLimits;
}

export interface BatchResult {
  copied: number;
  skipped: number;
  deleted: number;
  bigKeys: number;
}

export type BatchKind =
  /** First copy of keys found by SCAN; `cursor` is saved with the batch. */
  | { kind: "bulk"; cursor: string }
  /** Keys changed on the source since they were copied. */
  | { kind: "recopy" };

export async function copyBatch(ctx: CopyContext, db: number, keys: Buffer[], batch: BatchKind): Promise<BatchResult> {
  const source = await ctx.source.db(db);
  const target = await ctx.target.db(db);
  const wanted = keys.filter((k) => !isStateKey(k));
  const { toCopy, toSkip } = await applyConflictPolicy(ctx, db, wanted, batch);
  const snapshots = await readKeys(source, toCopy, ctx.limits);
  const assembled = new Map<KeySnapshot, string>();
  for (const snap of snapshots) {
    if (!snap.dump && snap.type !== "none") assembled.set(snap, await copyBigKey(source, target, snap.key, snap.type));
  }

  const tx = target.multi();
  const keyOfCommand: Array<KeySnapshot | undefined> = []; // which key each queued command is about
  const result: BatchResult = { copied: 0, skipped: toSkip.length, deleted: 0, bigKeys: assembled.size };
  for (const snap of snapshots) {
    const tmp = assembled.get(snap);
    if (tmp) {
      tx.callBuffer("RENAME", tmp, snap.key);
      keyOfCommand.push(snap);
      result.copied++;
    } else if (snap.dump) {
      tx.callBuffer("RESTORE", snap.key, Math.max(snap.pttl, 0), snap.dump, "REPLACE");
      keyOfCommand.push(snap);
      result.copied++;
    } else if (batch.kind === "recopy") {
      tx.callBuffer("DEL", snap.key); // gone from the source: deleted or expired there
      keyOfCommand.push(snap);
      result.deleted++;
    }
  }
  if (toSkip.length) tx.callBuffer("SADD", SKIPPED, ...toSkip);
  if (batch.kind === "bulk") {
    tx.hset(PROGRESS, "cursor", batch.cursor, ...(batch.cursor === "0" ? ["done", "1"] : []));
    tx.hincrby(PROGRESS, "copied", result.copied);
    tx.hincrby(PROGRESS, "skipped", toSkip.length);
  }
  const replies = (await tx.exec()) ?? [];
  replies.forEach(([err], i) => {
    if (err) throw restoreFailure(db, err, keyOfCommand[i]);
  });
  return result;
}

/**
 * With --conflict skip, a key the target already had before the copy is left alone and
 * remembered (ferry:state:skipped), so later changes on the source do not overwrite it
 * either. With replace, the source wins.
 */
async function applyConflictPolicy(
  ctx: CopyContext,
  db: number,
  keys: Buffer[],
  batch: BatchKind,
): Promise<{ toCopy: Buffer[]; toSkip: Buffer[] }> {
  if (ctx.conflict === "replace" || keys.length === 0) return { toCopy: keys, toSkip: [] };
  const target = await ctx.target.db(db);
  if (batch.kind === "recopy") {
    const flags = (await target.callBuffer("SMISMEMBER", SKIPPED, ...keys)) as number[];
    return { toCopy: keys.filter((_, i) => flags[i] !== 1), toSkip: [] };
  }
  const p = target.pipeline();
  for (const k of keys) p.callBuffer("EXISTS", k);
  const exists = ((await p.exec()) ?? []).map(([, n]) => n === 1);
  return { toCopy: keys.filter((_, i) => !exists[i]), toSkip: keys.filter((_, i) => exists[i]) };
}

function restoreFailure(db: number, err: Error, snap: KeySnapshot | undefined): Error {
  const key = snap ? snap.key.toString("utf8").slice(0, 80) : "?";
  if (/payload version or checksum/i.test(err.message)) {
    return new FerryError(`target cannot load a DUMP payload of key "${key}" (db ${db}): the target Redis is older than the source; run \`ferry redis preflight\``, 1);
  }
  return new FerryError(`copying key "${key}" (db ${db}) failed on the target: ${err.message}`, 1);
}
