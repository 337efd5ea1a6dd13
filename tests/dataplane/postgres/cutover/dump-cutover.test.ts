// The dump strategy (Heroku Postgres: no replication role): `replicate` makes a timed
// trial copy while the app keeps writing; `cutover` fences, empties the target, copies
// again under the fence and verifies. Nothing acknowledged may be lost.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../../rehearsal/servers";
import { cutover } from "../../../../dataplane/postgres/cutover/cutover";
import { APP_ROLES, insertWithoutIds, missingWrites, roleUrl, startSource, startWriteLoad, WriteLoad, ROLE_PASSWORD } from "../fixtures";
import { canWrite, runFerry } from "../helpers";

describe("dump strategy", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;
  let load: WriteLoad;

  beforeAll(async () => {
    [source, target] = await Promise.all([startSource(300), startPostgres()]);
    await target.query(`CREATE ROLE app LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    load = startWriteLoad(roleUrl(source, "app"), { writers: 1 });
    await load.waitForMore(30);
  });

  afterAll(async () => {
    await load?.stop();
  });

  test("trial copy while writable, then cutover under writes", async () => {
    const env = { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url() };
    const trial = await runFerry(["--json", "pg", "replicate", "--strategy", "dump", "--jobs", "2"], env);
    expect(trial.code, trial.stderr).toBe(0);
    expect(JSON.parse(trial.stdout)).toMatchObject({ strategy: "dump", trial: true, tables: expect.any(Number) });
    expect(await canWrite(roleUrl(source, "app"))).toBe(true); // the trial never fences

    await load.waitForMore(30);
    const r = await cutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "dump", jobs: 2 });
    expect(r.error).toBeUndefined();
    expect(r.steps.map((s) => s.name)).toEqual(["gate", "fence", "copy", "verify", "done"]);
    expect(r.writeUnavailableMs).toBeGreaterThan(0);
    // The trial's record is not an interrupted cutover: a first run is not "resumed".
    expect(r.resumed).toBe(false);

    await target.query("GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app");
    load.retarget(roleUrl(target, "app"));
    await load.waitForMore(30);
    await load.stop();
    expect(await missingWrites(target.url(), load.acked)).toEqual([]);
    await insertWithoutIds(target.url(), "after-dump");
    for (const role of [...APP_ROLES, "postgres"]) {
      expect(await canWrite(role === "postgres" ? source.url() : roleUrl(source, role)), role).toBe(false);
    }
  });
});
