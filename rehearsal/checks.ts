// The checks after the migration, where the app's data ends up: every acknowledged status
// (its row in Postgres, its entry in its author's home feed in Redis), every job the app
// enqueued run exactly once (by the runs it recorded in Postgres), Sidekiq's schedule,
// retry and dead sets carried over exactly once, every acknowledged upload in the app's
// own bucket. Before counting, the app's queues are given time to drain.
import { Client } from "pg";
import Redis from "ioredis";
import { AckedUpload, AckedWrite, CheckRecord, JobCounts, SidekiqSetCounts } from "./timeline";
import { findLostWrites } from "./lost-writes";
import { FEED_MAX, feedKey, quoteSchema, SIDEKIQ_SETS, SidekiqSet } from "./app-data";

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

/**
 * Each acknowledged status in its author's home feed (the app pushed it there before it
 * answered): `feed:home:<author>:<id>` for each one missing. A feed holds the newest
 * FEED_MAX entries: a status older than a full feed's oldest was trimmed, not lost.
 */
export async function lostFeedEntries(redis: Redis, acked: AckedWrite[]): Promise<string[]> {
  const lost: string[] = [];
  const byAuthor = new Map<number, AckedWrite[]>();
  for (const w of acked) byAuthor.set(w.accountId, [...(byAuthor.get(w.accountId) ?? []), w]);
  for (const [author, writes] of byAuthor) {
    const key = feedKey(author);
    const scores = await redis.zmscore(key, ...writes.map((w) => w.id));
    const missing = writes.filter((_, i) => scores[i] === null);
    if (!missing.length) continue;
    const oldest = await redis.zrange(key, "0", "0", "WITHSCORES");
    const full = (await redis.zcard(key)) >= FEED_MAX;
    for (const w of missing) if (!(full && oldest.length && BigInt(w.id) < BigInt(oldest[0]))) lost.push(`${key}:${w.id}`);
  }
  return lost;
}

/** Recorded runs per jid (app/models/job_run.rb), and where each ran. */
async function jobRuns(db: Client, schema: string, jids: string[]): Promise<Map<string, string[]>> {
  const runs = new Map<string, string[]>();
  for (let i = 0; i < jids.length; i += 5000) {
    const { rows } = await db.query(`SELECT jid, ran_on FROM ${quoteSchema(schema)}.job_runs WHERE jid = ANY($1::text[])`, [jids.slice(i, i + 5000)]);
    for (const r of rows) runs.set(r.jid, [...(runs.get(r.jid) ?? []), r.ran_on]);
  }
  return runs;
}

/** Every acknowledged status's job, by its recorded runs: none, or more than one, is a finding. */
export async function countJobs(db: Client, schema: string, acked: AckedWrite[], cutoverAt: number | undefined): Promise<JobCounts> {
  const withJob = acked.filter((w) => w.jid);
  const runs = await jobRuns(db, schema, withJob.map((w) => w.jid!));
  const before = (w: AckedWrite) => cutoverAt !== undefined && w.ackAt < cutoverAt;
  return {
    enqueued: withJob.length,
    enqueuedBeforeCutover: withJob.filter(before).length,
    neverRan: withJob.filter((w) => !runs.has(w.jid!)).map((w) => ({ jid: w.jid!, statusId: w.id, beforeCutover: before(w) })),
    ranMoreThanOnce: withJob.filter((w) => (runs.get(w.jid!)?.length ?? 0) > 1).map((w) => ({ jid: w.jid!, statusId: w.id, runs: runs.get(w.jid!)!.length, ranOn: runs.get(w.jid!)!, beforeCutover: before(w) })),
  };
}

