// Installing and removing the capture strategy's log and triggers on a Heroku-like
// source (TLS, ferry's role a plain database owner): what a trigger logs, that a failed
// or killed install and a removal leave the catalog exactly as it was, and the one-line
// refusals before anything is installed.
import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { connect, withClient } from "../../../../dataplane/postgres/connection";
import { listTables } from "../../../../dataplane/postgres/copy-catalog";
import { installCapture, refuseUncapturable, removeCapture, schemaHash } from "../../../../dataplane/postgres/capture/install";
import { loadCaptureProgress } from "../../../../dataplane/postgres/capture/record";
import { runFerry } from "../helpers";
import { catalogSnapshot, ownedPair, useHerokuLikePair } from "./fixtures";

const clusters = useHerokuLikePair();

const install = (url: string, lockTimeoutMs?: number) => withClient(url, async (c) => installCapture(c, await listTables(c), { lockTimeoutMs }));

describe("capture install", () => {
  it("runs as a NOSUPERUSER NOREPLICATION owner over TLS, logs every row change with its transaction id, and remove leaves the catalog as before", async () => {
    const { src } = await ownedPair(clusters.source, clusters.target, "inst_a");
    await withClient(src, async (c) => {
      const { rows } = await c.query<{ s: boolean; r: boolean; tls: boolean }>(
        "SELECT rolsuper AS s, rolreplication AS r, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS tls FROM pg_roles WHERE rolname = current_user");
      expect(rows[0]).toEqual({ s: false, r: false, tls: true });
    });
    const before = await catalogSnapshot(src);
    await install(src);
    expect(await catalogSnapshot(src)).not.toEqual(before);
    await withClient(src, async (c) => {
      await c.query("BEGIN");
      const { rows: [{ xid }] } = await c.query<{ xid: string }>("SELECT pg_current_xact_id()::text AS xid");
      await c.query("UPDATE accounts SET visits = 7 WHERE id = 3");
      await c.query("DELETE FROM audit_log WHERE token = 'seed-5'");
      await c.query("INSERT INTO events (occurred_at, kind) VALUES ('2024-07-01', 'x')");
      await c.query("TRUNCATE invoices");
      await c.query("COMMIT");
      const { rows } = await c.query<{ xid: string; rel: string; op: string; old: Record<string, unknown> | null; new: Record<string, unknown> | null }>(
        "SELECT xid::text, rel::regclass::text AS rel, op, old, new FROM ferry_capture.log ORDER BY id");
      expect(rows.map((r) => [r.xid, r.rel, r.op])).toEqual([
        [xid, "accounts", "U"], [xid, "audit_log", "D"], [xid, "events_old", "I"], [xid, "invoices", "T"],
      ]);
      expect(rows[0].old).toEqual({ id: 3 });
      expect(rows[0].new).toMatchObject({ id: 3, visits: 7 });
      // No primary key: the whole old row is the identity.
      expect(rows[1].old).toMatchObject({ actor: "seed", token: "seed-5" });
      // A partitioned root's TRUNCATE fires each leaf's trigger: the leaves are what capture applies to.
      await c.query("DELETE FROM ferry_capture.log");
      await c.query("TRUNCATE events");
      const { rows: leaves } = await c.query<{ rel: string; op: string }>("SELECT rel::regclass::text AS rel, op FROM ferry_capture.log ORDER BY 1");
      expect(leaves).toEqual([{ rel: "events_default", op: "T" }, { rel: "events_old", op: "T" }, { rel: "events_recent", op: "T" }]);
    });
    expect(await withClient(src, removeCapture)).toEqual(["14 capture trigger(s)", "schema ferry_capture (change log, trigger functions)"]);
    expect(await catalogSnapshot(src)).toEqual(before);
  });

  it("ferry pg rollback keeps a capture whose cutover is not done (the next cutover resumes from it); ferry pg cleanup abandons it and resets its record", async () => {
    const { src, tgt, env } = await ownedPair(clusters.source, clusters.target, "inst_f");
    const before = await catalogSnapshot(src);
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    const installed = await catalogSnapshot(src);
    const blind = await runFerry(["pg", "cleanup"], { FERRY_SOURCE_URL: src });
    expect([blind.code, blind.stderr.trim()]).toEqual([2, "ferry: the capture triggers are on the source: pass --target so cleanup can tell whether the capture cutover finished"]);
    const rb = await runFerry(["pg", "rollback", "--strategy", "capture"], env);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(/capture kept/);
    expect(await catalogSnapshot(src)).toEqual(installed);
    const cleaned = await runFerry(["pg", "cleanup"], env);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(cleaned.stdout).toMatch(/14 capture trigger\(s\)/);
    expect(await catalogSnapshot(src)).toEqual(before);
    // The record no longer claims a copy: the next replicate installs and copies again.
    expect(await withClient(tgt, loadCaptureProgress)).toMatchObject({ schemaHash: "" });
    expect(await withClient(tgt, loadCaptureProgress)).not.toHaveProperty("copyDone");
  });

  it("a failure part-way (a table's lock not granted) leaves nothing behind", async () => {
    const { src } = await ownedPair(clusters.source, clusters.target, "inst_b");
    const before = await catalogSnapshot(src);
    // invoices comes late in the order: the log, functions and earlier triggers exist by then.
    const holder: Client = await connect(src);
    try {
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE invoices IN ROW EXCLUSIVE MODE");
      await expect(install(src, 300)).rejects.toThrow(/gave up waiting for a table's lock .*nothing was installed/);
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    expect(await catalogSnapshot(src)).toEqual(before);
  });

  it("a ferry killed mid-install (after the third table's triggers) leaves nothing behind", async () => {
    const { src, env } = await ownedPair(clusters.source, clusters.target, "inst_c");
    const before = await catalogSnapshot(src);
    const run = await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], { ...env, FERRY_TEST_CRASH_AT: "capture:trigger-created#3" });
    expect(run.signal).toBe("SIGKILL");
    expect(await catalogSnapshot(src)).toEqual(before);
  });

  it("refuses, naming the object, a table ferry's role does not own and large objects, before installing anything", async () => {
    const { src } = await ownedPair(clusters.source, clusters.target, "inst_d");
    await clusters.source.query(`CREATE ROLE other_owner; CREATE TABLE public.theirs (id int PRIMARY KEY); ALTER TABLE public.theirs OWNER TO other_owner`, [], "inst_d");
    const before = await catalogSnapshot(src);
    const refuse = () => withClient(src, async (c) => refuseUncapturable(c, await listTables(c)));
    await expect(refuse()).rejects.toThrow(/^table public\.theirs is owned by role other_owner, not by ferry's role/);
    await clusters.source.query("DROP TABLE public.theirs", [], "inst_d");
    await withClient(src, (c) => c.query("SELECT lo_from_bytea(0, 'x')"));
    await expect(refuse()).rejects.toThrow(/^the source has 1 large object\(s\)/);
    const run = await runFerry(["pg", "replicate", "--strategy", "capture"], { FERRY_SOURCE_URL: src, FERRY_TARGET_URL: clusters.target.url("inst_d") });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/large object/);
    expect(await catalogSnapshot(src)).toEqual(before.filter((o) => !o.includes("theirs")));
  });

  it("the schema hash changes with DDL on a user table and not with data", async () => {
    const { src } = await ownedPair(clusters.source, clusters.target, "inst_e");
    const hash = () => withClient(src, schemaHash);
    const h0 = await hash();
    await withClient(src, (c) => c.query("UPDATE accounts SET visits = 1"));
    expect(await hash()).toBe(h0);
    await withClient(src, (c) => c.query("ALTER TABLE accounts ADD COLUMN nickname text"));
    expect(await hash()).not.toBe(h0);
  });
});
