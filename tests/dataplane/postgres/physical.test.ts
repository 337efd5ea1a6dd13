// Physical strategy end to end on a self-managed source: pg_basebackup -R into a
// standby while the app writes, status, then a cutover that fences every role on the
// source before pg_promote, with nothing lost and one writable primary.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres } from "../../../rehearsal/servers";
import { cleanup } from "../../../dataplane/postgres/cutover/cleanup";
import { cutover } from "../../../dataplane/postgres/cutover/cutover";
import { replicatePhysical, stopStandby } from "../../../dataplane/postgres/replication/physical";
import { preflight } from "../../../dataplane/postgres/preflight";
import { status } from "../../../dataplane/postgres/status";
import { verifyDatabases } from "../../../dataplane/postgres/verify/verify";
import { withClient } from "../../../dataplane/postgres/connection";
import { APP_ROLES, insertWithoutIds, missingWrites, roleUrl, startSource, startWriteLoad, WriteLoad } from "./fixtures";
import { asRole, canWrite, runFerry, standbyPath, standbyUrl } from "./helpers";

describe("physical strategy", () => {
  let source: LocalPostgres;
  let load: WriteLoad;
  let target: string;
  const dir = standbyPath();

  beforeAll(async () => {
    source = await startSource(300);
    target = await standbyUrl(source);
    load = startWriteLoad(roleUrl(source, "app"));
    await load.waitForMore(50);
  });

  afterAll(async () => {
    await load?.stop();
    await stopStandby(dir);
  });

  test("preflight, replicate (rerun-safe) and status while the app writes", async () => {
    const pf = await preflight({ sourceUrl: source.url(), strategy: "physical", standbyDir: dir });
    expect(pf.checks.filter((c) => !c.ok)).toEqual([]);

    // Through the CLI, as the Pulumi stage runs it: the password only in the environment.
    const rep = await runFerry(["--json", "pg", "replicate", "--strategy", "physical", "--standby-dir", dir], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target });
    expect(rep.stderr).toBe("");
    expect(rep.code).toBe(0);
    expect(JSON.parse(rep.stdout)).toMatchObject({ strategy: "physical", created: true, slot: "ferry_standby" });
    expect(rep.stdout).not.toContain(source.password);

    const again = await replicatePhysical({ sourceUrl: source.url(), targetUrl: target, standbyDir: dir });
    expect(again.created).toBe(false);

    await load.waitForMore(50);
    const s = await status({ sourceUrl: source.url(), targetUrl: target, sampleMs: 100 });
    expect(s.strategy).toBe("physical");
    expect(s.phase).toBe("streaming");
    expect(s.lag!.bytes).toBeLessThan(16 * 1024 * 1024);
  });

  test("cutover under writes: every role fenced, promote, nothing lost", async () => {
    await load.waitForMore(50);
    const r = await cutover({ sourceUrl: source.url(), targetUrl: target, strategy: "physical", maxLagBytes: 10 * 1024 * 1024, timeoutSeconds: 30 });
    expect(r.error).toBeUndefined();
    expect(r.steps.map((x) => x.name)).toEqual(["gate", "fence", "drain", "promote", "verify", "activate", "done"]);
    // The promoted server's own configuration no longer holds the source's connection or password.
    const autoConf = readFileSync(join(dir, "postgresql.auto.conf"), "utf8");
    expect(autoConf.includes(source.password), "the source password is in postgresql.auto.conf").toBe(false);
    expect(autoConf).not.toMatch(/primary_conninfo/);
    expect(r.steps.find((x) => x.name === "promote")?.detail).toMatch(/primary_conninfo \(with the source's password\) removed/);
    console.log(`physical cutover: ${r.writeUnavailableMs} ms write-unavailable, steps ${JSON.stringify(r.steps)}`);

    const full = await verifyDatabases({ sourceUrl: source.url(), targetUrl: target });
    expect(full.tables.filter((t) => !t.ok), full.firstDifference).toEqual([]);
    const cliVerify = await runFerry(["--json", "pg", "verify", "--jobs", "2"], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target });
    expect(cliVerify.code, cliVerify.stderr).toBe(0);
    expect(JSON.parse(cliVerify.stdout)).toMatchObject({ ok: true });
    const badJobs = await runFerry(["pg", "verify", "--jobs", "0"], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target });
    expect([badJobs.code, badJobs.stderr]).toEqual([2, 'ferry: --jobs must be an integer >= 1 (got "0")\n']);

    // Roles came along with the cluster: the app just points at the new primary.
    const appOnTarget = asRole(target, "app");
    expect(await canWrite(appOnTarget)).toBe(true);
    load.retarget(appOnTarget);
    await load.waitForMore(100);
    const summary = await load.stop();
    expect(await missingWrites(target, load.acked)).toEqual([]);
    expect(summary.acknowledged).toBeGreaterThan(200);
    await insertWithoutIds(target, "after-physical");

    for (const role of [...APP_ROLES, "postgres"]) {
      const url = role === "postgres" ? source.url() : roleUrl(source, role);
      expect(await canWrite(url), `${role} can still write on the source`).toBe(false);
    }
    expect(await withClient(target, async (c) => (await c.query("SELECT pg_is_in_recovery() AS r")).rows[0].r)).toBe(false);

    const rb = await runFerry(["pg", "rollback", "--strategy", "physical"], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target });
    expect(rb.code).toBe(1);
    expect(rb.stderr).toMatch(/refusing to roll back: .*pg_rewind/);

    const c = await cleanup({ sourceUrl: source.url(), targetUrl: target });
    expect(c.dropped).toContain("slot ferry_standby");
    expect(await source.query("SELECT slot_name FROM pg_replication_slots")).toEqual([]);
  });
});