export function jobsCheck(jobs: JobCounts): CheckRecord {
  const once = jobs.enqueued - jobs.neverRan.length - jobs.ranMoreThanOnce.length;
  const sample = [...jobs.neverRan.slice(0, 3).map((j) => `${j.jid} (status ${j.statusId}) never ran`), ...jobs.ranMoreThanOnce.slice(0, 3).map((j) => `${j.jid} (status ${j.statusId}) ran ${j.runs} times: ${j.ranOn.join(", ")}`)];
  return {
    name: "every job the app enqueued ran exactly once",
    ok: jobs.enqueued > 0 && once === jobs.enqueued,
    detail: jobs.enqueued === 0
      ? "no job was enqueued, nothing proves the path"
      : `${once} of ${jobs.enqueued} ran once (${jobs.enqueuedBeforeCutover} enqueued before the cutover); ${jobs.neverRan.length} never ran (${jobs.neverRan.filter((j) => j.beforeCutover).length} of them enqueued before the cutover), ${jobs.ranMoreThanOnce.length} ran more than once (${jobs.ranMoreThanOnce.filter((j) => j.beforeCutover).length} enqueued before the cutover)${sample.length ? `; e.g. ${sample.join("; ")}` : ""}`,
  };
}

/** The jids in each of Sidekiq's sets, with their counts. */
async function setMembers(redis: Redis): Promise<Record<SidekiqSet, Map<string, number>>> {
  const out = {} as Record<SidekiqSet, Map<string, number>>;
  for (const set of SIDEKIQ_SETS) {
    const counts = new Map<string, number>();
    for (const member of await redis.zrange(set, "0", "-1")) {
      const jid = (JSON.parse(member) as { jid?: string }).jid;
      if (jid) counts.set(jid, (counts.get(jid) ?? 0) + 1);
    }
    out[set] = counts;
  }
  return out;
}

/** Each job seeded in a set on the source: once in that set of the Redis the app ends on, and in no other. */
export async function countSidekiqSets(redis: Redis, seeded: Record<SidekiqSet, string[]>): Promise<SidekiqSetCounts> {
  const members = await setMembers(redis);
  const missing: SidekiqSetCounts["missing"] = [];
  const duplicated: SidekiqSetCounts["duplicated"] = [];
  for (const set of SIDEKIQ_SETS) {
    for (const jid of seeded[set]) {
      const count = SIDEKIQ_SETS.reduce((n, s) => n + (members[s].get(jid) ?? 0), 0);
      if ((members[set].get(jid) ?? 0) === 0) missing.push({ set, jid });
      else if (count > 1) duplicated.push({ set, jid, count });
    }
  }
  return { seeded: Object.fromEntries(SIDEKIQ_SETS.map((s) => [s, seeded[s].length])), missing, duplicated };
}

export function sidekiqSetsCheck(c: SidekiqSetCounts): CheckRecord {
  const total = Object.values(c.seeded).reduce((a, b) => a + b, 0);
  return {
    name: "Sidekiq's schedule, retry and dead sets are carried over, each job exactly once",
    ok: total > 0 && c.missing.length === 0 && c.duplicated.length === 0,
    detail: `${Object.entries(c.seeded).map(([s, n]) => `${n} in ${s}`).join(", ")} seeded on the source; ${c.missing.length} missing${c.missing.length ? ` (e.g. ${c.missing.slice(0, 3).map((m) => `${m.set} ${m.jid}`).join(", ")})` : ""}, ${c.duplicated.length} duplicated${c.duplicated.length ? ` (e.g. ${c.duplicated.slice(0, 3).map((d) => `${d.set} ${d.jid} ×${d.count}`).join(", ")})` : ""}`,
  };
}

/** Each acknowledged upload in the app's own bucket; a missing one names the bucket it is in instead. */
export function missingUploads(uploads: AckedUpload[], appBucket: string, keysOf: (bucket: string) => string[], buckets: string[]): Array<{ key: string; foundIn?: string }> {
  const inApp = new Set(keysOf(appBucket));
  return uploads.filter((u) => !inApp.has(u.key)).map((u) => ({ key: u.key, foundIn: buckets.find((b) => b !== appBucket && keysOf(b).includes(u.key)) }));
}

