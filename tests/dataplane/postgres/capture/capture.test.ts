// The capture strategy end to end on a Heroku-like source (TLS, ferry's role a plain
// database owner): no change lost or applied twice whatever commits around the copy's
// snapshot, a long-open writer whose log row has a lower id than changes applied before
// it commits, a ferry killed mid-batch and between batches, lag in status, DDL refused,
// and cleanup leaving the source as it was.
import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { connect, withClient } from "../../../../dataplane/postgres/connection";
import { listTables } from "../../../../dataplane/postgres/copy-catalog";
import { captureInstalled, installCapture } from "../../../../dataplane/postgres/capture/install";
import { replicateCapture } from "../../../../dataplane/postgres/capture/replicate";
import { runFerry } from "../helpers";
import { allRows, catalogSnapshot, mixedWrite, ownedPair, useHerokuLikePair } from "./fixtures";

const clusters = useHerokuLikePair();

/** Writers committing mixedWrite transactions on their own connections until stopped. */
function backgroundWriters(url: string, writers: number) {
  let stopped = false;
  let n = 1000;
  let committed = 0;
  const loops = Array.from({ length: writers }, async () => {
    const c = await connect(url);
    try {
      while (!stopped) {
        try {
          await mixedWrite(c, n++);
          committed++;
        } catch (err) {
          // Both writers may move the same events row to another partition at once; the
          // loser gets a serialization failure (40001: "tuple to be locked was already
          // moved to another partition"), rolls back and goes on, as an app retries.
          if ((err as { code?: string }).code !== "40001") throw err;
          await c.query("ROLLBACK");
        }
      }
    } finally {
      await c.end();
    }
  });
  return {
    committed: () => committed,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** An open transaction that has written a row to accounts (and so holds a log row) but not committed. */
async function openWriter(url: string, email: string): Promise<Client> {
  const c = await connect(url);
  await c.query("BEGIN");
  await c.query("INSERT INTO accounts (email) VALUES ($1)", [email]);
  await c.query("UPDATE audit_log SET note = $1 WHERE token = 'seed-9'", [email]);
  return c;
}

const logRows = (url: string) => withClient(url, async (c) => Number((await c.query<{ n: string }>("SELECT count(*) AS n FROM ferry_capture.log")).rows[0].n));
const hasAccount = (url: string, email: string) => withClient(url, async (c) => (await c.query("SELECT 1 FROM accounts WHERE email = $1", [email])).rows.length === 1);

describe("capture replicate", () => {
  it("loses and repeats nothing whatever commits before, during and after the copy's snapshot", async () => {
    const { src, tgt } = await ownedPair(clusters.source, clusters.target, "cap_a", 300);
    const load = backgroundWriters(src, 2);
    // Committed after the triggers and before the snapshot: in the copy, its log rows skipped.
    await withClient(src, async (c) => installCapture(c, await listTables(c)));
    await withClient(src, (c) => mixedWrite(c, 1));
    // Open across the snapshot: not in the copy, applied from the log.
    const across = await openWriter(src, "across@x.test");
    let during: Client | undefined;
    const first = await replicateCapture({
      sourceUrl: src,
      targetUrl: tgt,
      jobs: 2,
      untilCaughtUp: true,
      onCopySnapshot: async () => {
        await across.query("COMMIT");
        await withClient(src, (c) => mixedWrite(c, 2));
        during = await openWriter(src, "during@x.test");
      },
    });
    expect(first.performed).toContain("initial copy");
    // Committed after the copy and after a batch was applied, while the writers go on.
    await during!.query("COMMIT");
    await Promise.all([across.end(), during!.end()]);
    await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    const stats = load.committed();
    await load.stop();
    expect(stats).toBeGreaterThan(5);
    const last = await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    expect(last.lag.rows).toBe(0);
    expect(last.appliedChanges).toBeGreaterThan(0);
    expect(await hasAccount(tgt, "across@x.test")).toBe(true);
    expect(await hasAccount(tgt, "during@x.test")).toBe(true);
    expect(await allRows(tgt)).toEqual(await allRows(src));
    // Everything applied was trimmed from the source's log.
    expect(await logRows(src)).toBe(0);
  }, 180_000);

  it("a writer open while later ids are applied is applied when it commits, not lost", async () => {
    const { src, tgt } = await ownedPair(clusters.source, clusters.target, "cap_b");
    const stop = new AbortController();
    let batches = 0;
    const running = replicateCapture({ sourceUrl: src, targetUrl: tgt, signal: stop.signal, onBatch: () => batches++ });
    while (batches === 0) await new Promise((r) => setTimeout(r, 50));
    // A second applier is refused while the first runs.
    await expect(replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true })).rejects.toThrow(/^another ferry is applying this capture/);
    stop.abort();
    await running;
    const long = await openWriter(src, "long@x.test");
    await withClient(src, (c) => c.query("INSERT INTO accounts (email) VALUES ('short@x.test')"));
    await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    expect(await hasAccount(tgt, "short@x.test")).toBe(true);
    expect(await hasAccount(tgt, "long@x.test")).toBe(false);
    await long.query("COMMIT");
    await long.end();
    // Its two log rows (ids below the applied one) were kept when the later one was trimmed.
    expect(await logRows(src)).toBe(2);
    await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    expect(await hasAccount(tgt, "long@x.test")).toBe(true);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 120_000);

  it.each(["capture:page-applied#1", "capture:batch-recorded#1", "capture:batch-committed#1", "capture:page-applied#2"])(
    "a ferry killed at %s resumes without loss or double apply",
    async (point) => {
      const db = `cap_k${point.replace(/\W/g, "_")}`.toLowerCase();
      const { src, tgt, env } = await ownedPair(clusters.source, clusters.target, db);
      const ok = await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up", "--json"], env);
      expect(ok.code, ok.stderr).toBe(0);
      // Two batches' worth: the second kill point falls in the later batch.
      await withClient(src, async (c) => {
        for (let n = 0; n < 30; n++) await mixedWrite(c, n);
      });
      const writer = withClient(src, async (c) => {
        for (let n = 30; n < 60; n++) await mixedWrite(c, n);
      });
      const killed = await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], { ...env, FERRY_TEST_CRASH_AT: point });
      await writer;
      if (killed.signal !== "SIGKILL") {
        // The second batch may not exist when the writer finished first: the point must then be a later batch's.
        expect(point).toBe("capture:page-applied#2");
      }
      const resumed = await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up", "--json"], env);
      expect(resumed.code).toBe(0);
      expect(JSON.parse(resumed.stdout).lag.rows).toBe(0);
      expect(await allRows(tgt)).toEqual(await allRows(src));
    },
    120_000,
  );

  it("status shows the lag in rows and seconds; DDL during capture is refused; rollback keeps the capture, cleanup leaves the source as it was", async () => {
    const { src, tgt, env } = await ownedPair(clusters.source, clusters.target, "cap_s");
    const before = await catalogSnapshot(src);
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    await withClient(src, (c) => c.query("UPDATE accounts SET visits = visits + 1 WHERE id <= 5"));
    await new Promise((r) => setTimeout(r, 1100));
    const st = await runFerry(["pg", "status", "--json"], env);
    expect(st.code).toBe(0);
    const report = JSON.parse(st.stdout);
    expect(report.strategy).toBe("capture");
    expect(report.phase).toBe("streaming");
    expect(report.lag.rows).toBe(5);
    expect(report.lag.seconds).toBeGreaterThanOrEqual(1);
    await withClient(src, (c) => c.query("ALTER TABLE accounts ADD COLUMN nickname text"));
    const refused = await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the source's schema changed since capture began/);
    // rollback gives the source back and keeps capturing (a cutover resumes from the log); cleanup abandons the capture.
    expect((await runFerry(["pg", "rollback", "--strategy", "capture"], env)).code).toBe(0);
    expect(await withClient(src, captureInstalled)).toBe(true);
    expect((await runFerry(["pg", "cleanup"], env)).code).toBe(0);
    await withClient(src, (c) => c.query("ALTER TABLE accounts DROP COLUMN nickname"));
    expect(await catalogSnapshot(src)).toEqual(before);
    // Replicating again installs anew and copies again into the target it empties first.
    await withClient(src, (c) => mixedWrite(c, 7));
    const again = await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up", "--json"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).performed).toEqual(["capture triggers installed on 7 table(s)", "initial copy"]);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 120_000);

  it("a stack switched from dump to capture: the old step's cleanup, then capture's replicate empties the dump's trial copy and copies anew", async () => {
    const { src, tgt, env } = await ownedPair(clusters.source, clusters.target, "cap_switch");
    const trial = await runFerry(["--json", "pg", "replicate", "--strategy", "dump"], env);
    expect(trial.code, trial.stderr).toBe(0);
    expect(JSON.parse(trial.stdout)).toMatchObject({ strategy: "dump", trial: true });
    // The engine's order since the fix (migrations/replicate.ts: deleteBeforeReplace): the dump step's delete first.
    expect((await runFerry(["pg", "cleanup"], env)).code).toBe(0);
    await withClient(src, (c) => mixedWrite(c, 1));
    const capture = await runFerry(["--json", "pg", "replicate", "--strategy", "capture", "--until-caught-up"], env);
    expect(capture.code, capture.stderr + capture.stdout).toBe(0);
    expect(JSON.parse(capture.stdout).performed).toEqual(["capture triggers installed on 7 table(s)", "initial copy"]);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 120_000);
});
