// kill -9 of `ferry pg cutover --strategy physical` at every crash point (the first half
// of the sweep: crash-physical.sweep.ts), and a rollback after a crash before promotion.
import { describe, expect, test } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { roleUrl } from "../fixtures";
import { canWrite, runFerry, useStandbySource } from "../helpers";
import { physicalCrashSweep, physicalCutoverArgs } from "./crash-physical.sweep";

physicalCrashSweep(0, 2);

describe("physical cutover killed before promotion, then rolled back", () => {
  const clusters = useStandbySource();

  test("rollback after a crash before promotion gives the source back and stops the standby", async () => {
    const s = await clusters.freshStandby();
    const killed = await runFerry(physicalCutoverArgs, { ...s.env, FERRY_TEST_CRASH_AFTER_STEP: "drain" });
    expect(killed.signal).toBe("SIGKILL");
    expect(await canWrite(roleUrl(clusters.source, "app"))).toBe(false);
    const rb = await runFerry(["--json", "pg", "rollback", "--strategy", "physical", "--standby-dir", s.dir], s.env);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout).actions).toEqual(expect.arrayContaining([`standby in ${s.dir} stopped`, "slot ferry_standby dropped"]));
    expect(await canWrite(roleUrl(clusters.source, "app"))).toBe(true);
    expect(await withClient(clusters.source.url(), async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_replication_slots")).rows[0].n)).toBe(0);
  });
});
