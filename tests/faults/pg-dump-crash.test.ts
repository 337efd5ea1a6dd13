// kill -9 of `ferry pg cutover --strategy dump` (the Heroku path) right after each of
// its steps, then a rerun. At every moment exactly one side may take writes, the
// rerun finishes, and every write the app saw acknowledged is on the target.
// (The logical and physical cutovers get the same treatment in tests/dataplane/postgres/cutover/crash-*.)
import { describe, expect, test } from "vitest";
import { withClient } from "../../dataplane/postgres/connection";
import { loadCutover } from "../../dataplane/postgres/state";
import { insertWithoutIds, missingWrites, startWriteLoad } from "../dataplane/postgres/fixtures";
import { canWrite, runFerry, useClusterPair } from "../dataplane/postgres/helpers";

const STEPS = ["gate", "fence", "copy", "verify", "done"];

describe("dump cutover killed after each step", () => {
  const clusters = useClusterPair();

  /** A database pair `db`: the source with schema, rows and grants, the target empty. */
  const pair = (db: string) => clusters.seeded(db);

  const args = ["--json", "pg", "cutover", "--strategy", "dump", "--jobs", "2", "--timeout", "30"];

  test.each(STEPS)("killed after %s: one writable side, rerun finishes, nothing acknowledged lost", async (step) => {
    const p = await pair(`dump_${step}`);
    const load = startWriteLoad(p.appSrc, { writers: 1 });
    await load.waitForMore(20);

    const killed = await runFerry(args, { ...p.env, FERRY_TEST_CRASH_AFTER_STEP: step });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    const released = (await withClient(p.tgt, (c) => loadCutover(c, "dump")).catch(() => null))?.done === true;
    const sourceWritable = await canWrite(p.appSrc);
    expect(sourceWritable && released, "both sides writable").toBe(false);
    expect(sourceWritable).toBe(step === "gate");

    const rerun = await runFerry(args, p.env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true });

    await withClient(p.tgt, (c) => c.query("GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app"));
    load.retarget(p.appTgt);
    await load.waitForMore(10);
    await load.stop();
    expect(await missingWrites(p.tgt, load.acked)).toEqual([]);
    expect(await canWrite(p.appSrc)).toBe(false);
    await insertWithoutIds(p.tgt, `after-${step}`); // sequences were carried over
    expect(killed.stdout + killed.stderr + rerun.stdout + rerun.stderr).not.toContain(clusters.source.password);
  });
});
