// kill -9 of `ferry pg cutover --strategy physical` right after each step, then a
// rerun: one writable primary at every moment (checked while the run is dead), and
// every acknowledged write on the promoted standby. One source cluster serves all
// steps: after each, its fence is lifted and a new standby is made.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres } from "../../../../rehearsal/servers";
import { withClient } from "../../../../dataplane/postgres/connection";
import { unfence, withWritable } from "../../../../dataplane/postgres/cutover/fence";
import { replicatePhysical, stopStandby } from "../../../../dataplane/postgres/replication/physical";
import { cleanup } from "../../../../dataplane/postgres/cutover/cleanup";
import { insertWithoutIds, missingWrites, roleUrl, startSource, startWriteLoad } from "../fixtures";
import { asRole, canWrite, runFerry, standbyPath, standbyUrl } from "../helpers";

const STEPS = ["gate", "fence", "drain", "promote", "verify", "activate", "done"];
/**
 * What the rerun does after a kill following each step: what the killed run finished is
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
const MAX_LAG_BYTES = 10485760;

describe("physical cutover killed at each step", () => {
  let source: LocalPostgres;
  const standbys: string[] = [];

  beforeAll(async () => {
    source = await startSource(100);
  });

  afterAll(async () => {
    for (const dir of standbys) await stopStandby(dir);
    await source?.stop("immediate");
  });

  /** A new standby of the (unfenced) source. */
  async function freshStandby() {
    const dir = standbyPath();
    standbys.push(dir);
    const target = await standbyUrl(source);
    await replicatePhysical({ sourceUrl: source.url(), targetUrl: target, standbyDir: dir });
    const appTarget = asRole(target, "app");
    return { dir, target, appTarget, env: { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target } };
  }

  /** Make the source a primary again for the next step, and retire the promoted standby. */
  async function reset(dir: string) {
    await withWritable(source.url(), (c) => unfence(c));
    await stopStandby(dir);
    await cleanup({ sourceUrl: source.url() });
  }

  const cutoverArgs = ["--json", "pg", "cutover", "--strategy", "physical", "--max-lag-bytes", String(MAX_LAG_BYTES), "--timeout", "30"];

  test.each(STEPS)("killed after %s, rerun finishes", async (step) => {
    const s = await freshStandby();
    const load = startWriteLoad(roleUrl(source, "app"), { writers: 1 });
    await load.waitForMore(30);

    const started = Date.now();
    const killed = await runFerry(cutoverArgs, { ...s.env, FERRY_TEST_CRASH_AFTER_STEP: step });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    const sourceWritable = await canWrite(roleUrl(source, "app"));
    const targetWritable = await canWrite(s.appTarget).catch(() => false); // a standby refuses writes
    expect(sourceWritable && targetWritable, "two writable primaries").toBe(false);
    expect(sourceWritable).toBe(step === "gate");
    expect(targetWritable).toBe(step === "activate" || step === "done");

    const rerun = await runFerry(cutoverArgs, s.env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    const result = JSON.parse(rerun.stdout);
    expect(result).toMatchObject({ ok: true, resumed: step !== "gate" });
    expect(result.steps.map((x: { name: string }) => x.name)).toEqual(RERUN_STEPS[step]);
    // The window opened with the fence, in one of the two runs, and closed before the rerun returned.
    expect(result.writeUnavailableMs).toBeGreaterThan(0);
    expect(result.writeUnavailableMs).toBeLessThanOrEqual(Date.now() - started);
    // The gate let the fence happen at a lag within --max-lag-bytes.
    expect(result.lagBytesAtFence).toBeLessThanOrEqual(MAX_LAG_BYTES);

    load.retarget(s.appTarget);
    await load.waitForMore(20);
    await load.stop();
    expect(await missingWrites(s.target, load.acked)).toEqual([]);
    expect(await canWrite(roleUrl(source, "app"))).toBe(false);
    await insertWithoutIds(s.target, `after-${step}`);
    await reset(s.dir);
  });

  test("rollback after a crash before promotion gives the source back and stops the standby", async () => {
    const s = await freshStandby();
    const killed = await runFerry(cutoverArgs, { ...s.env, FERRY_TEST_CRASH_AFTER_STEP: "drain" });
    expect(killed.signal).toBe("SIGKILL");
    expect(await canWrite(roleUrl(source, "app"))).toBe(false);
    const rb = await runFerry(["--json", "pg", "rollback", "--strategy", "physical", "--standby-dir", s.dir], s.env);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout).actions).toEqual(expect.arrayContaining([`standby in ${s.dir} stopped`, "slot ferry_standby dropped"]));
    expect(await canWrite(roleUrl(source, "app"))).toBe(true);
    expect(await withClient(source.url(), async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_replication_slots")).rows[0].n)).toBe(0);
  });
});
