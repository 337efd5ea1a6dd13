// Each preflight failure, on real clusters: a misconfigured source (wal_level=replica,
// no WAL senders), a source role without replication rights, a target role that cannot
// subscribe, a table without a key, large objects, unlogged tables, too little disk.
// Each case lives in its own database or role so one shared cluster pair serves all.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../rehearsal/servers";
import { preflight, PreflightReport, versionProblem } from "../../../dataplane/postgres/preflight";
import { createTestSchema, roleUrl, startSource, ROLE_PASSWORD } from "./fixtures";
import { runFerry, standbyPath, withDatabase } from "./helpers";

const failed = (r: PreflightReport) => r.checks.filter((c) => !c.ok).map((c) => c.name);

describe("preflight", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;
  let misconfigured: LocalPostgres;

  beforeAll(async () => {
    [source, target, misconfigured] = await Promise.all([
      startSource(50),
      startPostgres(),
      startPostgres({ settings: { wal_level: "replica", max_wal_senders: 0 } }),
    ]);
    /** A database holding the test schema plus one problem. */
    const variant = async (db: string, problem: string) => {
      await source.query(`CREATE DATABASE ${db}`);
      await createTestSchema(withDatabase(source.url(), db));
      await source.query(`ALTER TABLE audit_log REPLICA IDENTITY FULL; ${problem}`, [], db);
    };
    await variant("with_lo", "SELECT lo_from_bytea(0, 'blob')");
    await variant("with_unlogged", "CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text)");
    await target.query(`CREATE ROLE plain LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  });

  afterAll(async () => {
    await Promise.all([source?.stop("immediate"), target?.stop("immediate"), misconfigured?.stop("immediate")]);
  });

  const logical = (over: Partial<Parameters<typeof preflight>[0]> = {}) =>
    preflight({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical", ...over });

  test("a table without primary key fails logical; --fix-replica-identity fixes it", async () => {
    const r = await logical();
    expect(failed(r)).toEqual(["replica identity"]);
    expect(r.checks.find((c) => c.name === "replica identity")!.detail).toMatch(/public\.audit_log/);
    expect((await logical({ fixReplicaIdentity: true })).ok).toBe(true);
    expect(await source.query("SELECT relreplident FROM pg_class WHERE relname = 'audit_log'")).toEqual([{ relreplident: "f" }]);
    // Physical and dump do not care.
    expect((await preflight({ sourceUrl: source.url(), strategy: "physical", standbyDir: standbyPath() })).ok).toBe(true);
    expect((await preflight({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "dump" })).ok).toBe(true);
  });

  test("wal_level below logical fails logical", async () => {
    const r = await preflight({ sourceUrl: misconfigured.url(), targetUrl: target.url(), strategy: "logical" });
    expect(failed(r)).toContain("wal_level");
    expect(r.checks.find((c) => c.name === "wal_level")!.detail).toMatch(/wal_level is replica; logical needs logical/);
  });

  test("no free WAL sender fails physical", async () => {
    const r = await preflight({ sourceUrl: misconfigured.url(), strategy: "physical", standbyDir: standbyPath() });
    expect(failed(r)).toEqual(["replication capacity"]);
    expect(r.checks.find((c) => c.name === "replication capacity")!.detail).toMatch(/max_wal_senders=0/);
  });

  test("a source role without REPLICATION fails", async () => {
    const r = await logical({ sourceUrl: roleUrl(source, "worker") });
    expect(failed(r)).toContain("source privileges");
    expect(r.checks.find((c) => c.name === "source privileges")!.detail).toMatch(/worker has neither superuser, rds_superuser nor REPLICATION/);
  });

  test("a replication role that cannot fence the other roles fails, naming them", async () => {
    const r = await preflight({ sourceUrl: roleUrl(source, "replicator"), strategy: "physical", standbyDir: standbyPath() });
    expect(failed(r)).toEqual(["fence"]);
    // physical moves every database: a role that may connect to one it cannot read counts as a writer there.
    expect(r.checks.find((c) => c.name === "fence")!.detail).toMatch(
      /^the fence cannot stop 4 role\(s\) that can write to the source: app \(replicator has neither superuser nor CREATEROLE\), postgres \(it is a superuser and replicator is not\), reporting \(.*\), worker \(.*\);/,
    );
  });

  test("a target role that cannot create a subscription fails", async () => {
    const r = await logical({ targetUrl: target.url("postgres", "plain", ROLE_PASSWORD) });
    expect(failed(r)).toContain("target privileges");
  });

  test("large objects fail logical and dump", async () => {
    const sourceUrl = withDatabase(source.url(), "with_lo");
    const r = await logical({ sourceUrl });
    expect(failed(r)).toEqual(["large objects"]);
    expect(failed(await preflight({ sourceUrl, targetUrl: target.url(), strategy: "dump" }))).toEqual(["large objects"]);
  });

  test("unlogged tables fail logical", async () => {
    const r = await logical({ sourceUrl: withDatabase(source.url(), "with_unlogged") });
    expect(failed(r)).toEqual(["unlogged tables"]);
    expect(r.checks.find((c) => c.name === "unlogged tables")!.detail).toMatch(/public\.cache/);
  });

  test("too little free disk fails", async () => {
    const r = await preflight({ sourceUrl: source.url(), strategy: "physical", standbyDir: standbyPath(), diskHeadroom: 1e9 });
    expect(failed(r)).toEqual(["free disk"]);
  });

  test("versions: physical needs the same major, logical/dump a target no older", () => {
    expect(versionProblem("physical", 150004, 160000)).toMatch(/same major version/);
    expect(versionProblem("logical", 160002, 150004)).toMatch(/older than source/);
    expect(versionProblem("logical", 90624, 150004)).toMatch(/PostgreSQL 10 or newer/);
    expect(versionProblem("dump", 130001, 170000)).toBeUndefined();
  });

  test("the CLI prints one JSON object, exits 1 when not ready, 2 on bad input, never the password", async () => {
    const env = { FERRY_SOURCE_URL: misconfigured.url(), FERRY_TARGET_URL: target.url() };
    const notReady = await runFerry(["--json", "pg", "preflight", "--strategy", "logical"], env);
    expect(notReady.code).toBe(1);
    const report = JSON.parse(notReady.stdout);
    expect(report.ok).toBe(false);
    expect(notReady.stdout + notReady.stderr).not.toContain(misconfigured.password);

    const badStrategy = await runFerry(["pg", "preflight", "--strategy", "sideways"], env);
    expect(badStrategy.code).toBe(2);
    expect(badStrategy.stderr).toBe('ferry: --strategy must be one of physical, logical, dump, capture (got "sideways")\n');
    const noTarget = await runFerry(["pg", "preflight", "--strategy", "logical"], { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: "" });
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/^ferry: missing --target/);
    const badHeadroom = await runFerry(["pg", "preflight", "--strategy", "dump", "--disk-headroom", "lots"], env);
    expect(badHeadroom.code).toBe(2);
    expect(badHeadroom.stderr).toMatch(/^ferry: --disk-headroom must be a number/);
    const unreachable = await runFerry(["pg", "preflight", "--strategy", "dump"], { FERRY_SOURCE_URL: "postgresql://u:hunter2@127.0.0.1:1/db", FERRY_TARGET_URL: target.url() });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    expect(unreachable.stderr).not.toContain("hunter2");
  });
});
