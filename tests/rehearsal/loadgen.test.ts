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
import { eventually } from "../support/eventually";

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
    // Bounded by stop(), not by a duration a slow machine could use up before the restart.
    const load = startLoad({ baseUrl: `http://127.0.0.1:${config.port}`, accounts, writesPerSecond: 40, readsPerSecond: 0, maxWrites: 100_000, maxDurationMs: 120_000, timeoutMs: 10_000, runId: "t2" });
    await eventually("the app to acknowledge 10 writes", () => load.acked.length >= 10);
    const closing = Date.now();
    let closedAt: number | undefined;
    void app.close().then(() => (closedAt = Date.now()));
    const closed = await eventually("the app to close while the load keeps writing", () => closedAt, { timeoutMs: 10_000 });
    await eventually("a write refused while the app is gone", () => load.requests.some((r) => r.kind === "write" && !r.ok && r.sentAt >= closed));
    const restarting = Date.now();
    app = await startApp(config);
    await eventually("a write acknowledged by the restarted app", () => load.acked.some((w) => w.sentAt >= restarting));
    await load.stop();

    const failed = load.requests.filter((r) => r.kind === "write" && !r.ok);
    // refused connections (0), or 503 from requests caught while the app shut down
    expect(failed.every((r) => r.status === 0 || r.status === 503)).toBe(true);
    // nothing failed before the app began to go away, nor once it was back
    expect(failed.every((r) => r.doneAt >= closing)).toBe(true);
    // the outage spans the time the app was gone and is closed only by the restarted app
    const outages = writeOutages(load.requests);
    const gone = outages.find((w) => w.end >= restarting);
    expect(gone).toBeDefined();
    expect(gone!.failedWrites).toBeGreaterThanOrEqual(1);
    expect(outages.filter((w) => w.end > gone!.end)).toEqual([]);
    expect((await findLostWrites(db, "public", load.acked)).lost).toEqual([]);
  });

  test("close() ends even while a client keeps its keep-alive connection busy", async () => {
    // Back-to-back requests on one kept-alive connection: never idle, so closeIdleConnections()
    // alone never ends it, and the app would keep answering after close().
    let sending = true;
    let answered = 0;
    let answeredAfterClose = 0;
    let closedAt = Infinity;
    const client = (async () => {
      while (sending) {
        const res = await fetch(`http://127.0.0.1:${config.port}/health`).catch(() => undefined);
        await res?.arrayBuffer();
        if (res) answered++;
        if (res && Date.now() > closedAt) answeredAfterClose++;
      }
    })();
    await eventually("the client to be answered on its connection", () => answered >= 5);
    const closed = app.close().then(() => (closedAt = Date.now()));
    try {
      await eventually("close() to finish while a client keeps sending", () => Number.isFinite(closedAt), { timeoutMs: 10_000 });
      // Gone means gone: after close() nothing is answered any more.
      expect(await fetch(`http://127.0.0.1:${config.port}/health`).then(() => "answered", () => "refused")).toBe("refused");
      expect(answeredAfterClose).toBe(0);
    } finally {
      sending = false;
      await client;
      await closed;
      app = await startApp(config);
    }
  });
});
