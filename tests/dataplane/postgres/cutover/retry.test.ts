// A cutover that gave back can run again (issue 23, item 5):
// - dump: the copy failed in the window and the source was given back; the retry
//   empties what that copy left (provably ferry's: recorded, or the source's own
//   objects) and copies again; an object ferry did not copy stops it before the fence;
// - logical: after a rollback, replicate again recreates the publication and the
//   subscription and syncs every table from empty;
// - logical: a table created on the source after replicate fails the gate by name,
//   before anything changes; replicate again creates it on the target and subscribes it.
import { describe, expect, test } from "vitest";
import { cutover } from "../../../../dataplane/postgres/cutover/cutover";
import { rollback } from "../../../../dataplane/postgres/cutover/rollback";
import { cleanup } from "../../../../dataplane/postgres/cutover/cleanup";
import { replicateLogical } from "../../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../../dataplane/postgres/preflight";
import { verifyDatabases } from "../../../../dataplane/postgres/verify/verify";
import { withClient } from "../../../../dataplane/postgres/connection";
import { loadCutover } from "../../../../dataplane/postgres/state";
import { canWrite, useClusterPair } from "../helpers";

describe("a cutover that gave back runs again", () => {
  const clusters = useClusterPair();

  test("dump: the copy failed in the window and gave back; the retry empties ferry's copy and copies again", async () => {
    const pair = await clusters.seeded("dumped");
    // A check constraint that holds only under a database setting the source has and the
    // target lacks: COPY into the target fails after the schema and some rows are in.
    await withClient(pair.src, (c) => c.query(`
      CREATE FUNCTION allowed() RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT coalesce(current_setting('app.allow', true), '') = 'yes' $$;
      ALTER DATABASE dumped SET app.allow = 'yes';
      CREATE TABLE zz_guarded (id int PRIMARY KEY, CHECK (allowed()));`));
    await withClient(pair.src, (c) => c.query("INSERT INTO zz_guarded SELECT g FROM generate_series(1, 10) g"));

    const first = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "dump", jobs: 1 });
    expect(first).toMatchObject({ ok: false, rolledBack: true });
    expect(first.error).toMatch(/zz_guarded/);
    expect(await canWrite(pair.appSrc)).toBe(true);
    const kept = await withClient(pair.tgt, (c) => loadCutover(c, "dump"));
    expect(kept).toMatchObject({ steps: [], copyStarted: true, copied: expect.arrayContaining(["table public.accounts", "table public.zz_guarded", "function public.allowed()"]) });

    // Someone's own table on the target: not ferry's to drop, refused before the fence.
    await withClient(pair.tgt, (c) => c.query("CREATE TABLE public.not_ferrys (x int)"));
    const refused = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "dump", jobs: 1 }).catch((e: Error) => e);
    expect((refused as Error).message).toBe("the target holds what ferry did not copy (table public.not_ferrys): drop or move it, or give the copy an empty database; the source was not touched");
    expect(await canWrite(pair.appSrc)).toBe(true);
    await withClient(pair.tgt, (c) => c.query("DROP TABLE public.not_ferrys"));

    // The cause fixed on the target; the retry empties the first copy and copies again.
    await clusters.target.query("ALTER DATABASE dumped SET app.allow = 'yes'");
    await withClient(pair.src, (c) => c.query("INSERT INTO accounts (email) SELECT 'retry' || g || '@example.test' FROM generate_series(1, 20) g"));
    const retry = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "dump", jobs: 1 });
    expect(retry.error).toBeUndefined();
    expect(retry.steps.map((s) => s.name)).toEqual(["gate", "fence", "copy", "verify", "done"]);
    expect(await canWrite(pair.appSrc)).toBe(false);
    const full = await verifyDatabases({ sourceUrl: pair.src, targetUrl: pair.tgt });
    expect(full.ok, full.firstDifference).toBe(true);
  }, 180000);

  test("logical: after a rollback, replicate again recreates publication and subscription and syncs from empty", async () => {
    const pair = await clusters.seeded("resync");
    expect((await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
    await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    const back = await rollback({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical" });
    expect(back.actions).toEqual(expect.arrayContaining(["subscription and its slot dropped", "publication dropped"]));
    // The source moves on while nothing replicates: new rows, and rows the target still has are deleted.
    await withClient(pair.src, (c) => c.query("INSERT INTO accounts (email) SELECT 'later' || g || '@example.test' FROM generate_series(1, 30) g; DELETE FROM invoices WHERE no % 2 = 0"));

    const again = await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    expect(again.performed).toEqual(["publication", "rows of the earlier subscription removed (the new one copies every table from empty)", "subscription"]);
    const full = await verifyDatabases({ sourceUrl: pair.src, targetUrl: pair.tgt });
    expect(full.tables.filter((t) => !t.ok).map((t) => t.table), full.firstDifference).toEqual([]);
    // The slot's name is the cluster's: the next case replicates another database.
    await cleanup({ sourceUrl: pair.src, targetUrl: pair.tgt });
  }, 180000);

  test("logical: a table created after replicate fails the gate by name; replicate again creates and subscribes it", async () => {
    const pair = await clusters.seeded("late");
    expect((await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
    await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    await withClient(pair.src, (c) => c.query("CREATE TABLE late_arrival (id int PRIMARY KEY, note text); INSERT INTO late_arrival VALUES (1, 'written after replicate')"));

    const refused = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", timeoutSeconds: 10 }).catch((e: Error) => e);
    expect((refused as Error).message).toBe("gate not met: 1 table(s) on the source are not replicated (created after ferry pg replicate?): public.late_arrival; rerun ferry pg replicate --strategy logical, which creates them on the target and subscribes to them; the source was not touched");
    expect(await canWrite(pair.appSrc)).toBe(true);

    const again = await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    expect(again.performed).toEqual(["new table(s) created on the target: public.late_arrival", "privileges"]);
    const r = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", timeoutSeconds: 30, maxLagBytes: 10 * 1024 * 1024 });
    expect(r.error).toBeUndefined();
    expect(await clusters.target.query("SELECT id, note FROM late_arrival", [], "late")).toEqual([{ id: 1, note: "written after replicate" }]);
  }, 180000);
});
