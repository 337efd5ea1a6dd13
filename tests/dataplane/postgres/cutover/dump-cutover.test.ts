// The dump strategy (Heroku Postgres: no replication role): `replicate` makes a timed
// trial copy while the app keeps writing; `cutover` fences, empties the target, copies
// again under the fence and verifies. Nothing acknowledged may be lost.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../../rehearsal/servers";
import { cutover } from "../../../../dataplane/postgres/cutover/cutover";
import { APP_ROLES, TEST_TABLES, insertWithoutIds, missingWrites, roleUrl, startSource, startWriteLoad, WriteLoad, ROLE_PASSWORD } from "../fixtures";
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

  async function sourceRows(): Promise<number> {
    const counts = TEST_TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(" + ");
    return (await source.query<{ n: number }>(`SELECT (${counts})::int AS n`))[0].n;
  }

  test("trial copy while writable, then cutover under writes", async () => {
    const env = { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url() };
    const rowsBefore = await sourceRows();
    const trial = await runFerry(["--json", "pg", "replicate", "--strategy", "dump", "--jobs", "2"], env);
    const rowsAfter = await sourceRows();
    expect(trial.code, trial.stderr).toBe(0);
    // Every heap table of the schema (events is copied through its 3 partitions), and the
    // rows of one snapshot: the load only inserts and updates, so between the counts around it.
    const copied = JSON.parse(trial.stdout);
    expect(copied).toMatchObject({ strategy: "dump", trial: true, tables: 7 });
    expect(copied.rows).toBeGreaterThanOrEqual(rowsBefore);
    expect(copied.rows).toBeLessThanOrEqual(rowsAfter);
    expect(await canWrite(roleUrl(source, "app"))).toBe(true); // the trial never fences

    await load.waitForMore(30);
    const started = Date.now();
    const r = await cutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "dump", jobs: 2 });
    const tookMs = Date.now() - started;
    expect(r.error).toBeUndefined();
    expect(r.steps.map((s) => s.name)).toEqual(["gate", "fence", "copy", "verify", "done"]);
    expect(r.writeUnavailableMs).toBeGreaterThan(0);
    expect(r.writeUnavailableMs).toBeLessThan(tookMs); // the window opened after the gate and closed before cutover returned
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
