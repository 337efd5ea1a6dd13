import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { freePort, startPostgres, startRedis, tempDir, LocalPostgres, LocalRedis } from "../../rehearsal/servers";
import { fillSource, APP_DB, APP_ROLE } from "../../rehearsal/source-data";
import { startApp, RunningApp } from "../../rehearsal/app/server";
import { AppConfig } from "../../rehearsal/app/config";
import { startLoad } from "../../rehearsal/loadgen";
import { findLostWrites } from "../../rehearsal/lost-writes";
import { writeOutages } from "../../rehearsal/report/analysis";

describe("load generator against a real app, PostgreSQL and Redis", () => {
  let pg: LocalPostgres;
  let redis: LocalRedis;
  let config: AppConfig;
  let app: RunningApp;
  let db: Client;
  let accounts: number;

  beforeAll(async () => {
    pg = await startPostgres();
    redis = await startRedis({ password: "redis-test-pw" });
    const data = await fillSource(pg, "app-test-pw", { sizeRows: 2000, sizeLabel: "2000" });
    accounts = data.accounts;
    config = { port: await freePort(), name: "source", databaseUrl: pg.url(APP_DB, APP_ROLE, "app-test-pw"), redisUrl: redis.url(), schema: data.schema, worker: true };
    app = await startApp(config);
    db = new Client({ connectionString: pg.url(APP_DB) });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await app?.close();
    await redis?.stop();
    await pg?.stop();
  });

  test("every acknowledged write is recorded, and one deleted or altered behind its back counts as lost", async () => {
    const ackFile = join(tempDir("acks"), "acks.jsonl");
    const load = startLoad({ baseUrl: `http://127.0.0.1:${config.port}`, accounts, writesPerSecond: 40, readsPerSecond: 10, maxWrites: 60, maxDurationMs: 20_000, timeoutMs: 5000, ackFile, runId: "t1" });
    await load.done;
    expect(load.acked).toHaveLength(60);
    expect(load.requests.filter((r) => r.kind === "write" && !r.ok)).toEqual([]);
    expect(readFileSync(ackFile, "utf8").trim().split("\n")).toHaveLength(60);
    // the app inserted without naming ids: the sequence continues after the seeded rows
    expect(Number(load.acked[0].id)).toBeGreaterThan(900);

    expect((await findLostWrites(db, "public", load.acked)).lost).toEqual([]);
    const deleted = load.acked[5];
    const altered = load.acked[10];
    await db.query("DELETE FROM statuses WHERE id = $1", [deleted.id]);
    await db.query("UPDATE statuses SET text = 'edited' WHERE id = $1", [altered.id]);
    const { acknowledged, lost } = await findLostWrites(db, "public", load.acked);
    expect(acknowledged).toBe(60);
    expect(lost.map((w) => w.id).sort()).toEqual([deleted.id, altered.id].sort());
    // the write also reached the author's home feed and the Sidekiq-style queue
    const { default: Redis } = await import("ioredis");
    const r = new Redis(redis.url());
    expect(await r.zscore(`feed:home:${load.acked[59].accountId}`, load.acked[59].id)).toBe(load.acked[59].id);
    expect(Number(await r.get("stat:processed"))).toBeGreaterThan(0);
    r.disconnect();
  });

  test("an app that goes away mid-run shows as a write outage, and nothing it acknowledged is lost", async () => {
    const load = startLoad({ baseUrl: `http://127.0.0.1:${config.port}`, accounts, writesPerSecond: 40, readsPerSecond: 0, maxWrites: 10_000, maxDurationMs: 6000, timeoutMs: 10_000, runId: "t2" });
    await new Promise((r) => setTimeout(r, 1000));
    const closing = Date.now();
    await app.close();
    await new Promise((r) => setTimeout(r, 1000));
    app = await startApp(config);
    const upAt = Date.now();
    await load.done;
    // the outage around the restart (a busy machine may add short ones elsewhere)
    const worst = writeOutages(load.requests).find((w) => w.start < upAt && w.end >= closing)!;
    expect(worst).toBeDefined();
    // refused writes (how many depends on how busy the machine is: under load, few)
    expect(worst.failedWrites).toBeGreaterThanOrEqual(1);
    // the outage began once the app went away and ended only after it was back
    expect(worst.start).toBeGreaterThanOrEqual(closing - 500);
    expect(worst.end).toBeGreaterThanOrEqual(upAt - 50);
    expect(worst.end - worst.start).toBeLessThan(6000);
    // refused connections (0), or 503 from requests caught while the app shut down
    expect(load.requests.filter((r) => !r.ok).every((r) => r.status === 0 || r.status === 503)).toBe(true);
    expect((await findLostWrites(db, "public", load.acked)).lost).toEqual([]);
  });
});
