// drain --sidekiq on Sidekiq's real key layout (with a namespace) and --pattern keys.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { drain } from "../../../dataplane/redis/drain";
import { client, closeClients, endpoint, ferry } from "./helpers";

let redis: LocalRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  closeClients();
  await redis.stop();
});

/** What Sidekiq 7 writes: queues set, queue lists, schedule/retry zsets, busy work hashes. */
async function enqueue(ns: string) {
  const c = client(redis);
  const job = (q: string, i: number) => JSON.stringify({ class: "FeedInsertWorker", queue: q, jid: `j${i}`, args: [i] });
  await c.sadd(`${ns}queues`, "default", "push");
  await c.lpush(`${ns}queue:default`, job("default", 1), job("default", 2));
  await c.lpush(`${ns}queue:push`, job("push", 3));
  await c.zadd(`${ns}schedule`, Date.now() / 1000 + 1, job("default", 4));
  await c.zadd(`${ns}retry`, Date.now() / 1000 + 1, job("default", 5));
  await c.sadd(`${ns}processes`, "web-1:123:abc");
  await c.hset(`${ns}web-1:123:abc:work`, "tid-1", JSON.stringify({ queue: "default", payload: job("default", 6) }));
}

describe("drain", () => {
  test("waits for a (fake) Sidekiq to empty queues, schedule, retry and busy jobs", async () => {
    await enqueue("mastodon:");
    const c = client(redis);
    const worker = setInterval(async () => {
      if (await c.rpop("mastodon:queue:default")) return;
      if (await c.rpop("mastodon:queue:push")) return;
      await c.zremrangebyrank("mastodon:schedule", 0, -1);
      await c.zremrangebyrank("mastodon:retry", 0, -1);
      await c.del("mastodon:web-1:123:abc:work");
    }, 100);
    const r = await drain({ endpoint: endpoint(redis, "--source"), sidekiq: true, namespace: "mastodon", patterns: [], timeoutMs: 10_000, intervalMs: 50 });
    clearInterval(worker);
    expect(r).toMatchObject({ ok: true, remaining: 0, left: [] });
    expect(r.seconds).toBeGreaterThan(0.2);
  });

  test("times out with a report of what is left (CLI exit 1), including --pattern keys", async () => {
    await enqueue("");
    await client(redis).rpush("resque:queue:mailers", "a", "b", "c");
    const r = await ferry(["--json", "redis", "drain", "--sidekiq", "--pattern", "resque:queue:*", "--timeout", "1", "--interval", "100"], { FERRY_SOURCE_REDIS_URL: redis.url() });
    expect(r.code).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.remaining).toBe(2 + 1 + 1 + 1 + 1 + 3);
    expect(r.json.left).toEqual([
      { key: "queue:default", kind: "queue", count: 2 },
      { key: "queue:push", kind: "queue", count: 1 },
      { key: "schedule", kind: "schedule", count: 1, nextDueAt: expect.stringMatching(/^\d{4}-/) },
      { key: "retry", kind: "retry", count: 1, nextDueAt: expect.stringMatching(/^\d{4}-/) },
      { key: "web-1:123:abc:work", kind: "busy", count: 1 },
      { key: "resque:queue:mailers", kind: "pattern", count: 3 },
    ]);
  });

  test("drain without --sidekiq or --pattern is bad input", async () => {
    const r = await ferry(["redis", "drain"], { FERRY_SOURCE_REDIS_URL: redis.url() });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: drain needs --sidekiq and/or --pattern P\n");
  });
});
