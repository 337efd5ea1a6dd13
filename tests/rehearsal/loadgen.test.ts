// The load generator against the real rehearsal app (rehearsal/app: puma, Sidekiq, the
// streaming server, as the box's units run them), a real PostgreSQL, Redis and the S3
// stand-in: every acknowledged write is recorded with what the app says it did (the row,
// the feed entry, the job, the upload), and the end checks find each one, or count it lost.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import Redis from "ioredis";
import { freePort, startPostgres, startRedis, tempDir, LocalPostgres, LocalRedis } from "../../rehearsal/servers";
import { fillSource, APP_DB, APP_ROLE } from "../../rehearsal/source-data";
import { buildRehearsalSlug, RehearsalSlug } from "../../rehearsal/stack/slug";
import { AppProcess, startProcess } from "../../rehearsal/app-process";
import { unitCommand } from "../../rehearsal/stack/standins/box";
import { AwsApi } from "../../rehearsal/servers/aws-api";
import { startLoad } from "../../rehearsal/loadgen";
import { findLostWrites } from "../../rehearsal/lost-writes";
import { countJobs, drainQueues, lostFeedEntries, missingUploads } from "../../rehearsal/checks";
import { feedKey } from "../../rehearsal/app-data";
import { writeOutages } from "../../rehearsal/report/analysis";
import { eventually } from "../support/eventually";

