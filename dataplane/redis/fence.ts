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
//   unfence: the kept rules back, the record removed.
//   cutover marker: `ferry:state:cutover` on the target once it is the primary; a
//            rollback refuses while it is there (the target may hold writes the source
//            never saw).
// A source that refuses ACL SETUSER (a managed Redis may) stops the cutover before
// anything switches, with one line: stop every writer yourself and say so
// (--writers-stopped).
import type Redis from "ioredis";
import { FerryError } from "../cli/common";
import { DbClients, parseRedisUrl } from "./connection";
import { CUTOVER, FENCE } from "./state";

export const FENCE_KEY = FENCE;
export const CUTOVER_KEY = CUTOVER;

export interface FenceRecord {
  user: string;
  /** The user's command rules before the fence (ACL GETUSER's `commands`). */
  commands: string;
  at: string;
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
    `--source refuses ACL SETUSER (${msg.split("\n")[0]}): ferry cannot fence the source's writers; stop every writer (dynos, units, the app on AWS) and rerun with --writers-stopped`,
    1,
  );
}

/** Fence the source's writers; returns the record (idempotent: an existing fence is kept). */
export async function fenceWriters(source: DbClients): Promise<FenceRecord> {
  const redis = await source.db(0);
  const existing = await redis.get(FENCE_KEY);
  if (existing) return JSON.parse(existing) as FenceRecord;
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
    await redis.call("ACL", "SETUSER", user, "-@write");
  } catch (err) {
    await redis.del(FENCE_KEY);
    throw refused(err);
  }
  return record;
}

/** Lift the fence (nothing to do without one): the user's rules as they were. */
export async function unfenceWriters(source: DbClients): Promise<FenceRecord | undefined> {
  const redis = await source.db(0);
  const raw = await redis.get(FENCE_KEY);
  if (!raw) return undefined;
  const record = JSON.parse(raw) as FenceRecord;
  await redis.call("ACL", "SETUSER", record.user, "nocommands", ...record.commands.split(/\s+/).filter(Boolean));
  await redis.del(FENCE_KEY);
  return record;
}

export async function markCutover(target: DbClients, mode: string): Promise<void> {
  await (await target.db(0)).set(CUTOVER_KEY, JSON.stringify({ mode, at: new Date().toISOString() }));
}

export async function cutoverMark(target: DbClients): Promise<{ mode: string; at: string } | undefined> {
  const raw = await (await target.db(0)).get(CUTOVER_KEY);
  return raw ? JSON.parse(raw) : undefined;
}
