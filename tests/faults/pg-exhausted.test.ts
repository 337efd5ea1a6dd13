// The target runs out of connections in the middle of a dump cutover (its login role
// has a CONNECTION LIMIT below what the parallel copy opens, as a small RDS class's
// max_connections would). The cutover must fail with one clear line, give the source
// back writable, and leave its data and catalog exactly as they were.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../rehearsal/servers";
import { missingWrites, roleUrl, startSource, startWriteLoad } from "../dataplane/postgres/fixtures";
import { canWrite, runFerry, withDatabase } from "../dataplane/postgres/helpers";
import { postgresFingerprint } from "../safety/fingerprint";

const MIGRATOR_PASSWORD = "migrator-Pw-19d4c0";

describe("target connections exhausted during a dump cutover", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;
  let targetUrl: string;

  beforeAll(async () => {
    [source, target] = await Promise.all([startSource(300), startPostgres()]);
    // Superusers are exempt from connection limits: the target login is an ordinary owner.
    await target.query(`CREATE ROLE migrator LOGIN PASSWORD '${MIGRATOR_PASSWORD}' CONNECTION LIMIT 2`);
    await target.query("CREATE DATABASE app OWNER migrator");
    targetUrl = withDatabase(target.url("postgres", "migrator", MIGRATOR_PASSWORD), "app");
  });

  afterAll(async () => {
    await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
  });

  test("clear failure, source untouched and writable, no acknowledged write lost", async () => {
    const load = startWriteLoad(roleUrl(source, "app"), { writers: 1 });
    await load.waitForMore(20);
    const before = await catalogOnly(source);
    const run = await runFerry(["--json", "pg", "cutover", "--strategy", "dump", "--jobs", "6", "--timeout", "30"], {
      FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: targetUrl,
    });
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout) as { ok: boolean; rolledBack?: boolean; error?: string };
    expect(result).toMatchObject({ ok: false, rolledBack: true });
    // The connection failure names its side (the target), as every ferry error does.
    expect(result.error).toMatch(/^--target 127\.0\.0\.1:\d+\/app: too many connections for role "migrator"; the fence was lifted and the source is writable again$/);
    expect(run.stdout + run.stderr).not.toContain(MIGRATOR_PASSWORD);

    expect(await canWrite(roleUrl(source, "app"))).toBe(true);
    await load.waitForMore(20); // the app writes on the source again
    const summary = await load.stop();
    expect(await missingWrites(source.url(), load.acked)).toEqual([]);
    expect(summary.acknowledged).toBeGreaterThan(40);

    // Untouched: apart from the app's own writes, the catalog, roles, settings (no fence
    // left behind) and slots are as before.
    expect(await catalogOnly(source)).toEqual(before);
  });
});

/** The source's catalog lines (relations, roles, settings, slots), without row data that the app changes. */
async function catalogOnly(pg: LocalPostgres): Promise<string[]> {
  return (await postgresFingerprint(pg.url())).filter((l) => !/: data |: seq /.test(l));
}
