// kill -9 of `ferry cutover` for the box's shape (Postgres physical standby + Redis
// REPLICAOF) at every crash point it passes, then a rerun. Before promotion the standby
// cannot hold the record, so a rerun finds its way from the facts alone (the fences on
// both sources, the standby's recovery, the replica's role): it must finish, with at most
// one writable side per store right after the kill and every acknowledged write on the
// targets. One source cluster per shard, points one after another (the physical fence
// covers the whole cluster). The sweep is split across test files (shards).
import { describe, expect, test } from "vitest";
import { startRedis } from "../../../rehearsal/servers";
import { missingWrites, roleUrl, startWriteLoad } from "../postgres/fixtures";
import { canWrite, runFerry, useStandbySource } from "../postgres/helpers";
import { expectKilledAt, rerunFailure, listCrashPoints, shardOf, sweepCrashPoints } from "../postgres/crash-points";
import { expectPhysicalSides, physicalSides } from "../postgres/cutover/crash-physical.sweep";
import { ferry } from "../redis/helpers";
import { expectRedisSides } from "./crash.sweep";
import { missingKeys, redisCanWrite, redisWriter } from "./helpers";
import { eventually } from "../../support/eventually";

const LANDMARKS = [
  "gate:after-step#1", "fence:after-step#1", "redis-fence:after-step#1", "drain:after-step#1", "redis-switch:after-step#1", "promote:promoted#1",
  ...["promote", "verify", "redis-verify", "activate", "redis-open", "done"].flatMap((s) => [`${s}:before-record#1`, `${s}:after-step#1`]),
];
const CUTOVER = ["--json", "cutover", "--max-lag-bytes", "10485760", "--timeout", "30"];

export function stackPhysicalCrashSweep(shard: number, shards: number): void {
  describe(`ferry cutover (physical + replicaof) killed at every crash point (shard ${shard + 1} of ${shards})`, () => {
    const clusters = useStandbySource();

    /** A new standby of the (unfenced) source and a new Redis replica pair. */
    async function freshStack() {
      const { dir, target, appTarget, env: pgEnv } = await clusters.freshStandby();
      const redisSource = await startRedis({ password: "box-password", settings: { "repl-diskless-sync-delay": "0" } });
      const redisTarget = await startRedis();
      const env = { ...pgEnv, FERRY_SOURCE_REDIS_URL: redisSource.url(), FERRY_TARGET_REDIS_URL: redisTarget.url() };
      const started = await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env);
      expect(started.code, started.stderr).toBe(0);
      return { dir, target, appTarget, redisSource, redisTarget, env };
    }

    /** The source a primary again for the next point; the promoted standby and the Redis pair retired. */
    async function reset(s: Awaited<ReturnType<typeof freshStack>>) {
      await clusters.reset(s.dir);
      await Promise.all([s.redisSource.stop(), s.redisTarget.stop()]);
    }

    async function killedAt(s: Awaited<ReturnType<typeof freshStack>>, point: string, points: string[]): Promise<void> {
      const appSource = roleUrl(clusters.source, "app");
      const load = startWriteLoad(appSource, { writers: 1 });
      const writer = redisWriter(s.redisSource.url());
      try {
        await load.waitForMore(30);
        await eventually("the app writes Redis", () => writer.acked.length > 20);
        const killed = await runFerry(CUTOVER, { ...s.env, FERRY_TEST_CRASH_AT: point });
        expectKilledAt(killed, point);
        const fenced = expectPhysicalSides(points, point, await physicalSides(appSource, s.target, s.appTarget), "Postgres ");
        await expectRedisSides(points, point, s.redisSource.url(), s.redisTarget.url());

        const rerun = await runFerry(CUTOVER, s.env);
        expect(rerun.code, rerunFailure(rerun)).toBe(0);
        expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: fenced >= 0, postgres: { strategy: "physical" }, redis: { mode: "replicaof" } });

        await writer.stop();
        expect(await missingKeys(s.redisTarget.url(), writer.acked), "acknowledged Redis writes missing on the target").toEqual([]);
        expect(await redisCanWrite(s.redisSource.url()), "the Redis source is writable after the cutover").toBe(false);
        expect(await redisCanWrite(s.redisTarget.url()), "the Redis target takes writes").toBe(true);
        load.retarget(s.appTarget);
        await load.waitForMore(20);
      } finally {
        await Promise.all([load.stop(), writer.stop()]);
      }
      expect(await missingWrites(s.target, load.acked), "acknowledged writes missing on the promoted standby").toEqual([]);
      expect(await canWrite(appSource), "the Postgres source is writable after the cutover").toBe(false);
    }

    test("every point: one writable side per store after the kill, the rerun finishes, no acknowledged write lost", async () => {
      const listing = await freshStack();
      const points = await listCrashPoints(CUTOVER, listing.env, LANDMARKS).finally(() => reset(listing));
      const failures = await sweepCrashPoints(shardOf(points, shard, shards), async (point) => {
        const s = await freshStack();
        try {
          await killedAt(s, point, points);
        } finally {
          await reset(s); // the next point needs the source a primary again
        }
      });
      expect(failures).toEqual([]);
    }, 1_800_000);
  });
}
