// kill -9 of `ferry pg cutover --strategy logical` at every crash point it passes (each
// statement that changes state, each step's action before its record is saved, each
// step's end), then a rerun: one writable primary right after the kill, and the rerun
// finishes with every write the app saw acknowledged on the target. Each point gets its
// own database pair on one source and one target cluster (the fence is per database for
// logical). The sweep is split across test files (shards) so they run side by side.
import { describe, expect, test } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { dropSubscription, replicateLogical, subscriptionExists } from "../../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../../dataplane/postgres/preflight";
import { loadCutover } from "../../../../dataplane/postgres/state";
import { insertWithoutIds, missingWrites, startWriteLoad } from "../fixtures";
import { GRANT_APP, canWrite, runFerry, useClusterPair } from "../helpers";
import { expectKilledAt, rerunFailure, listCrashPoints, phase, shardOf, sweepCrashPoints } from "../crash-points";

const STEPS = ["fence", "drain", "sequences", "detach", "verify", "done"];
/** Every step's end, and (every step here saves its record) its action done before the record. */
export const LOGICAL_LANDMARKS = ["gate:after-step#1", ...STEPS.flatMap((s) => [`${s}:before-record#1`, `${s}:after-step#1`]), "subscription:dropped#1"];

export const logicalCutoverArgs = ["--json", "pg", "cutover", "--strategy", "logical", "--max-lag-bytes", "10485760", "--timeout", "30"];

/** A point that failed may leave its subscription streaming: it would hold a replication worker the next point needs. */
export async function retireSubscription(tgt: string): Promise<void> {
  await withClient(tgt, dropSubscription).catch(() => undefined);
}

/**
 * The logical target is released once the subscription is gone (the point of no return:
 * the source's later writes would not reach it) or the cutover is done.
 */
export async function logicalSides(pair: { appSrc: string; tgt: string }) {
  const sourceWritable = await canWrite(pair.appSrc);
  const [subscribed, done] = await withClient(pair.tgt, async (c) => [await subscriptionExists(c), (await loadCutover(c, "logical"))?.done === true]);
  return { sourceWritable, targetReleased: done || !subscribed };
}

export function logicalCrashSweep(shard: number, shards: number): void {
  describe(`logical cutover killed at every crash point (shard ${shard + 1} of ${shards})`, () => {
    const clusters = useClusterPair();

    /** A fresh database pair `db` replicating logically. */
    async function replicatingPair(db: string) {
      const pair = await clusters.seeded(db);
      expect((await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
      await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
      await withClient(pair.tgt, (c) => c.query(GRANT_APP));
      return pair;
    }

    /** Killed at `point` under the app's writes: one writable primary, then a rerun that finishes with every acknowledged write. */
    async function killedAt(point: string, points: string[], db: string): Promise<void> {
      const pair = await replicatingPair(db);
      const load = startWriteLoad(pair.appSrc, { writers: 1 });
      try {
        await load.waitForMore(30);
        const killed = await runFerry(logicalCutoverArgs, { ...pair.env, FERRY_TEST_CRASH_AT: point });
        expectKilledAt(killed, point);

        const sides = await logicalSides(pair);
        expect(sides.sourceWritable && sides.targetReleased, "two writable primaries: the source takes writes and the target is released").toBe(false);
        // Before the fence began nothing changed; once its action is done the source is read-only.
        const fenced = phase(points, point, (p) => p.startsWith("fence:"), "fence:before-record#1");
        if (fenced !== 0) expect(sides.sourceWritable, fenced < 0 ? "the source is writable before the fence" : "the source is fenced").toBe(fenced < 0);

        const rerun = await runFerry(logicalCutoverArgs, pair.env);
        expect(rerun.code, rerunFailure(rerun)).toBe(0);
        expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: fenced >= 0 });
        expect(rerun.stdout).not.toContain(clusters.source.password);
        load.retarget(pair.appTgt);
        await load.waitForMore(20);
      } finally {
        await load.stop();
        await retireSubscription(pair.tgt);
      }
      expect(await missingWrites(pair.tgt, load.acked), "acknowledged writes missing on the target").toEqual([]);
      expect(await canWrite(pair.appSrc), "the source is writable after the cutover").toBe(false);
      await insertWithoutIds(pair.tgt, `after-${db}`);
    }

    test("every point: one writable primary after the kill, the rerun finishes, no acknowledged write lost", async () => {
      const listing = await replicatingPair(`crash_list_${shard}`);
      const points = await listCrashPoints(logicalCutoverArgs, listing.env, LOGICAL_LANDMARKS);
      const mine = shardOf(points, shard, shards);
      const failures = await sweepCrashPoints(mine, (point, i) => killedAt(point, points, `crash_${shard}_${i}`));
      expect(failures).toEqual([]);
    }, 1_200_000);
  });
}
