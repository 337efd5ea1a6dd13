// The end checks' queue drain: it waits for the app's jobs still queued or waiting for a
// retry, longer than its usual bound while a retry Sidekiq scheduled comes due (a job that
// failed through a long fence waits minutes for its next try), and says what is left.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Client } from "pg";
import Redis from "ioredis";
import { startPostgres, startRedis, LocalPostgres, LocalRedis } from "../../rehearsal/servers";
import { drainQueues } from "../../rehearsal/checks";
import { AckedWrite } from "../../rehearsal/timeline";

describe("the queue drain before the counts", { timeout: 120_000 }, () => {
  let pg: LocalPostgres;
  let redis: LocalRedis;
  let db: Client;
  let r: Redis;
  const acked: AckedWrite[] = [{ id: "1", text: "t", accountId: 1, jid: "jid-1", sentAt: 0, ackAt: 0 }];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    db = new Client({ connectionString: pg.url() });
    await db.connect();
    await db.query("CREATE TABLE job_runs (jid text NOT NULL, ran_on text NOT NULL)");
    r = new Redis(redis.url());
  });

  afterAll(async () => {
    r?.disconnect();
    await db?.end();
    await redis?.stop();
    await pg?.stop();
  });

  test("a job waiting for a retry due after the usual bound is waited for, and runs", async () => {
    await db.query("DELETE FROM job_runs");
    const due = Date.now() + 3000;
    await r.zadd("retry", String(due / 1000), JSON.stringify({ class: "DistributionWorker", jid: "jid-1", retry_count: 4 }));
    // A worker's scheduled poller: takes the job when due, runs it.
    const worker = (async () => {
      while (Date.now() < due) await new Promise((res) => setTimeout(res, 100));
      await r.zremrangebyscore("retry", "-inf", String(Date.now() / 1000));
      await db.query("INSERT INTO job_runs VALUES ('jid-1', 'ecs:task')");
    })();
    const check = await drainQueues(r, db, "public", acked, 500, 60_000);
    await worker;
    expect(check.ok).toBe(true);
    expect(check.detail).toMatch(/^drained in \d+ s \(0 acknowledged job\(s\) never ran\)$/);
  });

  test("one never taken is reported with when it is due", async () => {
    await db.query("DELETE FROM job_runs");
    await r.del("retry");
    const due = Date.now() + 600_000;
    await r.zadd("retry", String(due / 1000), JSON.stringify({ class: "DistributionWorker", jid: "jid-1", retry_count: 9 }));
    const check = await drainQueues(r, db, "public", acked, 500, 2000);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain(`1 of the acknowledged statuses' jobs waiting in the retry set (next due ${new Date(Math.floor(due / 1000) * 1000).toISOString().slice(0, 19)}`);
    expect(check.detail).toContain("1 not run yet");
  });
});