describe("load generator against the real app, PostgreSQL, Redis and S3", { timeout: 600_000 }, () => {
  let pg: LocalPostgres;
  let redis: LocalRedis;
  let aws: AwsApi;
  let slug: RehearsalSlug;
  let env: Record<string, string>;
  let web: AppProcess;
  let worker: AppProcess;
  let streaming: AppProcess;
  let webPort: number;
  let db: Client;
  let accounts: number;
  const logs = tempDir("app-logs");

  const startUnit = async (name: string, http: boolean, healthPath?: string, port?: number) =>
    startProcess({ name, platform: "box", launch: { kind: "unit", appDir: slug.appDir, command: unitCommand({ http, healthPath }) }, env: { ...env, APP_NAME: name }, port, logFile: join(logs, `${name}.log`) });

  beforeAll(async () => {
    [pg, redis, slug] = await Promise.all([startPostgres(), startRedis({ password: "redis-test-pw" }), buildRehearsalSlug()]);
    aws = new AwsApi({ region: "us-east-1", account: "000000000000", tasks: { runTask: async () => undefined } });
    await aws.start();
    aws.createBucket("app-media");
    const data = await fillSource(pg, "app-test-pw", { sizeRows: 2000, sizeLabel: "2000", appDir: slug.appDir });
    accounts = data.accounts;
    env = {
      DATABASE_URL: pg.url(APP_DB, APP_ROLE, "app-test-pw"), REDIS_URL: redis.url(), RAILS_ENV: "production", SECRET_KEY_BASE: "k".repeat(64),
      S3_BUCKET: "app-media", S3_REGION: "us-east-1", S3_ENDPOINT: aws.url, AWS_ACCESS_KEY_ID: "AKIAAPPTEST000000000", AWS_SECRET_ACCESS_KEY: "s".repeat(40),
    };
    webPort = await freePort();
    [web, worker, streaming] = await Promise.all([
      startUnit("web", true, "/health", webPort),
      startUnit("sidekiq", false),
      startUnit("streaming", true, "/api/v1/streaming/health", await freePort()),
    ]);
    db = new Client({ connectionString: pg.url(APP_DB) });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await Promise.allSettled([web?.stop(), worker?.stop(), streaming?.stop()]);
    await aws?.stop();
    await redis?.stop();
    await pg?.stop();
  });

  test("every acknowledged status, job and upload is recorded, and one deleted or altered behind the app's back counts as lost", async () => {
    const ackFile = join(tempDir("acks"), "acks.jsonl");
    const load = startLoad({
      baseUrl: `http://127.0.0.1:${webPort}`, streamingUrl: `http://127.0.0.1:${streaming.port}`, accounts,
      writesPerSecond: 20, readsPerSecond: 6, uploadsPerSecond: 4, maxWrites: 40, maxDurationMs: 120_000, timeoutMs: 20_000, ackFile, runId: "t1",
    });
    await load.done;
    expect(load.requests.filter((r) => !r.ok)).toEqual([]);
    expect(load.acked).toHaveLength(40);
    expect(readFileSync(ackFile, "utf8").trim().split("\n")).toHaveLength(40);
    // The app inserted without naming ids: the sequence continues after the seeded rows.
    expect(Number(load.acked[0].id)).toBeGreaterThan(900);
    // Reads went to both processes: home timelines (puma) and the user stream (node).
    expect(new Set(load.requests.filter((r) => r.kind === "read").map((r) => r.servedBy))).toEqual(new Set(["web", "streaming"]));
    expect(load.uploads.length).toBeGreaterThan(0);

    const r = new Redis(redis.url());
    try {
      expect((await drainQueues(r, db, "public", load.acked, 60_000)).ok).toBe(true);
      const jobs = await countJobs(db, "public", load.acked, undefined);
      expect(jobs.enqueued).toBe(40);
      expect(jobs.neverRan).toEqual([]);
      expect(jobs.ranMoreThanOnce).toEqual([]);
      expect(await lostFeedEntries(r, load.acked)).toEqual([]);
      expect(missingUploads(load.uploads, "app-media", (b) => aws.keys(b), aws.bucketNames())).toEqual([]);
      expect((await findLostWrites(db, "public", load.acked)).lost).toEqual([]);

      // Behind the app's back: a row deleted, another altered, a feed entry gone, a job run
      // twice, an upload gone: each is counted.
      const [deleted, altered, unfed, twice] = [load.acked[5], load.acked[10], load.acked[15], load.acked[20]];
      await db.query("DELETE FROM statuses WHERE id = $1", [deleted.id]);
      await db.query("UPDATE statuses SET text = 'edited' WHERE id = $1", [altered.id]);
      await r.zrem(feedKey(unfed.accountId), unfed.id);
      await db.query("INSERT INTO job_runs (job_class, jid, ran_on) VALUES ('DistributionWorker', $1, 'elsewhere')", [twice.jid]);
      await db.query("DELETE FROM job_runs WHERE jid = $1", [load.acked[25].jid]);
      const { lost } = await findLostWrites(db, "public", load.acked);
      expect(lost.map((w) => w.id).sort()).toEqual([deleted.id, altered.id].sort());
      expect(await lostFeedEntries(r, load.acked)).toEqual([`${feedKey(unfed.accountId)}:${unfed.id}`]);
      const after = await countJobs(db, "public", load.acked, undefined);
      expect(after.neverRan.map((j) => j.jid)).toEqual([load.acked[25].jid]);
      expect(after.ranMoreThanOnce.map((j) => [j.jid, j.runs])).toEqual([[twice.jid, 2]]);
      expect(missingUploads(load.uploads, "app-media", (b) => (b === "app-media" ? aws.keys(b).slice(1) : []), ["app-media", "other"])).toHaveLength(1);
    } finally {
      r.disconnect();
    }
  });

  test("the web process going away mid-run shows as a write outage, and nothing it acknowledged is lost", async () => {
    // Bounded by stop(), not by a duration a slow machine could use up before the restart.
    const load = startLoad({ baseUrl: `http://127.0.0.1:${webPort}`, accounts, writesPerSecond: 20, readsPerSecond: 0, uploadsPerSecond: 0, maxWrites: 100_000, maxDurationMs: 300_000, timeoutMs: 20_000, runId: "t2" });
    await eventually("the app to acknowledge 10 writes", () => load.acked.length >= 10, { timeoutMs: 60_000 });
    const closing = Date.now();
    await web.stop();
    const closed = Date.now();
    await eventually("a write refused while the app is gone", () => load.requests.some((r) => r.kind === "write" && !r.ok && r.sentAt >= closed), { timeoutMs: 30_000 });
    const restarting = Date.now();
    web = await startUnit("web", true, "/health", webPort);
    await eventually("a write acknowledged by the restarted app", () => load.acked.some((w) => w.sentAt >= restarting), { timeoutMs: 60_000 });
    await load.stop();

    const failed = load.requests.filter((r) => r.kind === "write" && !r.ok);
    // refused connections (0): nothing failed before the app began to go away, nor once it was back
    expect(failed.every((r) => r.status === 0)).toBe(true);
    expect(failed.every((r) => r.doneAt >= closing)).toBe(true);
    const outages = writeOutages(load.requests);
    const gone = outages.find((w) => w.end >= restarting);
    expect(gone).toBeDefined();
    expect(gone!.failedWrites).toBeGreaterThanOrEqual(1);
    expect(outages.filter((w) => w.end > gone!.end)).toEqual([]);
    expect((await findLostWrites(db, "public", load.acked)).lost).toEqual([]);
  });
});
