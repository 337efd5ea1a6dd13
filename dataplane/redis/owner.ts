// The fencing token: which process may write the copy into the target right now. The
// lease (ferry:state:lock) cannot tell a follower that stalled inside a batch (a frozen
// or starved process, its batch read from the source and not yet written) from the
// cutover's own catch-up that took over once the lease lapsed: both run under the copy's
// runId. So every process that writes the copy draws a token of its own and, holding the
// lease, claims each database with it (ferry:state:owner, in that database, where its
// batches write), and every batch's write script compares it atomically with the token
// it was prepared under: a batch of a process that another has since taken over from is
// refused whole, not one key of it written.
// The cutover removes the token with the rest of ferry:state:* when it hands the target
// to the app, and a missing token refuses as well: nothing prepared before can land in
// the app's data, and no ferry key is left there to keep the refusal going.
// Random, not a counter: equality is all the scripts compare, and a counter restarting
// after that cleanup could hand a new run the number a stalled one still holds.
import { randomBytes } from "node:crypto";
import type Redis from "ioredis";
import { FerryError } from "../cli/common";
import { DbClients } from "./connection";
import { CopyMeta, DIRTY, META, metaChanges, OWNER } from "./state";

/** A token no other process holds. */
export function newOwnerToken(): string {
  return randomBytes(12).toString("hex");
}

/**
 * Lua: true when the calling script's database is claimed by `token`. A script starts
 * with it and returns false (nil to the client) when it is not, before writing anything.
 */
export const LUA_OWNER_CHECK = `
local function owned(token)
  return redis.call('GET', '${OWNER}') == token
end
`;

/** Take over these databases of the target for `token` (only while holding the lease). */
export async function claimDbs(target: DbClients, dbs: Iterable<number>, token: string): Promise<void> {
  for (const db of new Set(dbs)) await (await target.db(db)).set(OWNER, token);
}

/** Whether `token` still owns the copy (db 0, the first claimed, where its run state lives). */
export async function ownsCopy(target: DbClients, token: string): Promise<boolean> {
  return (await (await target.db(0)).get(OWNER)) === token;
}

/** A database as one process writes it: refused once `owner` is not its token any more. */
export interface OwnedDb {
  db: number;
  owner: string;
}

/** The reply of a script that began with the owner check: nil (null) means it wrote nothing. */
export function ownedReply<T>(reply: T | null, db: number): T {
  if (reply === null) throw takenOver(db);
  return reply;
}

/**
 * One command (ARGV[2..]) in one script, run only while ARGV[1] owns the database; its
 * reply wrapped in a table, so that nil means refused whatever the command returns.
 */
const OWNED_COMMAND_SCRIPT = `${LUA_OWNER_CHECK}
if not owned(ARGV[1]) then return false end
return { redis.call(unpack(ARGV, 2)) }
`;

/** Lua's unpack() has a stack limit: a long list of keys goes in several commands. */
const KEYS_PER_COMMAND = 1000;

/** Run a write command on the target while `owned.owner` owns the database; refused (nothing written) otherwise. */
export async function ownedCommand(client: Redis, owned: OwnedDb, ...args: Array<string | Buffer | number>): Promise<unknown> {
  const [reply] = ownedReply((await client.callBuffer("EVAL", OWNED_COMMAND_SCRIPT, 0, owned.owner, ...args)) as unknown[] | null, owned.db);
  return reply;
}

/** Record keys as dirty (to copy again), while this process owns the database. */
export async function markDirty(client: Redis, owned: OwnedDb, keys: Buffer[]): Promise<void> {
  for (let i = 0; i < keys.length; i += KEYS_PER_COMMAND) {
    await ownedCommand(client, owned, "SADD", DIRTY, ...keys.slice(i, i + KEYS_PER_COMMAND));
  }
}

/** Write some meta fields (db 0) as state.ts writeMeta does, while `owner` owns the copy. */
export async function writeOwnedMeta(target: DbClients, owner: string, fields: Partial<CopyMeta>): Promise<void> {
  const { set, del } = metaChanges(fields);
  const db0 = await target.db(0);
  const pairs = Object.entries(set).flat();
  if (pairs.length) await ownedCommand(db0, { db: 0, owner }, "HSET", META, ...pairs);
  if (del.length) await ownedCommand(db0, { db: 0, owner }, "HDEL", META, ...del);
}

/** The one line a process stops with once its writes are refused. */
export function takenOver(db: number): FerryError {
  return new FerryError(
    `--target db ${db}: another ferry run owns the copy now (a cutover took it over while this run was stalled, or finished it); stopped without writing more`,
    1,
    "target",
  );
}
