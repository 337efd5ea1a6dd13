// The source's writers are fenced before Redis switches, as the Postgres cutover fences
// its roles: every client of the app's user (its dynos, units, the app on AWS still
// pointed at the source, workers nobody remembered) gets NOPERM on a write instead of
// writing into a copy that is about to stop mattering. ACL changes are per server and
// are not replicated, so the target never inherits the fence.
//
//   fence:   ACL SETUSER <user> -@write (Redis checks a script's commands against the
//            ACL too, so a script cannot write either), after keeping
//            the user's command rules in `ferry:state:fence` on the source (a namespace
//            copy and verify skip), so the fence can be lifted exactly.
//   check:   the record is a key, kept with the data; the ACL lives in memory only, and a
//            restart or failover of the source forgets it while the record stays. So the
//            fence is never taken on the record's word: the ACL itself is asked (ACL
//            DRYRUN) whether the user may still write, and the fence is put back if so.
//   unfence: the kept rules back, the record removed.
// A source that refuses ACL SETUSER (a managed Redis may; Heroku's does) stops the
// cutover before anything switches, with one line naming the other fence: the app's
// processes stopped by the program, which the cutover verifies (`--fence dynos-stopped`,
// clients.ts).
import type Redis from "ioredis";
import { FerryError } from "../cli/common";
import { DbClients, parseRedisUrl } from "./connection";
import { FENCE } from "./state";

export const FENCE_KEY = FENCE;

/** How the source's writers are kept out during the cutover. */
export type RedisFence = "acl" | "dynos-stopped";
export const REDIS_FENCES: readonly RedisFence[] = ["acl", "dynos-stopped"];

export interface FenceRecord {
  /** --fence dynos-stopped: every other client's writes held by CLIENT PAUSE WRITE (pause.ts), no ACL changed. */
  pausedWrites?: boolean;
  user: string;
  /** The user's command rules before the fence (ACL GETUSER's `commands`). */
  commands: string;
  at: string;
  /** Not stored: this run found the ACL no longer fenced (a restart, a failover) and fenced again. */
  reapplied?: boolean;
  /** Not stored: with pausedWrites, the clients whose writes the pause now holds. */
  held?: string[];
}

/** The user the source URL connects as: the app connects the same way. */
export function fencedUser(sourceUrl: string): string {
  return parseRedisUrl(sourceUrl, "--source").username ?? "default";
}

async function commandRules(redis: Redis, user: string): Promise<string> {
  const reply = (await redis.call("ACL", "GETUSER", user)) as unknown[] | null;
  if (!reply) throw new FerryError(`--source: ACL user ${user} does not exist`, 1);
  for (let i = 0; i < reply.length - 1; i += 2) if (String(reply[i]) === "commands") return String(reply[i + 1]);
  throw new FerryError(`--source: ACL GETUSER ${user} returned no command rules`, 1);
}

function refused(err: unknown): FerryError {
  const msg = err instanceof Error ? err.message : String(err);
  return new FerryError(
    `--source refuses ACL SETUSER (${msg.split("\n")[0]}): ferry cannot fence the source's writers with an ACL; stop every writer (the app's dynos and units, the app on AWS) and rerun with --fence dynos-stopped, which holds every other client's writes (CLIENT PAUSE WRITE)`,
    1,
  );
}

/**
 * May `user` still run a write command, by the ACL as the server holds it now? ACL
 * DRYRUN (Redis 7.0+) answers without running anything; only a refusal of the command
 * itself counts (a key pattern the user lacks says nothing about the fence).
 * Undefined where the server cannot say (before 7.0).
 */
async function userMayWrite(redis: Redis, user: string): Promise<boolean | undefined> {
  let verdict: string;
  try {
    verdict = String(await redis.call("ACL", "DRYRUN", user, "SET", `${FENCE_KEY}:probe`, "1"));
  } catch (err) {
    if (/unknown (sub)?command/i.test((err as Error).message)) return undefined;
    throw err;
  }
  return !/no permissions to run/i.test(verdict);
}

async function applyFence(redis: Redis, user: string): Promise<void> {
  try {
    await redis.call("ACL", "SETUSER", user, "-@write");
  } catch (err) {
    throw refused(err);
  }
  if ((await userMayWrite(redis, user)) === true) {
    throw new FerryError(`--source: ACL user ${user} may still write after -@write (ACL selectors grant it?); ferry cannot fence it: stop every writer and rerun with --fence dynos-stopped`, 1);
  }
}

/**
 * Fence the source's writers; returns the record. Idempotent: an existing record is
 * kept, and its fence put back when the server forgot it (checked, never assumed).
 */
export async function fenceWriters(source: DbClients): Promise<FenceRecord> {
  const redis = await source.db(0);
  const existing = await redis.get(FENCE_KEY);
  if (existing) return keepFenced(redis, JSON.parse(existing) as FenceRecord);
  const user = fencedUser(source.endpoint.url);
  let record: FenceRecord;
  try {
    record = { user, commands: await commandRules(redis, user), at: new Date().toISOString() };
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw refused(err);
  }
  // Kept before the fence: once fenced, this user cannot write the record any more.
  await redis.set(FENCE_KEY, JSON.stringify(record));
  try {
    await applyFence(redis, user);
  } catch (err) {
    // Nothing fenced after all: the user's rules as they were, and no record claiming otherwise.
    await restoreRules(redis, record).catch(() => undefined);
    await redis.del(FENCE_KEY);
    throw err;
  }
  return record;
}

/** The record's fence, as the ACL holds it now: put back when it is gone. */
async function keepFenced(redis: Redis, record: FenceRecord): Promise<FenceRecord> {
  const mayWrite = await userMayWrite(redis, record.user);
  if (mayWrite === false) return record;
  await applyFence(redis, record.user); // idempotent where the server cannot tell (before 7.0)
  return mayWrite ? { ...record, reapplied: true } : record;
}

function restoreRules(redis: Redis, record: FenceRecord): Promise<unknown> {
  return redis.call("ACL", "SETUSER", record.user, "nocommands", ...record.commands.split(/\s+/).filter(Boolean));
}

/** Lift the fence (nothing to do without one): the user's rules as they were. */
export async function unfenceWriters(source: DbClients): Promise<FenceRecord | undefined> {
  const redis = await source.db(0);
  const raw = await redis.get(FENCE_KEY);
  if (!raw) return undefined;
  const record = JSON.parse(raw) as FenceRecord;
  // The held writes go ahead once unpaused: the source is the app's store again.
  if (record.pausedWrites) await redis.call("CLIENT", "UNPAUSE");
  else await restoreRules(redis, record);
  await redis.del(FENCE_KEY);
  return record;
}
