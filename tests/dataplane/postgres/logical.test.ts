// Logical strategy end to end on real PostgreSQL, with writes running throughout:
// preflight (fixing the table without a key), replicate (rerun-safe), status, cutover,
// then: every acknowledged write on the target, inserts without ids work, the source
// rejects writes from every role, verify is green, cleanup leaves no slot.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../rehearsal/servers";
import { cleanup } from "../../../dataplane/postgres/cutover/cleanup";
import { cutover } from "../../../dataplane/postgres/cutover/cutover";
import { replicateLogical } from "../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../dataplane/postgres/preflight";
import { status } from "../../../dataplane/postgres/status";
import { splitPostData } from "../../../dataplane/postgres/replication/postdata";
import { dumpSchema } from "../../../dataplane/postgres/replication/schema";
import { verifyDatabases } from "../../../dataplane/postgres/verify/verify";
import { APP_ROLES, createTestSchema, seedRows, insertWithoutIds, missingWrites, roleUrl, startSource, startWriteLoad, WriteLoad } from "./fixtures";
import { canWrite, runFerry, withDatabase } from "./helpers";
import { applySchema } from "../../../dataplane/postgres/replication/schema";
import { connect, withClient } from "../../../dataplane/postgres/connection";
import { saveRecord } from "../../../dataplane/postgres/state";
import { withWritable } from "../../../dataplane/postgres/cutover/fence";
import { waitFor } from "../../../rehearsal/servers";

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

  test("cutover before replication fails the gate and leaves the source writable", async () => {
    const r = await runFerry(["--json", "pg", "cutover", "--strategy", "logical", "--timeout", "1"], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url() });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, writeUnavailableMs: null, steps: [] });
    expect(r.stderr).toMatch(/^ferry: gate not met after 1 s: no subscription on the target.*the source was not touched\n$/);
    expect(await canWrite(roleUrl(source, "app"))).toBe(true);
  });

  test("replicate under writes, rerun-safe, status per table", async () => {
    const fixed = await preflight({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical", fixReplicaIdentity: true });
    expect(fixed.checks.find((c) => c.name === "replica identity")?.fixed).toEqual(["public.audit_log"]);
    expect(fixed.ok).toBe(true);

    const first = await replicateLogical({ sourceUrl: source.url(), targetUrl: target.url(), syncTimeoutMs: 60_000 });
    expect(first.performed).toEqual(["pre-data schema", "primary keys", "privileges", "publication", "subscription", "post-data schema"]);
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
    const maxLagBytes = 10 * 1024 * 1024;
    const started = Date.now();
    const r = await cutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical", maxLagBytes, timeoutSeconds: 30 });
    const tookMs = Date.now() - started;
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.steps.map((x) => x.name)).toEqual(["gate", "fence", "drain", "sequences", "detach", "verify", "done"]);
    expect(r.writeUnavailableMs).toBeGreaterThan(0);
    expect(r.writeUnavailableMs).toBeLessThan(tookMs); // the window opened after the gate and closed before cutover returned
    console.log(`logical cutover: ${r.writeUnavailableMs} ms write-unavailable, steps ${JSON.stringify(r.steps)}`);
    // The lag at the fence is the one the gate measured and let through: within --max-lag-bytes.
    expect(r.steps[0].detail).toMatch(new RegExp(`^lag ${r.lagBytesAtFence} bytes;`));
    expect(r.lagBytesAtFence).toBeLessThanOrEqual(maxLagBytes);

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

  test("status during the initial copy: per-table state, progress, a stuck table shows no estimate", async () => {
    // A second database pair whose audit_log copy is held up by a lock on the target.
    // (the source's postgres database is fenced by now: this session overrides the default)
    await withWritable(source.url(), (c) => c.query("CREATE DATABASE progress"));
    await target.query("CREATE DATABASE progress");
    const src = withDatabase(source.url(), "progress");
    const tgt = withDatabase(target.url(), "progress");
    await createTestSchema(src);
    await seedRows(src, 2000);
    await source.query("ALTER TABLE audit_log REPLICA IDENTITY FULL", [], "progress");
    await applySchema(tgt, await dumpSchema(src, "pre-data"));
    await applySchema(tgt, splitPostData(await dumpSchema(src, "post-data")).keys);
    await withClient(tgt, (c) => saveRecord(c, "replicate:logical", { preData: true, keys: true }));
    const blocker = await connect(tgt);
    await blocker.query("BEGIN; LOCK TABLE audit_log IN SHARE MODE");
    const replicating = replicateLogical({ sourceUrl: src, targetUrl: tgt, syncTimeoutMs: 60_000 });
    try {
      await waitFor("four tables ready", async () => (await status({ sourceUrl: src, targetUrl: tgt, sampleMs: 50 })).tables.filter((t) => t.state === "ready").length === 4);
      const s = await status({ sourceUrl: src, targetUrl: tgt, sampleMs: 300 });
      expect(s.phase).toBe("initial copy");
      expect(s.tables.find((t) => t.table === "public.audit_log")!.state).not.toBe("ready");
      expect(s.copy).toMatchObject({ tablesDone: 4, tablesTotal: 5, etaSeconds: null });
      expect(s.copy!.bytesDone).toBeGreaterThan(0);
      expect(s.copy!.bytesDone).toBeLessThan(s.copy!.bytesTotal);
      const cli = await runFerry(["pg", "status"], { FERRY_SOURCE_URL: src, FERRY_TARGET_URL: tgt });
      expect(cli.stdout).toMatch(/^logical: initial copy\n(lag: .*\n)?copy: 4\/5 tables, .* time left unknown \(not moving\)\n[\s\S]*public\.audit_log: (init|copying)/);
    } finally {
      await blocker.query("ROLLBACK");
      await blocker.end();
    }
    expect((await replicating).performed).toEqual(["privileges", "publication", "subscription", "post-data schema"]);
    await cleanup({ sourceUrl: src, targetUrl: tgt });
  });
});
