// Copying one batch of keys of one database, source -> target. Used by the bulk pass
// (keys from SCAN, with the cursor to save) and by the catch-up (keys the tail marked
// dirty: a key now missing on the source is deleted on the target). Everything the
// batch does on the target, including the saved cursor, happens in one script, so a
// crash leaves the batch either fully applied or not at all, and a re-run is exact.
import { DbClients } from "./connection";
import { copyBigKey } from "./big-key";
import { BigKeyLimits, KeySnapshot, readKeys } from "./read-keys";
import { BIG_PENDING, ConflictPolicy, isStateKey, PROGRESS, SKIPPED } from "./state";
import { LUA_FIELD_READER, packFields } from "./pack";
import { FerryError } from "../cli/common";
import { keyLabel } from "./key-label";
import { LUA_OWNER_CHECK, ownedReply } from "./owner";
import { freezePoint } from "./freeze-point";

export interface CopyContext {
  source: DbClients;
  target: DbClients;
  conflict: ConflictPolicy;
  limits: BigKeyLimits;
  /** This process's fencing token (owner.ts): every batch writes only where it still owns the target. */
  owner: string;
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
  | { kind: "recopy" }
  /** Big keys the bulk pass deferred (ferry:state:bigpending): copied like "recopy", then un-marked. */
  | { kind: "pending" };

/**
 * Everything a batch writes on the target, in ONE server-side script: restores, renames of
 * assembled big keys, deletes, the saved cursor and counters. A script runs atomically
 * (nothing else sees half a batch) and costs one round trip and one reply per batch
 * instead of one per key, which is most of the client-side cost of a copy.
 * ARGV[1] packs (pack.ts) per key: op, key, a, b with op R = RESTORE key a(ttl) b(payload)
 * REPLACE, N = RENAME a(temporary key) key, D = DEL key, B = mark a big key for the
 * background copy (SADD ferry:state:bigpending key). The restore's ttl is the source's
 * absolute expiry (ABSTTL, Redis >= 5.0, https://redis.io/commands/restore/; 0 = none),
 * so the time between reading and writing the batch does not lengthen it; an expiry
 * already past deletes the key instead. ARGV[2..6]: cursor ("" = not a bulk
 * batch), copied, skipped, "1" to un-mark every key of the batch as pending, the fencing
 * token the batch was read under (owner.ts); then the keys to remember as skipped.
 * A bulk batch with a failure keeps nothing: its writes are taken back and its cursor is
 * not saved, so the next run scans it again instead of trusting reconcile to find the key.
 * Returns the failures as (index, error) pairs, or nil, having written nothing, when the
 * token no longer owns this database (another process took over, or the copy is over).
 */
const WRITE_BATCH_SCRIPT = `${LUA_FIELD_READER}${LUA_OWNER_CHECK}
if not owned(ARGV[6]) then return false end
local blob = ARGV[1]
local pos = 1
local i = 0
local failed = {}
local written = {}
local bulk = ARGV[2] ~= ''
local unpend = ARGV[5] == '1'
-- A bulk batch is all or nothing: one that failed saves no cursor, so the rerun scans it
-- again, and what it wrote is taken back, or the rerun would find those keys already on the
-- target and, with --conflict skip, keep them as the target's own.
local function undo(ops)
  for j = 1, #ops, 2 do
    if ops[j] == 'B' then redis.pcall('SREM', '${BIG_PENDING}', ops[j + 1])
    else redis.pcall('DEL', ops[j + 1]) end
  end
end
while pos <= #blob do
  local op, key, a, b
  op, pos = field(blob, pos)
  key, pos = field(blob, pos)
  a, pos = field(blob, pos)
  b, pos = field(blob, pos)
  i = i + 1
  local r
  if op == 'R' then r = redis.pcall('RESTORE', key, a, b, 'REPLACE', 'ABSTTL')
  elseif op == 'N' then r = redis.pcall('RENAME', a, key)
  elseif op == 'B' then r = redis.pcall('SADD', '${BIG_PENDING}', key)
  else r = redis.pcall('DEL', key) end
  if type(r) == 'table' and r.err then
    failed[#failed + 1] = i
    failed[#failed + 1] = r.err
  else
    if bulk then
      written[#written + 1] = op
      written[#written + 1] = key
    end
    if unpend then redis.call('SREM', '${BIG_PENDING}', key) end
  end
end
if bulk and #failed > 0 then
  undo(written)
  return failed
end
local cursor = ARGV[2]
if bulk then
  redis.call('HSET', '${PROGRESS}', 'cursor', cursor)
  if cursor == '0' then redis.call('HSET', '${PROGRESS}', 'done', '1') end
  redis.call('HINCRBY', '${PROGRESS}', 'copied', ARGV[3])
  redis.call('HINCRBY', '${PROGRESS}', 'skipped', ARGV[4])
end
for j = 7, #ARGV do redis.call('SADD', '${SKIPPED}', ARGV[j]) end
return failed
`;

/** A batch read from the source (big keys already assembled on the target), ready to commit. */
export interface PreparedBatch {
  db: number;
  batch: BatchKind;
  snapshots: KeySnapshot[];
  assembled: Map<KeySnapshot, string>;
  /** Big keys left to the background copy: marked pending in the same commit as the cursor. */
  deferred: Set<KeySnapshot>;
  toSkip: Buffer[];
}

/**
 * Source side of a batch: conflict policy, one-round-trip snapshot, big keys in chunks.
 * With `deferBig` (bulk pass) big keys are not copied here but marked pending on commit,
 * so a million-member set does not hold back the small keys behind it.
 */
export async function prepareBatch(
  ctx: CopyContext, db: number, keys: Buffer[], batch: BatchKind, deferBig = false,
): Promise<PreparedBatch> {
  const source = await ctx.source.db(db);
  const wanted = keys.filter((k) => !isStateKey(k));
  const { toCopy, toSkip } = await applyConflictPolicy(ctx, db, wanted, batch);
  const snapshots = await readKeys(source, toCopy, ctx.limits);
  // Big keys of a batch are assembled side by side: each is bound by round trips, not CPU.
  const target = await ctx.target.db(db);
  const bigAll = snapshots.filter((snap) => !snap.dump && snap.type !== "none");
  const deferred = new Set(deferBig && batch.kind === "bulk" ? bigAll : []);
  const big = bigAll.filter((snap) => !deferred.has(snap));
  const temps = await Promise.all(big.map((snap) => copyBigKey(source, target, snap.key, snap.type, { db, owner: ctx.owner })));
  const assembled = new Map<KeySnapshot, string>(big.map((snap, i) => [snap, temps[i]]));
  return { db, batch, snapshots, assembled, deferred, toSkip };
}

/** Target side of a batch: one atomic script. */
export async function commitBatch(ctx: CopyContext, prepared: PreparedBatch): Promise<BatchResult> {
  const { db, batch, snapshots, assembled, deferred, toSkip } = prepared;
  const keys: Buffer[] = [];
  const fields: Array<Buffer | string> = [];
  const result: BatchResult = { copied: 0, skipped: toSkip.length, deleted: 0, bigKeys: assembled.size };
  for (const snap of snapshots) {
    const tmp = assembled.get(snap);
    if (deferred.has(snap)) {
      keys.push(snap.key);
      fields.push("B", snap.key, "", "");
      result.copied++; // counted with its batch; the background copy lands it before the bulk pass ends
    } else if (tmp) {
      keys.push(snap.key);
      fields.push("N", snap.key, tmp, "");
      result.copied++;
    } else if (snap.dump && snap.pttl !== 0) {
      keys.push(snap.key);
      fields.push("R", snap.key, String(Math.max(snap.expiresAtMs, 0)), snap.dump); // -1: RESTORE 0 = no TTL
      result.copied++;
    } else if (batch.kind !== "bulk") {
      // Gone from the source: deleted or expired there. PTTL 0 with a payload is a key that
      // expired while the read script ran (Redis 7.0 checks expiry at the script's start
      // but computes PTTL at the real time): RESTORE ... 0 would make it persistent here,
      // and if that happens after the final fence, no expiry event ever deletes it.
      keys.push(snap.key);
      fields.push("D", snap.key, "", "");
      result.deleted++;
    }
  }
  if (keys.length === 0 && batch.kind !== "bulk" && toSkip.length === 0) return result;
  freezePoint(db, keys);
  const target = await ctx.target.db(db);
  const failed = ownedReply((await target.callBuffer(
    "EVAL", WRITE_BATCH_SCRIPT, 0, packFields(fields), batch.kind === "bulk" ? batch.cursor : "", result.copied, toSkip.length, batch.kind === "pending" ? "1" : "",
    ctx.owner, ...toSkip,
  )) as Array<number | Buffer> | null, db);
  if (failed.length) throw restoreFailure(db, new Error(String(failed[1])), keys[Number(failed[0]) - 1]);
  return result;
}

export async function copyBatch(ctx: CopyContext, db: number, keys: Buffer[], batch: BatchKind): Promise<BatchResult> {
  return commitBatch(ctx, await prepareBatch(ctx, db, keys, batch));
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
  if (batch.kind !== "bulk") {
    const flags = (await target.callBuffer("SMISMEMBER", SKIPPED, ...keys)) as number[];
    return { toCopy: keys.filter((_, i) => flags[i] !== 1), toSkip: [] };
  }
  const p = target.pipeline();
  for (const k of keys) p.callBuffer("EXISTS", k);
  const exists = ((await p.exec()) ?? []).map(([, n]) => n === 1);
  return { toCopy: keys.filter((_, i) => !exists[i]), toSkip: keys.filter((_, i) => exists[i]) };
}

function restoreFailure(db: number, err: Error, keyName: Buffer | undefined): Error {
  const key = keyName ? keyLabel(keyName) : "?";
  if (/payload version or checksum/i.test(err.message)) {
    return new FerryError(`target cannot load a DUMP payload of key "${key}" (db ${db}): the target Redis is older than the source; run \`ferry redis preflight\``, 1);
  }
  return new FerryError(`copying key "${key}" (db ${db}) failed on the target: ${err.message}`, 1);
}
