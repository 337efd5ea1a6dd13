// drain --sidekiq: on the keyspace a real Sidekiq writes (Debian's ruby-sidekiq 6.4, see
// sidekiq/app.rb): a job scheduled days ahead, a job waiting an hour for its retry, a dead
// job and a job in progress. Only the job in progress (and ready jobs) may hold the drain;
// the schedule, retry and dead sets are data and travel with the copy. Also Sidekiq 7's
// layout under a namespace, and --pattern keys.
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

/** Enqueue with Sidekiq's own client (scheduled, failing, dead-on-failure, slow), then start a Sidekiq process. */
function realSidekiq(url: string, gateFile: string): ChildProcess {
  const env = { ...process.env, REDIS_URL: url };
  const push = spawnSync("ruby", ["-r", APP, "-e", `LaterJob.perform_in(5 * ${DAY_S}); FailingJob.perform_async; DeadJob.perform_async; SlowJob.perform_async(ARGV[0])`, gateFile], { env, encoding: "utf8" });
  if (push.status !== 0) throw new Error(`sidekiq client: ${push.stderr}`);
  const child = spawn("sidekiq", ["-r", APP, "-c", "2", "-t", "1"], { env, stdio: "ignore" });
  sidekiqs.push(child);
  return child;
}

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

describe("drain", () => {
  test("a real Sidekiq: waits for the job in progress only; the scheduled, retried and dead jobs travel with the copy", async () => {
    const url = redis.url(5);
    const gate = join(tempDir("sidekiq-gate"), "go");
    const worker = realSidekiq(url, gate);
    const c = client(redis, 5);
    const busyKey = await eventually("Sidekiq to show the slow job in progress", async () => {
      const [identity] = await c.smembers("processes");
      return identity && (await c.hlen(`${identity}:workers`)) === 1 ? `${identity}:workers` : undefined;
    }, { timeoutMs: 60_000 });
    await eventually("the failing job in retry and the other one dead", async () => (await c.zcard("retry")) === 1 && (await c.zcard("dead")) === 1, { timeoutMs: 30_000 });
    const env = { FERRY_SOURCE_REDIS_URL: url };

    const busy = await ferry(["--json", "redis", "drain", "--sidekiq", "--timeout", "1", "--interval", "100"], env);
    expect(busy.code).toBe(1);
    expect(busy.json).toMatchObject({ ok: false, remaining: 1, left: [{ key: busyKey, kind: "busy", count: 1 }] });

    writeFileSync(gate, "");
    const drained = await ferry(["--json", "redis", "drain", "--sidekiq", "--timeout", "60", "--interval", "200"], env);
    expect(drained.code, drained.stdout + drained.stderr).toBe(0);
    expect(drained.json).toMatchObject({ ok: true, remaining: 0, left: [] });
    const byKind = Object.fromEntries(drained.json.travelling.map((t: { kind: string }) => [t.kind, t]));
    expect(byKind.schedule).toMatchObject({ key: "schedule", count: 1 });
    expect(Date.parse(byKind.schedule.nextDueAt) - Date.now()).toBeGreaterThan(4 * DAY_S * 1000);
    expect(byKind.retry).toMatchObject({ key: "retry", count: 1 });
    expect(byKind.dead).toMatchObject({ key: "dead", count: 1 });

    // They are data: the copy takes them along, scores (due times) and all.
    const target = await startRedis();
    try {
      const copy = await ferry(["--json", "redis", "replicate", "--mode", "copy"], { FERRY_SOURCE_REDIS_URL: url, FERRY_TARGET_REDIS_URL: target.url(5) });
      expect(copy.code, copy.stderr).toBe(0);
      const t = client(target, 5);
      for (const set of ["schedule", "retry", "dead"]) {
        expect(await t.call("ZRANGE", set, "0", "-1", "WITHSCORES")).toEqual(await c.call("ZRANGE", set, "0", "-1", "WITHSCORES"));
      }
    } finally {
      worker.kill("SIGTERM");
      await target.stop();
    }
  });

  test("Sidekiq 7's layout under a namespace: waits for the ready queues and the busy job, not for schedule, retry or dead", async () => {
    await sidekiq7("mastodon:");
    const c = client(redis);
    const worker = setInterval(async () => {
      if (await c.rpop("mastodon:queue:default")) return;
      if (await c.rpop("mastodon:queue:push")) return;
      await c.del("mastodon:web-1:123:abc:work");
    }, 100);
    const r = await drain({ endpoint: endpoint(redis, "--source"), sidekiq: true, namespace: "mastodon", patterns: [], timeoutMs: 10_000, intervalMs: 50 });
    clearInterval(worker);
    expect(r).toMatchObject({ ok: true, remaining: 0, left: [] });
    expect(r.travelling.map((t) => [t.key, t.count])).toEqual([["mastodon:schedule", 1], ["mastodon:retry", 1], ["mastodon:dead", 1]]);
    expect(await c.zcard("mastodon:schedule")).toBe(1); // untouched: drain only reads
  });

  test("times out with a report of what is left (CLI exit 1), including --pattern keys", async () => {
    await sidekiq7("");
    await client(redis).rpush("resque:queue:mailers", "a", "b", "c");
    const r = await ferry(["--json", "redis", "drain", "--sidekiq", "--pattern", "resque:queue:*", "--timeout", "1", "--interval", "100"], { FERRY_SOURCE_REDIS_URL: redis.url() });
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.remaining).toBe(2 + 1 + 1 + 3);
    expect(r.json.left).toEqual([
      { key: "queue:default", kind: "queue", count: 2 },
      { key: "queue:push", kind: "queue", count: 1 },
      { key: "web-1:123:abc:work", kind: "busy", count: 1 },
      { key: "resque:queue:*", kind: "pattern", count: 3 },
    ]);
  });

  test("drain without --sidekiq or --pattern is bad input", async () => {
    const r = await ferry(["redis", "drain"], { FERRY_SOURCE_REDIS_URL: redis.url() });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: drain needs --sidekiq and/or --pattern P\n");
  });
});