export function uploadsCheck(uploads: AckedUpload[], appBucket: string, missing: Array<{ key: string; foundIn?: string }>): CheckRecord {
  const elsewhere = [...new Set(missing.flatMap((m) => (m.foundIn ? [m.foundIn] : [])))];
  const claimed = [...new Set(uploads.map((u) => u.bucket))].filter((b) => b !== appBucket);
  return {
    name: `every acknowledged media upload is in the app's own bucket (${appBucket})`,
    ok: uploads.length > 0 && missing.length === 0,
    detail: uploads.length === 0
      ? "no upload was acknowledged, nothing proves the path"
      : `${uploads.length - missing.length} of ${uploads.length} there${missing.length ? `; ${missing.length} missing${elsewhere.length ? `, found in ${elsewhere.join(", ")} instead` : ""}` : ""}${claimed.length ? `; the app said it stored uploads in ${claimed.join(", ")} (its S3_BUCKET)` : ""}`,
  };
}

/** What is still waiting to run: jobs in the queues, and the acknowledged statuses' jobs in the retry set (with when each is due, ms). */
async function pending(redis: Redis, db: Client, schema: string, acked: AckedWrite[]): Promise<{ queued: number; retrying: number[]; unrun: number }> {
  const queues = await redis.smembers("queues");
  let queued = 0;
  for (const q of queues) queued += await redis.llen(`queue:${q}`);
  const ours = new Set(acked.flatMap((w) => (w.jid ? [w.jid] : [])));
  const retry = await redis.zrange("retry", "0", "-1", "WITHSCORES");
  const retrying: number[] = [];
  for (let i = 0; i < retry.length; i += 2) if (ours.has((JSON.parse(retry[i]) as { jid?: string }).jid ?? "")) retrying.push(Number(retry[i + 1]) * 1000);
  const runs = await jobRuns(db, schema, [...ours]);
  return { queued, retrying, unrun: [...ours].filter((j) => !runs.has(j)).length };
}

/**
 * Wait for the app's queues to drain: no job queued, none of the acknowledged statuses'
 * jobs waiting for a retry, twice in a row a second apart (a job being worked is out of
 * its queue until it finishes). At most `timeoutMs`; longer (up to `longestMs`) while a
 * retry Sidekiq scheduled is due before then: a job that failed several times (a long
 * cutover fence) waits minutes for its next try (Sidekiq's backoff: retry_count^4 + 15 s
 * and more: https://github.com/sidekiq/sidekiq/wiki/Error-Handling#automatic-job-retry).
 * A run that does not drain is a failing check, said in one line. A job no queue holds
 * any more (lost) is not waited for: the counts find it.
 */
export async function drainQueues(redis: Redis, db: Client, schema: string, acked: AckedWrite[], timeoutMs: number, longestMs = 4 * timeoutMs): Promise<CheckRecord> {
  const name = "the app's queues drained before the counts";
  const started = Date.now();
  const idle = (p: { queued: number; retrying: number[] }) => p.queued === 0 && p.retrying.length === 0;
  const deadline = (p: { retrying: number[] }) => Math.min(started + longestMs, Math.max(started + timeoutMs, ...p.retrying.map((due) => due + 30_000)));
  let previous = await pending(redis, db, schema, acked);
  let left = previous;
  while (Date.now() < deadline(left)) {
    await new Promise((r) => setTimeout(r, 1000));
    left = await pending(redis, db, schema, acked);
    if (idle(previous) && idle(left)) break;
    previous = left;
  }
  const drained = idle(previous) && idle(left);
  const waited = ((Date.now() - started) / 1000).toFixed(0);
  const due = left.retrying.length ? ` (next due ${new Date(Math.min(...left.retrying)).toISOString()})` : "";
  return {
    name,
    ok: drained,
    detail: drained
      ? `drained in ${waited} s (${left.unrun} acknowledged job(s) never ran)`
      : `not drained after ${waited} s: ${left.queued} job(s) still queued, ${left.retrying.length} of the acknowledged statuses' jobs waiting in the retry set${due}, ${left.unrun} not run yet (is a worker running against the Redis the app ends on?)`,
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
