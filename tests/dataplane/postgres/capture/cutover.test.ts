// The capture strategy's cutover on a Heroku-like source (TLS, ferry's role a plain
// database owner, the provider's superuser out of ferry's reach): under the app's
// writes it catches up outside the window, fences, applies the rest, verifies and
// opens the target, with 0 acknowledged writes lost and the window measured; the gate
// refuses (source untouched) a capture changed by DDL or applied by another ferry; a
// failure behind the fence gives the source back with the capture kept for a retry;
// status, verify and cleanup afterwards; `ferry cutover` moves it with Redis in one window.
import { describe, expect, it } from "vitest";
import { startRedis } from "../../../../rehearsal/servers";
import { withClient } from "../../../../dataplane/postgres/connection";
import { replicateCapture } from "../../../../dataplane/postgres/capture/replicate";
import { installCapture } from "../../../../dataplane/postgres/capture/install";
import { listTables } from "../../../../dataplane/postgres/copy-catalog";
import { fencePlanFor } from "../../../../dataplane/postgres/cutover/fence-plan";
import { insertWithoutIds, missingWrites, startWriteLoad } from "../fixtures";
import { canWrite, runFerry } from "../helpers";
import { missingKeys, redisCanWrite, redisWriter } from "../../cutover/helpers";
import { allRows, catalogSnapshot, mixedWrite, ownedPair, useHerokuLikePair } from "./fixtures";

const clusters = useHerokuLikePair();

/** As the program runs it on Heroku: the provider's superuser is not the customer's to fence. */
const cutoverArgs = (...extra: string[]) => ["--json", "pg", "cutover", "--strategy", "capture", "--provider-superusers", "--timeout", "30", ...extra];

const captureInstalled = (url: string) => withClient(url, async (c) => (await c.query("SELECT 1 FROM pg_namespace WHERE nspname = 'ferry_capture'")).rows.length === 1);

/** Changes written to the source (as the app) that no applier has taken yet: the lag the cutover must catch up. */
async function writeBacklog(url: string, from: number, n: number): Promise<void> {
  await withClient(url, async (c) => {
    for (let i = from; i < from + n; i++) await mixedWrite(c, i);
  });
}

