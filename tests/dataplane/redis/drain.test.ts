// drain --sidekiq: on the keyspace a real Sidekiq writes (Debian's ruby-sidekiq 6.4, see
// sidekiq/app.rb): a job scheduled days ahead, a job waiting an hour for its retry, a dead
// job and a job in progress. The drain quiets every Sidekiq process (TSTP through Redis,
// as Sidekiq's own API does) and waits for the jobs in progress only: a job enqueued
// after it stays in its queue instead of being taken by a worker that the fences would
// cut off mid-job. Ready queues and the schedule, retry and dead sets are data and
// travel with the copy. Not drained in time: the workers it quieted are stopped (TERM)
// for their platform to start again. Also Sidekiq 7's layout under a namespace, and
// --pattern keys.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis, tempDir } from "../../../rehearsal/servers";
import { drain } from "../../../dataplane/redis/drain";
import { client, closeClients, endpoint, ferry } from "./helpers";
import { eventually } from "../../support/eventually";

const APP = join(__dirname, "sidekiq", "app.rb");
const DAY_S = 86_400;

let redis: LocalRedis;
const sidekiqs: ChildProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of sidekiqs) s.kill("SIGKILL");
  closeClients();
  await redis.stop();
});

/** A Sidekiq process of sidekiq/app.rb, as its platform would run it. */
function startSidekiq(url: string): ChildProcess {
  const child = spawn("sidekiq", ["-r", APP, "-c", "2", "-t", "1"], { env: { ...process.env, REDIS_URL: url }, stdio: "ignore" });
  sidekiqs.push(child);
  return child;
}

/** Enqueue with Sidekiq's own client (ruby `code`, the gate file as ARGV[0]). */
function enqueue(url: string, code: string, gateFile = ""): void {
  const push = spawnSync("ruby", ["-r", APP, "-e", code, gateFile], { env: { ...process.env, REDIS_URL: url }, encoding: "utf8" });
  if (push.status !== 0) throw new Error(`sidekiq client: ${push.stderr}`);
}

/** Enqueue scheduled, failing, dead-on-failure and slow jobs, then start a Sidekiq process. */
function realSidekiq(url: string, gateFile: string): ChildProcess {
  enqueue(url, `LaterJob.perform_in(5 * ${DAY_S}); FailingJob.perform_async; DeadJob.perform_async; SlowJob.perform_async(ARGV[0])`, gateFile);
  return startSidekiq(url);
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once("exit", (code) => resolve(code))));

/** Sidekiq 7 writes: queues set, queue lists, schedule/retry/dead zsets, busy work hashes, a live process. */
async function sidekiq7(ns: string) {
  const c = client(redis);
  const job = (q: string, i: number) => JSON.stringify({ class: "FeedInsertWorker", queue: q, jid: `j${i}`, args: [i] });
  await c.sadd(`${ns}queues`, "default", "push");
  await c.lpush(`${ns}queue:default`, job("default", 1), job("default", 2));
  await c.lpush(`${ns}queue:push`, job("push", 3));
  await c.zadd(`${ns}schedule`, Date.now() / 1000 + 7 * DAY_S, job("default", 4));
  await c.zadd(`${ns}retry`, Date.now() / 1000 + 3600, job("default", 5));
  await c.zadd(`${ns}dead`, Date.now() / 1000 - 60, job("default", 7));
  await c.sadd(`${ns}processes`, "web-1:123:abc");
  await c.hset(`${ns}web-1:123:abc`, "beat", String(Date.now() / 1000));
  await c.hset(`${ns}web-1:123:abc:work`, "tid-1", JSON.stringify({ queue: "default", payload: job("default", 6) }));
}

