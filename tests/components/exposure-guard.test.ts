// The guard in front of Redis on EC2 (components/target/exposure-guard.ts), run by a real
// shell as the Command provider runs it: a changed exposure fails its update in one line
// naming the key once Redis holds data, and passes before.
import { describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { redisExposureGuard } from "../../components/target/exposure-guard";

/** As the provider runs an update: the last run's stdout in PULUMI_COMMAND_STDOUT. */
const sh = (script: string, previousStdout = "") => spawnSync("sh", ["-c", script], { encoding: "utf8", env: { ...process.env, PULUMI_COMMAND_STDOUT: previousStdout } });
const recorded = (internet: boolean) => sh(redisExposureGuard(internet, false).create).stdout.trim();

describe("redisExposureGuard", () => {
  test("holding data, a changed exposure fails its update with one line naming ferry:source.access", () => {
    for (const internet of [true, false]) {
      const ran = sh(redisExposureGuard(internet, true).update, recorded(!internet));
      expect(ran.status).toBe(1);
      expect(ran.stderr.trim().split("\n")).toHaveLength(1);
      expect(ran.stderr).toMatch(new RegExp(`^ferry:source\\.access: ${internet ? "adding an internet way in \\(kind box, static-egress or published\\)" : "removing the internet way in"} would replace Redis on EC2 `));
    }
  });

  test("the exposure is in the create (so a change runs the update); before Redis holds data the update passes", () => {
    const open = redisExposureGuard(true, false);
    const closed = redisExposureGuard(false, false);
    expect(open.create).not.toBe(closed.create);
    expect(sh(open.create).status).toBe(0);
    expect(sh(open.update).status).toBe(0);
    expect(redisExposureGuard(true, true).create).toBe(open.create);
  });

  test("holding data with the exposure unchanged (the update runs because Redis came to hold data at replicate), the update passes and records it again", () => {
    for (const internet of [true, false]) {
      const ran = sh(redisExposureGuard(internet, true).update, recorded(internet));
      expect(ran.status, ran.stderr).toBe(0);
      expect(ran.stdout.trim()).toBe(recorded(internet));
    }
  });
});
