// Logical strategy end to end on real PostgreSQL, with writes running throughout:
// preflight (fixing the table without a key), replicate (rerun-safe), status, cutover,
// then: every acknowledged write on the target, inserts without ids work, the source
// rejects writes from every role, verify is green, cleanup leaves no slot.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../rehearsal/servers";
import { cleanup } from "../../../migrations/postgres/cleanup";
import { cutover } from "../../../migrations/postgres/cutover";
import { replicateLogical } from "../../../migrations/postgres/logical";
import { preflight } from "../../../migrations/postgres/preflight";
import { status } from "../../../migrations/postgres/status";
import { splitPostData } from "../../../migrations/postgres/postdata";
import { dumpSchema } from "../../../migrations/postgres/schema";
import { verifyDatabases } from "../../../migrations/postgres/verify";
import { APP_ROLES, insertWithoutIds, missingWrites, roleUrl, startSource, startWriteLoad, WriteLoad } from "./fixtures";
import { canWrite, runFerry } from "./helpers";

describe("logical strategy", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;
  let load: WriteLoad;

  beforeAll(async () => {
    [source, target] = await Promise.all([startSource(300), startPostgres()]);
    load = startWriteLoad(roleUrl(source, "app"));
    await load.waitForMore(50);
  });

  afterAll(async () => {
    await load?.stop();
  });

  test("post-data splits into the keys replication needs early and the rest", async () => {
    const parts = splitPostData(await dumpSchema(source.url(), "post-data"));
    expect(parts.keys.match(/PRIMARY KEY/g)).toHaveLength(7); // 4 keyed tables + 3 partitions
    expect(parts.keys).toMatch(/ALTER INDEX public\.events_pkey ATTACH PARTITION public\.events_old_pkey/);
    expect(parts.keys).not.toMatch(/FOREIGN KEY|orders_account_idx/);
    expect(parts.rest).toMatch(/orders_account_idx/);
    expect(parts.rest).toMatch(/FOREIGN KEY/);
    expect(parts.rest).not.toMatch(/PRIMARY KEY/);
  });

  test("replicate under writes, rerun-safe, status per table", async () => {
    const fixed = await preflight({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical", fixReplicaIdentity: true });
    expect(fixed.checks.find((c) => c.name === "replica identity")?.fixed).toEqual(["public.audit_log"]);
    expect(fixed.ok).toBe(true);

    const first = await replicateLogical({ sourceUrl: source.url(), targetUrl: target.url(), syncTimeoutMs: 60_000 });
    expect(first.performed).toEqual(["pre-data schema", "primary keys", "publication", "subscription", "post-data schema"]);
    expect(first.tables).toBe(5);
    const again = await replicateLogical({ sourceUrl: source.url(), targetUrl: target.url(), syncTimeoutMs: 60_000 });
    expect(again.performed).toEqual([]);

    await load.waitForMore(50);
    const s = await status({ sourceUrl: source.url(), targetUrl: target.url(), sampleMs: 200 });
    expect(s.strategy).toBe("logical");
    expect(s.tables.map((t) => t.state)).toEqual(["ready", "ready", "ready", "ready", "ready"]);
    expect(s.lag).not.toBeNull();
    expect(s.copy).toMatchObject({ tablesDone: 5, tablesTotal: 5, etaSeconds: 0 });
    expect(s.phase).toBe("streaming");
  });

  test("cutover under writes loses nothing and leaves one writable primary", async () => {
    await load.waitForMore(50);
    const r = await cutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical", maxLagBytes: 10 * 1024 * 1024, timeoutSeconds: 30 });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.steps.map((x) => x.name)).toEqual(["gate", "fence", "drain", "sequences", "detach", "verify", "done"]);
    expect(r.writeUnavailableMs).toBeGreaterThan(0);
    console.log(`logical cutover: ${r.writeUnavailableMs} ms write-unavailable, steps ${JSON.stringify(r.steps)}`);
    expect(r.lagBytesAtFence).toBeGreaterThanOrEqual(0);

    // Full verify before the app moves: identical.
    const full = await verifyDatabases({ sourceUrl: source.url(), targetUrl: target.url(), fast: false });
    expect(full.tables.filter((t) => !t.ok), full.firstDifference).toEqual([]);
    expect(full.sequences.filter((x) => !x.ok)).toEqual([]);

    // The app moves to the target (roles are not replicated by logical replication).
    await target.query("CREATE ROLE app LOGIN PASSWORD 'role-pw-7c1e'; GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app");
    load.retarget(roleUrl(target, "app"));
    await load.waitForMore(100);
    const summary = await load.stop();
    expect(summary.acknowledged).toBeGreaterThan(200);
    expect(await missingWrites(target.url(), load.acked)).toEqual([]);

    await insertWithoutIds(target.url(), "after-logical");
    for (const role of [...APP_ROLES, "postgres"]) {
      const url = role === "postgres" ? source.url() : roleUrl(source, role);
      expect(await canWrite(url), `${role} can still write on the source`).toBe(false);
    }
    // Idempotent: a rerun reports the finished cutover.
    const rerun = await cutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical" });
    expect(rerun.ok).toBe(true);
    expect(rerun.writeUnavailableMs).toBe(r.writeUnavailableMs);

    // Rollback after the target took writes refuses and says what reverse replication needs.
    const rb = await runFerry(["pg", "rollback", "--strategy", "logical"], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url() });
    expect(rb.code).toBe(1);
    expect(rb.stderr).toMatch(/^ferry: refusing to roll back: .*reverse replication needs/);
    expect(rb.stderr).not.toContain(source.password);

    const c = await cleanup({ sourceUrl: source.url(), targetUrl: target.url() });
    expect(c.kept).toEqual([]);
    expect(await source.query("SELECT slot_name FROM pg_replication_slots")).toEqual([]);
    expect(await source.query("SELECT pubname FROM pg_publication")).toEqual([]);
  });
});
