// kill -9 of `ferry cutover` (Postgres logical + Redis REPLICAOF) at every crash point it
// passes, then a rerun: at most one writable side per store right after the kill, and the
// rerun finishes with every acknowledged write, in Postgres and in Redis, on the targets.
// A fresh database pair and Redis pair per point on one source and one target cluster.
// The sweep is split across test files (shards) so they run side by side.
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres } from "../../../rehearsal/servers";
import { missingWrites, startWriteLoad } from "../postgres/fixtures";
import { canWrite, runFerry, startClusterPair } from "../postgres/helpers";
import { expectKilledAt, rerunFailure, listCrashPoints, phase, shardOf, sweepCrashPoints } from "../postgres/crash-points";
import { logicalSides, retireSubscription } from "../postgres/cutover/crash-logical.sweep";
import { missingKeys, redisCanWrite, redisMarked, redisWriter, replicatingStack } from "./helpers";
import { eventually } from "../../support/eventually";

const RECORDED = ["fence", "redis-fence", "drain", "sequences", "redis-switch", "detach", "verify", "redis-verify", "redis-open", "done"];
const LANDMARKS = ["gate:after-step#1", "queues:after-step#1", ...RECORDED.flatMap((s) => [`${s}:before-record#1`, `${s}:after-step#1`]), "subscription:dropped#1"];
const CUTOVER = ["--json", "cutover", "--sidekiq", "--max-lag-bytes", "10485760", "--timeout", "30"];

/** Is this Redis a primary (promoted, or never a replica)? A promoted target takes any writer's writes. */
export async function redisPrimary(url: string): Promise<boolean> {
  const redis = new Redis(url);
  try {
    return /role:master/.test(await redis.info("replication"));
  } finally {
    redis.disconnect();
  }
}

/** At most one Redis the app may write: the source fenced from the Redis fence on, or the target still a replica and unmarked. */
export async function expectRedisSides(points: string[], point: string, sourceUrl: string, targetUrl: string): Promise<void> {
  const sourceWritable = await redisCanWrite(sourceUrl);
  const targetReleased = (await redisMarked(targetUrl)) || (await redisPrimary(targetUrl));
  expect(sourceWritable && targetReleased, "two Redis primaries: the source takes writes and the target is promoted").toBe(false);
  const fenced = phase(points, point, (p) => p.startsWith("redis-fence:"), points.find((p) => p.startsWith("redis-fence:")) ?? "redis-fence");
  expect(sourceWritable, fenced < 0 ? "the Redis source is writable before its fence" : "the Redis source is fenced").toBe(fenced < 0);
}

export function stackCrashSweep(shard: number, shards: number): void {
  describe(`ferry cutover killed at every crash point (shard ${shard + 1} of ${shards})`, () => {
    let source: LocalPostgres;
    let target: LocalPostgres;

    beforeAll(async () => {
      [source, target] = await startClusterPair();
    });

    afterAll(async () => {
      await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
    });

    async function killedAt(point: string, points: string[], db: string): Promise<void> {
      const s = await replicatingStack(source, target, db);
      const load = startWriteLoad(s.pg.appSrc, { writers: 1 });
      const writer = redisWriter(s.redisSource.url());
      try {
        await load.waitForMore(30);
        await eventually("the app writes Redis", () => writer.acked.length > 20);
        const killed = await runFerry(CUTOVER, { ...s.env, FERRY_TEST_CRASH_AT: point });
        expectKilledAt(killed, point);

        const pg = await logicalSides(s.pg);
        expect(pg.sourceWritable && pg.targetReleased, "two writable Postgres primaries: the source takes writes and the target is released").toBe(false);
        const fenced = phase(points, point, (p) => p.startsWith("fence:"), "fence:before-record#1");
        if (fenced !== 0) expect(pg.sourceWritable, fenced < 0 ? "the Postgres source is writable before the fence" : "the Postgres source is fenced").toBe(fenced < 0);
        await expectRedisSides(points, point, s.redisSource.url(), s.redisTarget.url());

        const rerun = await runFerry(CUTOVER, s.env);
        expect(rerun.code, rerunFailure(rerun)).toBe(0);
        expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: fenced >= 0 });
        expect(rerun.stdout).not.toContain(source.password);

        await writer.stop();
        expect(await redisCanWrite(s.redisSource.url()), "the Redis source is writable after the cutover").toBe(false);
        expect(await missingKeys(s.redisTarget.url(), writer.acked), "acknowledged Redis writes missing on the target").toEqual([]);
        expect(await redisCanWrite(s.redisTarget.url()), "the Redis target takes writes").toBe(true);
        load.retarget(s.pg.appTgt);
        await load.waitForMore(20);
      } finally {
        await Promise.all([load.stop(), writer.stop()]);
        await retireSubscription(s.pg.tgt);
        await s.stop();
      }
      expect(await missingWrites(s.pg.tgt, load.acked), "acknowledged writes missing on the Postgres target").toEqual([]);
      expect(await canWrite(s.pg.appSrc), "the Postgres source is writable after the cutover").toBe(false);
    }

    test("every point: one writable side per store after the kill, the rerun finishes, no acknowledged write lost", async () => {
      const listing = await replicatingStack(source, target, `crash_list_${shard}`);
      const points = await listCrashPoints(CUTOVER, listing.env, LANDMARKS).finally(() => listing.stop());
      const failures = await sweepCrashPoints(shardOf(points, shard, shards), (point, i) => killedAt(point, points, `crash_${shard}_${i}`));
      expect(failures).toEqual([]);
    }, 1_800_000);
  });
}