/** sidekiq7's process at its heartbeat (every 100 ms): takes its signal, reports quiet, then finishes its job. Returns stop. */
function heartbeat(ns: string): () => void {
  const c = client(redis);
  const identity = `${ns}web-1:123:abc`;
  const timer = setInterval(async () => {
    if ((await c.rpop(`${identity}-signals`)) === "TSTP") await c.hset(identity, "quiet", "true");
    else if ((await c.hget(identity, "quiet")) === "true") await c.del(`${identity}:work`);
    await c.hset(identity, "beat", String(Date.now() / 1000));
  }, 100);
  return () => clearInterval(timer);
}

describe("drain", () => {
  test("a real Sidekiq: quieted, then waited for until its job in progress is done; scheduled, retried and dead jobs travel with the copy", async () => {
    const url = redis.url(5);
    const gate = join(tempDir("sidekiq-gate"), "go");
    const first = realSidekiq(url, gate);
    const c = client(redis, 5);
    const busyKey = await eventually("Sidekiq to show the slow job in progress", async () => {
      const [identity] = await c.smembers("processes");
      return identity && (await c.hlen(`${identity}:workers`)) === 1 ? `${identity}:workers` : undefined;
    }, { timeoutMs: 60_000 });
    await eventually("the failing job in retry and the other one dead", async () => (await c.zcard("retry")) === 1 && (await c.zcard("dead")) === 1, { timeoutMs: 30_000 });
    const env = { FERRY_SOURCE_REDIS_URL: url };

    // Not drained in time: the gate is not met, and the worker it quieted is stopped for
    // its platform to start again; Sidekiq puts the job it was running back in its queue.
    const busy = await ferry(["--json", "redis", "drain", "--sidekiq", "--timeout", "1", "--interval", "100"], env);
    expect(busy.code).toBe(1);
    expect(busy.json).toMatchObject({ ok: false, remaining: 1, left: [{ key: busyKey, kind: "busy", count: 1 }], woken: 1 });
    expect(await Promise.race([exitOf(first), new Promise((r) => setTimeout(() => r("still running"), 30_000))])).toBe(0);
    expect(await c.llen("queue:default")).toBe(1);

    // The platform starts it again: it takes the slow job, and this drain waits for it.
    startSidekiq(url);
    await eventually("the new Sidekiq to take the slow job again", async () => {
      const [identity] = await c.smembers("processes");
      return !!identity && (await c.hlen(`${identity}:workers`)) === 1;
    }, { timeoutMs: 60_000 });
    setTimeout(() => writeFileSync(gate, ""), 3000);
    const drained = await ferry(["--json", "redis", "drain", "--sidekiq", "--timeout", "60", "--interval", "200"], env);
    expect(drained.code, drained.stdout + drained.stderr).toBe(0);
    expect(drained.json).toMatchObject({ ok: true, remaining: 0, left: [] });
    const [identity] = await c.smembers("processes");
    expect(await c.hmget(identity, "quiet")).toEqual(["true"]);
    const byKind = Object.fromEntries(drained.json.travelling.map((t: { kind: string }) => [t.kind, t]));
    expect(byKind.schedule).toMatchObject({ key: "schedule", count: 1 });
    expect(Date.parse(byKind.schedule.nextDueAt) - Date.now()).toBeGreaterThan(4 * DAY_S * 1000);
    expect(byKind.retry).toMatchObject({ key: "retry", count: 1 });
    expect(byKind.dead).toMatchObject({ key: "dead", count: 1 });

    // A job the app enqueues from here on is not taken: it waits in its queue, which travels.
    enqueue(url, "SlowJob.perform_async(ARGV[0])", gate);
    await new Promise((r) => setTimeout(r, 6000)); // more than a heartbeat
    expect(await c.llen("queue:default")).toBe(1);
    expect(await c.hlen(`${identity}:workers`)).toBe(0);

    // They are data: the copy takes them along, scores (due times) and all.
    const target = await startRedis();
    try {
      const copy = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], { FERRY_SOURCE_REDIS_URL: url, FERRY_TARGET_REDIS_URL: target.url(5) });
      expect(copy.code, copy.stderr).toBe(0);
      const t = client(target, 5);
      for (const set of ["schedule", "retry", "dead"]) {
        expect(await t.call("ZRANGE", set, "0", "-1", "WITHSCORES")).toEqual(await c.call("ZRANGE", set, "0", "-1", "WITHSCORES"));
      }
      expect(await t.lrange("queue:default", 0, -1)).toEqual(await c.lrange("queue:default", 0, -1));
    } finally {
      await target.stop();
    }
  });

  test("Sidekiq 7's layout under a namespace: quiets the process, waits for its busy job, not for ready queues, schedule, retry or dead", async () => {
    await sidekiq7("mastodon:");
    const c = client(redis);
    const stopBeating = heartbeat("mastodon:");
    const r = await drain({ endpoint: endpoint(redis, "--source"), sidekiq: true, namespace: "mastodon", patterns: [], timeoutMs: 10_000, intervalMs: 50 });
    stopBeating();
    expect(r).toMatchObject({ ok: true, remaining: 0, left: [] });
    expect(r.travelling.map((t) => [t.key, t.count])).toEqual([["mastodon:queue:default", 2], ["mastodon:queue:push", 1], ["mastodon:schedule", 1], ["mastodon:retry", 1], ["mastodon:dead", 1]]);
    expect(await c.zcard("mastodon:schedule")).toBe(1); // untouched: drain only reads Sidekiq's data
    expect(await c.llen("mastodon:queue:default")).toBe(2);
  });

  test("times out with a report of what is left (CLI exit 1), including --pattern keys; the process it quieted is told to stop", async () => {
    await client(redis).flushdb();
    await sidekiq7("");
    await client(redis).rpush("resque:queue:mailers", "a", "b", "c");
    const r = await ferry(["--json", "redis", "drain", "--sidekiq", "--pattern", "resque:queue:*", "--timeout", "1", "--interval", "100"], { FERRY_SOURCE_REDIS_URL: redis.url() });
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.remaining).toBe(1 + 3);
    expect(r.json.left).toEqual([
      { key: "web-1:123:abc:work", kind: "busy", count: 1 },
      { key: "resque:queue:*", kind: "pattern", count: 3 },
    ]);
    expect(r.json.woken).toBe(1);
    // Its heartbeat pops the oldest first: quiet, then stop.
    expect(await client(redis).lrange("web-1:123:abc-signals", 0, -1)).toEqual(["TERM", "TSTP"]);
    expect(await client(redis).exists("ferry:state:quieted")).toBe(0);
  });

  test("the way back: ferry redis rollback stops the processes a drain quieted, for their platform to start again", async () => {
    await client(redis).flushdb();
    await sidekiq7("");
    const c = client(redis);
    const stopBeating = heartbeat("");
    const drained = await drain({ endpoint: endpoint(redis, "--source"), sidekiq: true, patterns: [], timeoutMs: 10_000, intervalMs: 50 });
    stopBeating();
    expect(drained.ok).toBe(true);
    const target = await startRedis();
    try {
      const back = await ferry(["--json", "redis", "rollback"], { FERRY_SOURCE_REDIS_URL: redis.url(), FERRY_TARGET_REDIS_URL: target.url() });
      expect(back.code, back.stderr).toBe(0);
      expect(back.json).toMatchObject({ ok: true, woken: 1 });
      expect(await c.lrange("web-1:123:abc-signals", 0, -1)).toEqual(["TERM"]);
      const again = await ferry(["--json", "redis", "rollback"], { FERRY_SOURCE_REDIS_URL: redis.url(), FERRY_TARGET_REDIS_URL: target.url() });
      expect(again.json.woken).toBeUndefined(); // once: the record is gone
    } finally {
      await target.stop();
    }
  });

  test("drain without --sidekiq or --pattern is bad input", async () => {
    const r = await ferry(["redis", "drain"], { FERRY_SOURCE_REDIS_URL: redis.url() });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: drain needs --sidekiq and/or --pattern P\n");
  });
});
