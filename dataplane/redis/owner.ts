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
import { FerryError } from "../cli/common";
import { DbClients } from "./connection";
import { OWNER } from "./state";

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

/** The one line a process stops with once its writes are refused. */
export function takenOver(db: number): FerryError {
  return new FerryError(
    `--target db ${db}: another ferry run owns the copy now (a cutover took it over while this run was stalled, or finished it); stopped without writing more`,
    1,
    "target",
  );
}
