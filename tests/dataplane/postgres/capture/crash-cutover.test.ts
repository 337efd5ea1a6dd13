// kill -9 of `ferry pg cutover --strategy capture` at every crash point it passes (each
// statement that changes state, each step's action before its record is saved, each
// step's end, and inside the batch applied behind the fence), then a rerun: one
// writable side right after the kill, and the rerun finishes with the target equal to
// the fenced source and every write the app saw acknowledged on it. The source is
// Heroku-like (TLS, ferry's role a plain owner: the fence record is kept on the target).
// --max-lag-bytes is high, so the gate applies nothing and the whole backlog is the
// batch behind the fence: its points are passed the same way in every run.
import { describe, expect, test } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { replicateCapture } from "../../../../dataplane/postgres/capture/replicate";
import { loadCutover } from "../../../../dataplane/postgres/state";
import { insertWithoutIds, missingWrites, startWriteLoad } from "../fixtures";
import { canWrite, runFerry } from "../helpers";
import { expectKilledAt, listCrashPoints, phase, rerunFailure, sweepCrashPoints } from "../crash-points";
import { allRows, ownedPair, useHerokuLikePair } from "./fixtures";

const STEPS = ["fence", "drain", "sequences", "verify", "done"];
/** Every step's end and its action before the record, and the batch behind the fence. */
const LANDMARKS = ["gate:after-step#1", ...STEPS.flatMap((s) => [`${s}:before-record#1`, `${s}:after-step#1`]), "fence:record-on-target#1", "capture:page-applied#1", "capture:batch-recorded#1", "capture:batch-committed#1"];

const args = ["--json", "pg", "cutover", "--strategy", "capture", "--provider-superusers", "--max-lag-bytes", "10485760", "--timeout", "30"];

describe("capture cutover killed at every crash point", () => {
  const clusters = useHerokuLikePair();

  /** A fresh pair `db` whose capture replicate caught up, the app writing to its source. */
  async function capturingPair(db: string) {
    const pair = await ownedPair(clusters.source, clusters.target, db);
    await replicateCapture({ sourceUrl: pair.src, targetUrl: pair.tgt, untilCaughtUp: true });
    const load = startWriteLoad(pair.app, { writers: 1 });
    await load.waitForMore(30);
    return { ...pair, load };
  }

  async function killedAt(point: string, points: string[], db: string): Promise<void> {
    const pair = await capturingPair(db);
    const { load } = pair;
    try {
      const killed = await runFerry(args, { ...pair.env, FERRY_TEST_CRASH_AT: point });
      expectKilledAt(killed, point);

      const sourceWritable = await canWrite(pair.app);
      const released = await withClient(pair.tgt, async (c) => (await loadCutover(c, "capture"))?.done === true);
      expect(sourceWritable && released, "two writable sides: the source takes writes and the target is released").toBe(false);
      const fenced = phase(points, point, (p) => p.startsWith("fence:"), "fence:before-record#1");
      if (fenced !== 0) expect(sourceWritable, fenced < 0 ? "the source is writable before the fence" : "the source is fenced").toBe(fenced < 0);

      const rerun = await runFerry(args, pair.env);
      expect(rerun.code, rerunFailure(rerun)).toBe(0);
      expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: fenced >= 0 });
      expect(await allRows(pair.tgt), "the target differs from the fenced source").toEqual(await allRows(pair.src));
      load.retarget(pair.tgt);
      await load.waitForMore(20);
    } finally {
      await load.stop();
    }
    expect(await missingWrites(pair.tgt, load.acked), "acknowledged writes missing on the target").toEqual([]);
    expect(await canWrite(pair.app), "the source is writable after the cutover").toBe(false);
    await insertWithoutIds(pair.tgt, `after-${db}`);
  }

  test("every point: one writable side after the kill, the rerun finishes, no acknowledged write lost", async () => {
    const listing = await capturingPair("capcrash_list");
    let points: string[];
    try {
      points = await listCrashPoints(args, listing.env, LANDMARKS);
    } finally {
      await listing.load.stop();
    }
    const failures = await sweepCrashPoints(points, (point, i) => killedAt(point, points, `capcrash_${i}`));
    expect(failures).toEqual([]);
  }, 1_200_000);
});
