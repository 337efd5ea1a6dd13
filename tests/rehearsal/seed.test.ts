// The generated sample at a database size (rehearsal/seed.ts seedSampleToSize): at least
// the size asked for, shaped like the row-count sample (accounts, their follows at the
// same fan-out, statuses spread over them, the same indexes), generated on the server,
// into the tables the app's own migrations made.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { withClient } from "../../dataplane/postgres/connection";
import { LocalPostgres, startPostgres } from "../../rehearsal/servers";
import { databaseBytes, planSample, seedSample, seedSampleToSize } from "../../rehearsal/seed";
import { migrateApp } from "../../rehearsal/source-data";
import { buildRehearsalSlug } from "../../rehearsal/stack/slug";

let pg: LocalPostgres;
beforeAll(async () => {
  const [server, slug] = await Promise.all([startPostgres(), buildRehearsalSlug()]);
  pg = server;
  await withClient(pg.url(), async (c) => {
    await c.query("CREATE DATABASE sized");
    await c.query("CREATE DATABASE counted");
  });
  for (const db of ["sized", "counted"]) await migrateApp(slug.appDir, pg.url(db), "public");
}, 300_000);
afterAll(() => pg?.stop());

describe("the generated sample at a size", () => {
  test("seeded to a database size: at least that size, not far above it, shaped like the row-count sample", async () => {
    const target = 40 * 1024 ** 2;
    const sized = await withClient(pg.url("sized"), async (c) => ({ rows: await seedSampleToSize(c, "public", target), bytes: await databaseBytes(c) }));
    expect(sized.bytes).toBeGreaterThanOrEqual(target);
    expect(sized.bytes).toBeLessThan(target * 1.5);
    // The row-count sample of the same total has the same shape: accounts, 20 follows each, statuses the rest.
    const total = sized.rows.accounts + sized.rows.follows + sized.rows.statuses;
    const plan = planSample(total);
    expect(sized.rows.follows).toBe(sized.rows.accounts * plan.followsPerAccount);
    expect(sized.rows.statuses).toBeGreaterThan(sized.rows.follows);
    const counted = await withClient(pg.url("counted"), (c) => seedSample(c, "public", plan));
    expect(counted.follows / counted.accounts).toBe(sized.rows.follows / sized.rows.accounts);
    const shape = (db: string) => withClient(pg.url(db), async (c) => (await c.query<{ i: string }>("SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")).rows.map((r) => r.i));
    expect(await shape("sized")).toEqual(await shape("counted"));
    // Every status belongs to an account (the foreign keys were built over the rows).
    const orphans = await withClient(pg.url("sized"), async (c) => (await c.query("SELECT count(*)::int AS n FROM statuses s LEFT JOIN accounts a ON a.id = s.account_id WHERE a.id IS NULL")).rows[0].n);
    expect(orphans).toBe(0);
  }, 300_000);
});
