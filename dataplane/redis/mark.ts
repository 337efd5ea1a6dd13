// The "no way back" mark: once the target Redis is the app's primary, a rollback must
// refuse (the target may hold writes the source never saw), and `status
// --require-cutover` (the gate before the source is released) must pass. The mark has to
// outlive whatever the app does to its own Redis from then on. Where it lives, and why:
//
//   a key in db0 (as it was)        the app's FLUSHALL or FLUSHDB erases it; an eviction
//                                   policy (allkeys-*) may evict it
//   a key in another logical db     FLUSHALL erases it
//   the source                      fenced: ferry's own user (the app's) can no longer
//                                   write there; and the source is what a rollback would
//                                   hand back, not a witness against it
//   the Postgres target's record    only where Postgres moves too (not a Redis-only
//                                   stack, not Redis held back by ferry:hold)
//   a file on the runner            not shared with a rerun on another machine
//   a function library on the       not a key: FLUSHALL, FLUSHDB, SWAPDB, expiry and
//   target (chosen)                 eviction leave it; persisted in the RDB and the AOF
//                                   and replicated to replicas like the data, so it
//                                   survives a restart and a failover as the app's data
//                                   does (https://redis.io/docs/latest/develop/interact/programmability/functions-intro/);
//                                   only FUNCTION FLUSH/DELETE, which no app needs for
//                                   its data, remove it
//
// The library `ferry_cutover` has one read-only function returning the mark as JSON.
// Functions need Redis 7.0+ (ElastiCache 7.x has them): a target that cannot keep the
// mark is refused before anything is fenced.
import { FerryError } from "../cli/common";
import { DbClients } from "./connection";

const LIBRARY = "ferry_cutover";
const FUNCTION = "ferry_cutover_mark";

export interface CutoverMark {
  mode: string;
  at: string;
}

function libraryCode(mark: CutoverMark): string {
  // Only a known mode and an ISO time go into the code: nothing to escape.
  if (!/^[a-z]+$/.test(mark.mode) || !/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(mark.at)) throw new Error(`bad cutover mark ${JSON.stringify(mark)}`);
  return [
    `#!lua name=${LIBRARY}`,
    `redis.register_function{function_name='${FUNCTION}', flags={'no-writes'}, callback=function() return '${JSON.stringify(mark)}' end}`,
  ].join("\n");
}

/** The target is the primary from now on (idempotent: the first mark's time is kept). */
export async function markCutover(target: DbClients, mode: string): Promise<void> {
  if (await cutoverMark(target)) return;
  await (await target.db(0)).call("FUNCTION", "LOAD", "REPLACE", libraryCode({ mode, at: new Date().toISOString() }));
}

export async function cutoverMark(target: DbClients): Promise<CutoverMark | undefined> {
  try {
    return JSON.parse(String(await (await target.db(0)).call("FCALL_RO", FUNCTION, "0"))) as CutoverMark;
  } catch (err) {
    // No library (never cut over), or a server without functions (which ferry never marks).
    if (/function not found|unknown command/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/** Before anything changes: can the target keep the mark? One line saying why not. */
export async function markProblem(target: DbClients): Promise<string | undefined> {
  try {
    await (await target.db(0)).call("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY);
    return undefined;
  } catch (err) {
    return `the target Redis cannot keep ferry's cutover mark, a function library (FUNCTION refused: ${(err as Error).message.split("\n")[0]}); it needs Redis 7.0+ and the @scripting commands for the target's user`;
  }
}

export async function assertCanMark(target: DbClients): Promise<void> {
  const problem = await markProblem(target);
  if (problem) throw new FerryError(`refusing: ${problem}; nothing was changed`, 1);
}
