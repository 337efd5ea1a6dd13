// kill -9 of `ferry pg cutover --strategy physical` at every crash point it passes, then a
// rerun: one writable primary right after the kill (the source read-only, or the standby
// neither promoted nor writable), and the rerun finishes with every acknowledged write on
// the promoted standby. One source cluster per shard (the physical fence covers the
// whole cluster, so points run one after another): after each point its fence is lifted
// and a new standby is made. The sweep is split across test files (shards).
import { describe, expect, test } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { inRecovery } from "../../../../dataplane/postgres/catalog";
import { insertWithoutIds, missingWrites, roleUrl, startWriteLoad } from "../fixtures";
import { canWrite, runFerry, useStandbySource } from "../helpers";
import { expectKilledAt, rerunFailure, listCrashPoints, phase, shardOf, sweepCrashPoints } from "../crash-points";

/** Every step's end; the action before the record where a record is saved (not on a standby). */
export const PHYSICAL_LANDMARKS = [
  "gate:after-step#1", "fence:after-step#1", "drain:after-step#1", "promote:promoted#1",
  ...["promote", "verify", "activate", "done"].flatMap((s) => [`${s}:before-record#1`, `${s}:after-step#1`]),
];

const MAX_LAG_BYTES = 10485760;
const STEPS = ["gate", "fence", "drain", "promote", "verify", "activate", "done"];
/**
 * What the rerun does after a kill at each step's end: what the killed run finished is
 * not done again, except what a standby cannot record (the fence is found on the source,
 * the drain is repeated); after `done`, the finished run's own steps are reported.
 */
const RERUN_STEPS: Record<string, string[]> = {
  gate: STEPS,
  fence: ["drain", "promote", "verify", "activate", "done"],
  drain: ["drain", "promote", "verify", "activate", "done"],
  promote: ["verify", "activate", "done"],
  verify: ["activate", "done"],
  activate: ["done"],
  done: STEPS.slice(1),
};
export const physicalCutoverArgs = ["--json", "pg", "cutover", "--strategy", "physical", "--max-lag-bytes", String(MAX_LAG_BYTES), "--timeout", "30"];

/** Sides of a physical cutover: a promoted standby is a primary even while its inherited fence keeps the app out. */
export async function physicalSides(sourceApp: string, target: string, targetApp: string) {
  const sourceWritable = await canWrite(sourceApp);
  const promoted = !(await withClient(target, inRecovery));
  const targetWritable = await canWrite(targetApp).catch(() => false); // a standby refuses writes
  return { sourceWritable, promoted, targetWritable };
}

/** What a physical cutover's points say about its sides: fenced from the fence's end, the target writable from activate's. */
export function expectPhysicalSides(points: string[], point: string, sides: Awaited<ReturnType<typeof physicalSides>>, what = "") {
  expect(sides.sourceWritable && (sides.promoted || sides.targetWritable), `two ${what}primaries: the source takes writes and the standby is promoted`).toBe(false);
  const fenced = phase(points, point, (p) => p.startsWith("fence:"), "fence:after-step#1");
  if (fenced !== 0) expect(sides.sourceWritable, fenced < 0 ? `the ${what}source is writable before the fence` : `the ${what}source is fenced`).toBe(fenced < 0);
  const open = phase(points, point, (p) => p.startsWith("unfence:"), "activate:before-record#1");
  if (open !== 0) expect(sides.targetWritable, open < 0 ? `the ${what}target takes no writes before activate` : `the ${what}target is activated`).toBe(open > 0);
  return fenced;
}

export function physicalCrashSweep(shard: number, shards: number): void {
  describe(`physical cutover killed at every crash point (shard ${shard + 1} of ${shards})`, () => {
    const clusters = useStandbySource();
    const freshStandby = () => clusters.freshStandby();

    async function killedAt(s: Awaited<ReturnType<typeof freshStandby>>, point: string, points: string[], i: number): Promise<void> {
      const appSource = roleUrl(clusters.source, "app");
      const load = startWriteLoad(appSource, { writers: 1 });
      try {
        await load.waitForMore(30);
        const started = Date.now();
        const killed = await runFerry(physicalCutoverArgs, { ...s.env, FERRY_TEST_CRASH_AT: point });
        expectKilledAt(killed, point);
        const fenced = expectPhysicalSides(points, point, await physicalSides(appSource, s.target, s.appTarget));

        const rerun = await runFerry(physicalCutoverArgs, s.env);
        expect(rerun.code, rerunFailure(rerun)).toBe(0);
        const result = JSON.parse(rerun.stdout);
        expect(result).toMatchObject({ ok: true, resumed: fenced >= 0 });
        const endOf = /^(\w+):after-step#1$/.exec(point)?.[1];
        if (endOf) expect(result.steps.map((x: { name: string }) => x.name), "the rerun does exactly the steps the killed run left").toEqual(RERUN_STEPS[endOf]);
        // The window opened in the killed run at the earliest; the gate held the lag under the bound.
        expect(result.writeUnavailableMs).toBeGreaterThan(0);
        expect(result.writeUnavailableMs).toBeLessThanOrEqual(Date.now() - started);
        expect(result.lagBytesAtFence).toBeGreaterThanOrEqual(0);
        expect(result.lagBytesAtFence).toBeLessThanOrEqual(MAX_LAG_BYTES);

        load.retarget(s.appTarget);
        await load.waitForMore(20);
      } finally {
        await load.stop();
      }
      expect(await missingWrites(s.target, load.acked), "acknowledged writes missing on the promoted standby").toEqual([]);
      expect(await canWrite(appSource), "the source is writable after the cutover").toBe(false);
      await insertWithoutIds(s.target, `after-${shard}-${i}`);
    }

    test("every point: one writable primary after the kill, the rerun finishes, no acknowledged write lost", async () => {
      const listing = await freshStandby();
      const points = await listCrashPoints(physicalCutoverArgs, listing.env, PHYSICAL_LANDMARKS).finally(() => clusters.reset(listing.dir));
      const failures = await sweepCrashPoints(shardOf(points, shard, shards), async (point, i) => {
        const s = await freshStandby();
        try {
          await killedAt(s, point, points, i);
        } finally {
          await clusters.reset(s.dir); // the next point needs the source a primary again
        }
      });
      expect(failures).toEqual([]);
    }, 1_200_000);
  });
}
