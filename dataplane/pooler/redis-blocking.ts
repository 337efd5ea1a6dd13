// The blocking commands a pause may end early and send again (docs/pooler.md, "The Redis
// half", pause). An idle Sidekiq's `BRPOP queue 2` is in flight for up to 2 s; the pause
// ends it with CLIENT UNBLOCK (redis-unblock.ts), holds it, and after the resume sends it
// again with what is left of its timeout, so that the client sees one longer BRPOP.
//
// Sent again (their timeout, once it ran out, answers nil and changes nothing; what they
// wait for stays where it is until a command pops it, on whichever server):
//   BLPOP, BRPOP, BZPOPMIN, BZPOPMAX (key... timeout), BRPOPLPUSH (src dst timeout),
//   BLMOVE (src dst from to timeout): the timeout is the last argument, in seconds;
//   BLMPOP, BZMPOP (timeout numkeys ...): the first argument, in seconds;
//   XREAD and XREADGROUP with BLOCK <ms>: in milliseconds. XREADGROUP's `>` means "what
//   no consumer of the group got yet", the same whenever it is asked.
// Left alone (a pause waits for them, as before):
//   XREAD with a `$` ID: `$` is the stream's last ID when the command runs, so sent again
//   it would skip what was added in between (an XADD run just after the unblock).
//   WAIT / WAITAOF: the reply counts the replicas (or fsyncs) that acknowledged this
//   connection's earlier writes on this server: sent again elsewhere it counts nothing
//   of them. No app driver's fetch loop uses them.
//   Anything inside MULTI (queued, it does not block: the caller leaves it out).
// Timeouts are doubles since Redis 6.0 (https://redis.io/docs/latest/commands/blpop/):
// the rest of a timeout is sent as seconds with three decimals, so the server must be 6.0
// or later (Redis 5 would answer the command sent again an error, never a lost job).
import { encodeCommand } from "./resp";

/**
 * A command sent again is given at least this much of a wait: a timeout already spent
 * (a pause longer than it) must not become 0, which means forever, and a job pushed at
 * the resume still gets a chance to be fetched.
 */
export const MIN_RESENT_TIMEOUT_MS = 100;

export interface BlockingCommand {
  /** The command's arguments, as the client sent them. */
  readonly args: Buffer[];
  /** Which argument is the timeout, and its unit. */
  readonly at: number;
  readonly unit: "s" | "ms";
  /** When its wait ends (ms since the epoch); Infinity for a timeout of 0, forever. */
  deadline: number;
}

/** The timeout's position and unit for the commands whose timeout has a fixed place. */
const FIXED: Record<string, (args: Buffer[]) => number> = {
  BLPOP: (a) => a.length - 1, BRPOP: (a) => a.length - 1, BZPOPMIN: (a) => a.length - 1, BZPOPMAX: (a) => a.length - 1,
  BRPOPLPUSH: (a) => a.length - 1, BLMOVE: (a) => a.length - 1,
  BLMPOP: () => 1, BZMPOP: () => 1,
};

/** XREAD / XREADGROUP's options (Redis's t_stream.c reads them in any order before STREAMS): where BLOCK's value is, and the IDs. */
function streamRead(args: Buffer[]): { block?: number; ids: string[] } {
  let block: number | undefined;
  for (let i = 1; i < args.length; i++) {
    const word = args[i].toString("latin1").toUpperCase();
    if (word === "BLOCK") block = ++i;
    else if (word === "COUNT") i++;
    else if (word === "GROUP") i += 2;
    else if (word === "STREAMS") {
      const rest = args.slice(i + 1);
      return { block, ids: rest.slice(rest.length / 2).map((a) => a.toString("latin1")) };
    } else if (word !== "NOACK") break;
  }
  return { block, ids: [] };
}

function timeoutAt(command: string, args: Buffer[]): { at: number; unit: "s" | "ms" } | undefined {
  const fixed = FIXED[command];
  if (fixed) return args.length >= 3 ? { at: fixed(args), unit: "s" } : undefined;
  if (command !== "XREAD" && command !== "XREADGROUP") return undefined;
  const { block, ids } = streamRead(args);
  if (block === undefined || block >= args.length || !ids.length) return undefined;
  return ids.includes("$") ? undefined : { at: block, unit: "ms" };
}

/**
 * The command as one a pause may unblock and send again, its deadline counted from now;
 * undefined for any other (a timeout Redis would refuse is left to Redis to refuse).
 */
export function blockingCommand(command: string, args: Buffer[], now = Date.now()): BlockingCommand | undefined {
  const where = timeoutAt(command, args);
  if (!where) return undefined;
  const value = Number(args[where.at].toString("latin1"));
  if (!Number.isFinite(value) || value < 0) return undefined;
  const ms = where.unit === "s" ? value * 1000 : value;
  return { args, ...where, deadline: ms === 0 ? Infinity : now + ms };
}

/** The command again, with what is left of its timeout (at least the minimum; 0 stays 0). */
export function resendFrame(b: BlockingCommand, now = Date.now()): Buffer {
  const forever = b.deadline === Infinity;
  const leftMs = forever ? 0 : Math.max(MIN_RESENT_TIMEOUT_MS, Math.ceil(b.deadline - now));
  if (!forever) b.deadline = now + leftMs;
  const timeout = forever ? "0" : b.unit === "s" ? (leftMs / 1000).toFixed(3) : String(leftMs);
  return encodeCommand(b.args.map((a, i) => (i === b.at ? timeout : a)));
}
