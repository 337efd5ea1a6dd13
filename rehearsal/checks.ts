// The checks after the migration: every acknowledged write on the target, a new
// insert on the target that names no id (the sequences were carried over), home
// feeds present for the accounts that wrote. The data plane's own verify commands
// run as steps of the same list.
import { Client } from "pg";
import Redis from "ioredis";
import { AckedWrite, CheckRecord } from "./timeline";
import { findLostWrites } from "./lost-writes";
import { quoteSchema } from "./app/schema";
import { feedKey } from "./app/feeds";

export async function lostWritesCheck(db: Client, schema: string, acked: AckedWrite[]): Promise<{ check: CheckRecord; lost: AckedWrite[] }> {
  const { lost } = await findLostWrites(db, schema, acked);
  return {
    lost,
    check: {
      name: "every acknowledged write is on the target",
      ok: acked.length > 0 && lost.length === 0,
      detail: acked.length === 0 ? "no write was acknowledged, nothing proves the path" : `${acked.length - lost.length} of ${acked.length} found by id with the same text${lost.length ? `; ${lost.length} lost` : ""}`,
    },
  };
}

/** Insert without naming the id: a sequence left behind by the copy collides here. */
export async function newInsertCheck(db: Client, schema: string, acked: AckedWrite[]): Promise<CheckRecord> {
  const name = "a new insert on the target succeeds without naming an id";
  try {
    const { rows } = await db.query(
      `INSERT INTO ${quoteSchema(schema)}.statuses (account_id, text) SELECT min(id), 'rehearsal: post-cutover insert' FROM ${quoteSchema(schema)}.accounts RETURNING id::text AS id`,
    );
    const id = BigInt(rows[0].id);
    const maxAcked = acked.reduce((m, w) => (BigInt(w.id) > m ? BigInt(w.id) : m), 0n);
    return { name, ok: id > maxAcked, detail: `got id ${id} (highest acknowledged id ${maxAcked})` };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message.split("\n")[0] };
  }
}

/** The newest acknowledged write of up to `sample` authors must be in their own home feed on the target. */
export async function feedsCheck(redis: Redis, acked: AckedWrite[], sample = 20): Promise<CheckRecord> {
  const name = "home feeds are on the target";
  const newestByAuthor = new Map<number, AckedWrite>();
  for (const w of acked) newestByAuthor.set(w.accountId, w);
  const picks = [...newestByAuthor.values()].slice(-sample);
  let feeds = 0;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", "feed:home:*", "COUNT", 1000);
    cursor = next;
    feeds += keys.length;
  } while (cursor !== "0");
  let found = 0;
  for (const w of picks) if ((await redis.zscore(feedKey(w.accountId), w.id)) !== null) found++;
  return {
    name,
    ok: feeds > 0 && found === picks.length,
    detail: `${feeds} home feeds; the newest status of ${found} of ${picks.length} sampled authors is in their feed`,
  };
}

/** One scheduled job's run, as the schedulers' stand-ins log it (stack/standins/clock.ts). */
export interface ScheduledTick {
  job: string;
  slot: string;
  side: string;
  exitCode: number | null;
}

/**
 * No scheduled tick ran on both sides: per job and scheduled minute, runs on one side at
 * most. The app's own exit codes are reported, not judged. With jobs declared, at least one
 * run must have happened, or nothing was shown.
 */
export function scheduledTicksCheck(runs: ScheduledTick[], jobsDeclared: number): CheckRecord {
  const name = "no scheduled tick ran on both sides (per job and scheduled minute, one side at most)";
  if (jobsDeclared === 0) return { name, ok: true, detail: "no scheduled job declared" };
  const sides = new Map<string, Set<string>>();
  for (const r of runs) {
    const key = `${r.job} at ${r.slot}`;
    sides.set(key, (sides.get(key) ?? new Set()).add(r.side));
  }
  const twice = [...sides].filter(([, s]) => s.size > 1).map(([key, s]) => `${key} on ${[...s].join(" and ")}`);
  const bySide = [...new Set(runs.map((r) => r.side))].map((side) => `${side} ${runs.filter((r) => r.side === side).length}`).join(", ");
  const failed = runs.filter((r) => r.exitCode !== 0).length;
  return {
    name,
    ok: runs.length > 0 && twice.length === 0,
    detail: runs.length === 0
      ? `${jobsDeclared} job(s) declared but no run on any side: nothing shows where they ran`
      : `${runs.length} run(s) (${bySide}; ${failed} exited non-zero)${twice.length ? `; on two sides: ${twice.slice(0, 5).join("; ")}` : ""}`,
  };
}