describe("capture cutover", () => {
  it("under the app's writes: caught up before the fence, the rest applied behind it, 0 acknowledged writes lost; then status, verify and cleanup", async () => {
    const { src, tgt, app, env } = await ownedPair(clusters.source, clusters.target, "cut_a", 300);
    const before = await catalogSnapshot(src);
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    const load = startWriteLoad(app, { writers: 2 });
    try {
      await load.waitForMore(50);
      // More than --max-lag-bytes behind: the gate must apply batches before it fences.
      await writeBacklog(src, 0, 200);
      const started = Date.now();
      const run = await runFerry(cutoverArgs("--max-lag-bytes", "20000"), env);
      const tookMs = Date.now() - started;
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const r = JSON.parse(run.stdout);
      expect(r).toMatchObject({ ok: true, strategy: "capture", resumed: false });
      expect(r.steps.map((s: { name: string }) => s.name)).toEqual(["gate", "fence", "drain", "sequences", "verify", "done"]);
      expect(r.steps[0].detail).toMatch(/^lag \d+ bytes \(\d+ row\(s\), [\d.]+ s; caught up by [1-9]\d* change\(s\) in [1-9]\d* batch\(es\)\)/);
      expect(r.lagBytesAtFence).toBeLessThanOrEqual(20000);
      expect(r.steps[2].detail).toMatch(/^the rest of the change log applied: \d+ change\(s\) in \d+ batch\(es\); lag 0 rows$/);
      // The window: from the fence to done, inside the run and after the catch-up.
      expect(r.writeUnavailableMs).toBeGreaterThan(0);
      expect(r.writeUnavailableMs).toBeLessThan(tookMs);
      console.info(`capture cutover: window ${r.writeUnavailableMs} ms, whole run ${tookMs} ms; ${r.steps.map((s: { name: string; ms: number }) => `${s.name} ${s.ms} ms`).join(", ")}`);

      expect(await canWrite(app), "the source is fenced after the cutover").toBe(false);
      // The fenced source and the target are equal row by row before the app moves.
      expect(await allRows(tgt)).toEqual(await allRows(src));
      load.retarget(tgt);
      await load.waitForMore(30);
    } finally {
      await load.stop();
    }
    expect(await missingWrites(tgt, load.acked), "acknowledged writes missing on the target").toEqual([]);
    await insertWithoutIds(tgt, "after-capture");

    const st = await runFerry(["pg", "status", "--require-cutover", "--json"], env);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ strategy: "capture", phase: "cut over", cutover: { done: true, fenced: true } });
    expect((await runFerry(["pg", "cutover", "--strategy", "capture", "--provider-superusers", "--json"], env)).code, "a rerun of a finished cutover").toBe(0);

    const cleaned = await runFerry(["pg", "cleanup"], env);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(cleaned.stdout).toMatch(/dropped 14 capture trigger\(s\)/);
    expect(await catalogSnapshot(src)).toEqual(before);
  }, 180_000);

  it("a ferry killed while catching up (before the fence) left the source writable, and the rerun finishes", async () => {
    const { src, tgt, app, env } = await ownedPair(clusters.source, clusters.target, "cut_k");
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    await writeBacklog(src, 0, 200);
    const killed = await runFerry(cutoverArgs("--max-lag-bytes", "20000"), { ...env, FERRY_TEST_CRASH_AT: "capture:batch-recorded#1" });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    expect(await canWrite(app)).toBe(true);
    await writeBacklog(src, 200, 10);
    const rerun = await runFerry(cutoverArgs("--max-lag-bytes", "20000"), env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: false });
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 120_000);

  it("ferry cutover moves a capture with Redis in one window and reports it as for the other strategies", async () => {
    const { src, tgt, app, env: pgEnv } = await ownedPair(clusters.source, clusters.target, "cut_s");
    const [redisSource, redisTarget] = await Promise.all([startRedis({ password: "box-password", settings: { "repl-diskless-sync-delay": "0" } }), startRedis()]);
    const load = startWriteLoad(app, { writers: 1 });
    const writer = redisWriter(redisSource.url());
    try {
      const env = { ...pgEnv, FERRY_SOURCE_REDIS_URL: redisSource.url(), FERRY_TARGET_REDIS_URL: redisTarget.url() };
      expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
      expect((await runFerry(["redis", "replicate", "--strategy", "replicaof"], env)).code).toBe(0);
      await load.waitForMore(30);
      const cut = await runFerry(["--json", "cutover", "--provider-superusers", "--timeout", "30"], env);
      expect(cut.code, cut.stderr + cut.stdout).toBe(0);
      const r = JSON.parse(cut.stdout);
      expect(r).toMatchObject({ ok: true, resumed: false, postgres: { strategy: "capture", verify: { ok: true } }, redis: { mode: "replicaof", verify: { ok: true } } });
      expect(r.writeUnavailableMs).toBeGreaterThan(0);
      expect(r.postgres.lagBytesAtFence).toBeGreaterThanOrEqual(0);
      const names: string[] = r.steps.map((x: { name: string }) => x.name);
      expect(names.slice(0, 3)).toEqual(["gate", "fence", "redis-fence"]);
      expect(names).toEqual(expect.arrayContaining(["drain", "sequences", "redis-switch", "verify", "redis-verify", "redis-open"]));
      expect(names[names.length - 1]).toBe("done");
      expect(cut.stdout + cut.stderr).not.toContain("box-password");
      expect(await canWrite(app)).toBe(false);
      expect(await redisCanWrite(redisSource.url())).toBe(false);
      expect(await allRows(tgt)).toEqual(await allRows(src));
      load.retarget(tgt);
      await load.waitForMore(20);
    } finally {
      await Promise.all([load.stop(), writer.stop()]);
    }
    expect(await missingWrites(tgt, load.acked)).toEqual([]);
    expect(await missingKeys(redisTarget.url(), writer.acked)).toEqual([]);
    await Promise.all([redisSource.stop(), redisTarget.stop()]);
  }, 180_000);

  it("a read-only credential is no writer to fence because of ferry's trigger functions (SECURITY DEFINER, EXECUTE for PUBLIC)", async () => {
    const { src, env } = await ownedPair(clusters.source, clusters.target, "cut_r");
    await clusters.source.query("CREATE ROLE capture_reader LOGIN PASSWORD 'reader-pw'");
    await withClient(src, (c) => c.query("GRANT SELECT ON ALL TABLES IN SCHEMA public TO capture_reader"));
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    const canRun = await withClient(src, async (c) => (await c.query(
      "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'ferry_capture' AND p.prosecdef AND has_function_privilege('capture_reader', p.oid, 'EXECUTE')")).rows.length);
    expect(canRun).toBe(2);
    // ferry's role cannot alter capture_reader: were it a writer, the fence would be refused.
    const plan = await withClient(src, (c) => fencePlanFor(c, ["cut_r"], { providerSuperusers: true }));
    expect(plan.problem).toBeUndefined();
    expect(plan.refused).toEqual([]);
    expect(plan.roles).toEqual(["heroku_owner"]);
  }, 120_000);

  it("ferry pg verify ignores ferry's own capture schema on the source (its functions' EXECUTE for PUBLIC)", async () => {
    const { src, env } = await ownedPair(clusters.source, clusters.target, "cut_v");
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    // The source grants EXECUTE on ferry's trigger functions to PUBLIC (the default): not user schema.
    const granted = await withClient(src, async (c) => (await c.query(
      "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'ferry_capture' AND has_function_privilege('public', p.oid, 'EXECUTE')")).rows.length);
    expect(granted).toBe(2);
    const v = await runFerry(["pg", "verify", "--json"], env);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).privileges.differences).toEqual([]);
  }, 120_000);

  it("the gate refuses, the source untouched: DDL during capture, and another ferry applying (named); a blind cleanup and a rollback keep the capture", async () => {
    const { src, tgt, app, env } = await ownedPair(clusters.source, clusters.target, "cut_g");
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    await writeBacklog(src, 0, 10);

    // A follower that applies until stopped holds the apply lock: the gate waits --timeout, then names it.
    const stop = new AbortController();
    let batches = 0;
    const follower = replicateCapture({ sourceUrl: src, targetUrl: tgt, signal: stop.signal, onBatch: () => batches++ });
    try {
      while (batches === 0) await new Promise((r) => setTimeout(r, 50));
      const held = await runFerry(cutoverArgs("--timeout", "2"), env);
      expect(held.code).toBe(1);
      expect(held.stderr.trim()).toMatch(/^ferry: gate not met: another ferry applies this capture to the target: the apply lock is held by session \d+ \(ferry from 127\.0\.0\.1, connected [\d-]+ [\d:]+ UTC\) after 2 s; stop that ferry pg replicate --strategy capture \(SIGTERM: it finishes its batch\) and rerun; the source was not touched$/);
      expect(await canWrite(app)).toBe(true);
    } finally {
      stop.abort();
      await follower;
    }

    // Neither a cleanup that cannot tell whether the cutover finished, nor a rollback, removes the capture the next cutover needs.
    expect((await runFerry(["pg", "cleanup"], { FERRY_SOURCE_URL: src })).stderr.trim()).toMatch(/^ferry: the capture triggers are on the source: pass --target /);
    expect((await runFerry(["pg", "rollback", "--strategy", "capture"], env)).code).toBe(0);
    expect(await captureInstalled(src)).toBe(true);

    await withClient(src, (c) => c.query("ALTER TABLE accounts ADD COLUMN nickname text"));
    const ddl = await runFerry(cutoverArgs(), env);
    expect(ddl.code).toBe(1);
    expect(ddl.stderr.trim()).toMatch(/^ferry: gate not met: the source's schema changed since capture began .*; the source was not touched$/);
    expect(ddl.stderr.trim().split("\n")).toHaveLength(1);
    expect(await canWrite(app)).toBe(true);

    // Undone, the same capture cuts over.
    await withClient(src, (c) => c.query("ALTER TABLE accounts DROP COLUMN nickname"));
    const ok = await runFerry(cutoverArgs(), env);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 180_000);

  it("the gate refuses a capture not installed, or whose copy has not finished, in one line; the source untouched", async () => {
    const { src, app, env } = await ownedPair(clusters.source, clusters.target, "cut_n");
    const none = await runFerry(cutoverArgs(), env);
    expect([none.code, none.stderr.trim()]).toEqual([1, "ferry: gate not met: the capture triggers are not on the source: run ferry pg replicate --strategy capture first; the source was not touched"]);
    await withClient(src, async (c) => installCapture(c, await listTables(c)));
    const uncopied = await runFerry(cutoverArgs(), env);
    expect([uncopied.code, uncopied.stderr.trim()]).toEqual([1, "ferry: gate not met: the capture's initial copy has not finished: run ferry pg replicate --strategy capture --until-caught-up first; the source was not touched"]);
    expect(await canWrite(app)).toBe(true);
  }, 120_000);

  it("a failure behind the fence gives the source back with the capture kept, and a later cutover finishes", async () => {
    const { src, tgt, app, env } = await ownedPair(clusters.source, clusters.target, "cut_f");
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    await writeBacklog(src, 0, 10);
    const killed = await runFerry(cutoverArgs(), { ...env, FERRY_TEST_CRASH_AFTER_STEP: "fence" });
    expect(killed.signal).toBe("SIGKILL");
    expect(await canWrite(app)).toBe(false);
    // DDL behind the fence (the provider's superuser is not fenced): the rerun's apply refuses it.
    await clusters.source.query("BEGIN READ WRITE; ALTER TABLE accounts ADD COLUMN nickname text; COMMIT", undefined, "cut_f");
    const failed = await runFerry(cutoverArgs(), env);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ ok: false, rolledBack: true, resumed: true, writeUnavailableMs: null });
    expect(JSON.parse(failed.stdout).error).toMatch(/^the source's schema changed since capture began .*; the fence was lifted and the source is writable again$/);
    expect(await canWrite(app)).toBe(true);
    expect(await captureInstalled(src)).toBe(true);

    // Writes while given back are captured, and the retry carries them.
    await clusters.source.query("ALTER TABLE accounts DROP COLUMN nickname", undefined, "cut_f");
    await writeBacklog(src, 10, 10);
    const retry = await runFerry(cutoverArgs(), env);
    expect(retry.code, retry.stderr + retry.stdout).toBe(0);
    expect(JSON.parse(retry.stdout)).toMatchObject({ ok: true, resumed: false });
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 180_000);
});
