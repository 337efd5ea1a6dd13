// The pooler the cutover pauses, repoints and resumes (docs/pooler.md), for real: two
// `ferry pooler serve` replicas (pgbouncer 1.18, transaction pooling, TLS to the app and
// verify-full to the servers) in front of a TLS source and target PostgreSQL, with the
// app's clients writing through both all the while. Across pause -> cutover -> repoint ->
// resume no write fails and every acknowledged one is on the target; a replica that
// cannot be paused (a transaction held open, or a session-mode client that stays) fails
// the step with every replica resumed on the source and no write failed.
import { readFileSync } from "node:fs";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalPostgres, makeCa, startPostgres, tempDir } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { preflight } from "../../../dataplane/postgres/preflight";
import { replicateLogical } from "../../../dataplane/postgres/replication/logical";
import { pooler } from "../../../dataplane/cli/contract";
import { createRoles, ROLE_PASSWORD } from "../postgres/fixtures";
import { GRANT_APP, runFerry, seededPair } from "../postgres/helpers";
import { ADMIN_PASSWORD, appClient, canWriteTls, missingTokens, PoolerCerts, poolerCertificate, Replica, startReplica, startWriters } from "./helpers";

/** The target's app password: quotes, spaces and ini comment characters must survive pgbouncer.ini. */
const TARGET_APP_PASSWORD = `t'arget "pw" #;% x`;
const DB = "pooled";

let source: LocalPostgres;
let target: LocalPostgres;
let serverCa: string;
let certs: PoolerCerts;
let replicas: Replica[] = [];
let pg: Awaited<ReturnType<typeof seededPair>>;
let sourceAppUrl: string;
let targetAppUrl: string;

/** `ferry pooler <step>` on `on`, as the contract builds it; the admin password only in the environment. */
function poolerStep(step: "pause" | "repoint" | "resume" | "status", on: Replica[], env: Record<string, string> = {}) {
  const r = { urls: on.map((x) => x.control), caFile: caFile() };
  const command = step === "pause" ? pooler.pause(r, 2) : step === "repoint" ? pooler.repoint(r, "target") : pooler[step](r);
  expect(command.argv.join(" ")).not.toContain(ADMIN_PASSWORD);
  return runFerry(command.argv.slice(1), { FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env });
}

let poolerCaFile: string | undefined;
function caFile(): string {
  return (poolerCaFile ??= certs.tls.caFile);
}

async function status(on: Replica[]) {
  const r = await poolerStep("status", on);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { replicas: { replica: string; host: string; port: number; paused: boolean }[] };
}

let dbCa: { caFile: string; caKey: string };

beforeAll(async () => {
  dbCa = await makeCa(tempDir("pg-ca"), "database CA");
  serverCa = readFileSync(dbCa.caFile, "utf8");
  certs = await poolerCertificate();
}, 60_000);

/**
 * A TLS source and target (one CA) of their own, database `db` replicating logically from
 * one to the other, the app's URLs on both and two replicas pointed at the source. Each
 * describe has its own: ferry's replication slot is named per cluster, not per database.
 */
async function replicatingWorld(db: string) {
  const [src, tgt] = await Promise.all([startPostgres({ tls: { kind: "private-ca", ca: dbCa } }), startPostgres({ tls: { kind: "private-ca", ca: dbCa } })]);
  await createRoles(src);
  await tgt.query(`CREATE ROLE app LOGIN PASSWORD '${TARGET_APP_PASSWORD.replace(/'/g, "''")}'`);
  const pair = await seededPair(src, tgt, db);
  const ready = await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true });
  if (!ready.ok) throw new Error(`preflight: ${JSON.stringify(ready.checks.filter((c) => !c.ok))}`);
  await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 60_000 });
  await withClient(pair.tgt, (c) => c.query(GRANT_APP));
  const sourceApp = `postgresql://app:${encodeURIComponent(ROLE_PASSWORD)}@127.0.0.1:${src.port}/${db}?sslmode=verify-full`;
  // By name: verify-full checks the certificate's DNS name here, its IP address for the source.
  const targetApp = `postgresql://app:${encodeURIComponent(TARGET_APP_PASSWORD)}@localhost:${tgt.port}/${db}?sslmode=verify-full`;
  const started = await Promise.all([startReplica(certs, sourceApp, serverCa), startReplica(certs, sourceApp, serverCa)]);
  return {
    source: src, target: tgt, pg: pair, sourceApp, targetApp, replicas: started,
    stop: async () => {
      await Promise.all(started.map((r) => r.stop()));
      await Promise.all([src.stop("immediate"), tgt.stop("immediate")]);
    },
  };
}

describe("ferry pooler", () => {
  let world: Awaited<ReturnType<typeof replicatingWorld>> | undefined;
  beforeAll(async () => {
    world = await replicatingWorld(DB);
    ({ source, target, pg, replicas, sourceApp: sourceAppUrl, targetApp: targetAppUrl } = world);
  }, 180_000);
  afterAll(async () => world?.stop(), 60_000);

  it("fails the pause when one replica cannot be paused (a transaction held open): the others are resumed on the source and no write fails", async () => {
    const writers = await startWriters(replicas, certs, 2);
    const holder = appClient(replicas[1], certs);
    await holder.connect();
    try {
      await writers.waitForMore(40);
      await holder.query("BEGIN");
      await holder.query("INSERT INTO audit_log (actor, token) VALUES ('holder', 'held')");

      const r = await poolerStep("pause", replicas);
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout);
      expect(result.ok).toBe(false);
      expect(result.error).toContain(`pooler ${new URL(replicas[1].control).host}: PAUSE did not complete within 2 s`);
      expect(result.error).not.toContain(new URL(replicas[0].control).host);
      expect(result.error).toContain("every replica was resumed");
      expect(r.stderr).toContain("ferry: could not pause every pooler replica");

      await writers.waitForMore(40);
      const after = await status(replicas);
      expect(after.replicas.map((x) => [x.paused, x.port])).toEqual([[false, source.port], [false, source.port]]);
      // The held transaction was never cut: it commits on the source.
      await holder.query("COMMIT");
      expect(await missingTokens(pg.src, ["held"])).toEqual([]);
    } finally {
      await holder.end().catch(() => undefined);
      await writers.stop();
    }
    expect(writers.failed).toEqual([]);
    expect(await missingTokens(pg.src, writers.acked)).toEqual([]);
  });

  it("cannot wait out a session-mode client that stays connected: PAUSE times out, the step fails and the replica serves again", async () => {
    const session = await startReplica(certs, sourceAppUrl, serverCa, { poolMode: "session" });
    const stays = appClient(session, certs);
    try {
      await stays.connect();
      await stays.query("SELECT 1"); // idle, in no transaction: only leaving releases its server connection
      const t0 = Date.now();
      const r = await poolerStep("pause", [session]);
      expect(r.code).toBe(1);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(JSON.parse(r.stdout).error).toMatch(/PAUSE did not complete within 2 s: a client holds its server connection .*session-mode client/);
      const [after] = (await status([session])).replicas;
      expect(after.paused).toBe(false);
      expect((await stays.query("SELECT 2 AS n")).rows[0].n).toBe(2);
      const fresh = appClient(session, certs);
      await fresh.connect();
      await fresh.end();
    } finally {
      await stays.end().catch(() => undefined);
      await session.stop();
    }
  });

  it("pause -> cutover -> repoint -> resume: no write fails, every acknowledged write is on the target", async () => {
    const writers = await startWriters(replicas, certs, 2);
    try {
      await writers.waitForMore(100);
      const t0 = Date.now();
      const paused = await poolerStep("pause", replicas);
      expect(paused.code, paused.stderr).toBe(0);
      expect((await status(replicas)).replicas.every((x) => x.paused)).toBe(true);

      const cut = await runFerry(["--json", "pg", "cutover", "--strategy", "logical"], pg.env);
      expect(cut.code, cut.stderr).toBe(0);

      const repointed = await poolerStep("repoint", replicas, { FERRY_POOLER_TARGET_URL: targetAppUrl });
      expect(repointed.code, repointed.stderr).toBe(0);
      for (const out of [repointed.stdout, repointed.stderr, ...replicas.flatMap((x) => x.log)]) {
        expect(out).not.toContain(TARGET_APP_PASSWORD);
        expect(out).not.toContain(encodeURIComponent(TARGET_APP_PASSWORD));
      }
      const resumed = await poolerStep("resume", replicas);
      expect(resumed.code, resumed.stderr).toBe(0);
      const windowMs = Date.now() - t0;

      await writers.waitForMore(100);
      await writers.stop();
      const longest = writers.longestMs();
      console.log(`pooler cutover: ${writers.acked.length} writes acknowledged, ${writers.failed.length} failed, longest wait ${longest} ms, pause-to-resume ${windowMs} ms`);
      expect(writers.failed).toEqual([]);
      expect(await missingTokens(pg.tgt, writers.acked)).toEqual([]);
      // Writes went to the target after the resume: the source refuses them (fenced) and lacks the last ones.
      expect((await missingTokens(pg.src, writers.acked.slice(-20))).length).toBe(20);
      expect(longest).toBeLessThanOrEqual(windowMs + 1000);
      const after = await status(replicas);
      expect(after.replicas.map((x) => [x.host, x.port, x.paused])).toEqual([["localhost", target.port, false], ["localhost", target.port, false]]);

      // Idempotent: a second repoint changes nothing, a second resume finds nothing paused.
      const again = await poolerStep("repoint", replicas, { FERRY_POOLER_TARGET_URL: targetAppUrl });
      expect(JSON.parse(again.stdout).steps.map((s: { detail: string }) => s.detail)).toEqual([`already points at localhost:${target.port}/${DB}`, `already points at localhost:${target.port}/${DB}`]);
      const resumedAgain = await poolerStep("resume", replicas);
      expect(JSON.parse(resumedAgain.stdout).steps.every((s: { detail: string }) => s.detail.startsWith("was not paused"))).toBe(true);
    } finally {
      await writers.stop();
    }
  });

  it("runs as the program's task runs it: the server's CA from a file, the control API trusted through FERRY_POOLER_CA", async () => {
    const task = await startReplica(certs, sourceAppUrl, serverCa, { serverCaFromFile: true });
    const client = appClient(task, certs);
    try {
      // verify-full on the server leg: only the CA read from the file lets this through.
      await client.connect();
      expect((await client.query("SELECT current_database() AS db")).rows[0].db).toBe(DB);
      const args = ["--json", "pooler", "status", "--pooler", task.control];
      const trusted = await runFerry(args, { FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_CA: certs.ca });
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(JSON.parse(trusted.stdout).replicas[0].port).toBe(source.port);
      // Without it the pooler's own CA is in no trust store: refused.
      const untrusted = await runFerry(args, { FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_CA: undefined });
      expect(untrusted.code).toBe(1);
    } finally {
      await client.end().catch(() => undefined);
      await task.stop();
    }
  });

  it("refuses a wrong admin password with one line naming the replica", async () => {
    const r = await runFerry(["--json", "pooler", "status", "--pooler", replicas[0].control, "--pooler-ca", caFile()], { FERRY_POOLER_ADMIN_PASSWORD: "wrong" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`ferry: pooler ${new URL(replicas[0].control).host}: the admin password is wrong or missing`);
    const c = new Client({ host: "127.0.0.1", port: replicas[0].port, database: "pgbouncer", user: "ferry", password: "wrong", ssl: { ca: certs.ca } });
    await expect(c.connect()).rejects.toThrow();
  });
});

/** A describe's own replicating world (database `db`), started before its tests and stopped after. */
function worldOfItsOwn(db: string): () => Awaited<ReturnType<typeof replicatingWorld>> {
  let world: Awaited<ReturnType<typeof replicatingWorld>> | undefined;
  beforeAll(async () => {
    world = await replicatingWorld(db);
  }, 180_000);
  afterAll(async () => world?.stop(), 60_000);
  return () => world!;
}

/** `ferry cutover` through the world's replicas, as the program's step runs it; `env` adds to its environment. */
function cutoverThrough(w: Awaited<ReturnType<typeof replicatingWorld>>) {
  return (env: Record<string, string> = {}) => runFerry(
    ["--json", "cutover", "--strategy", "logical", ...w.replicas.flatMap((r) => ["--pooler", r.control]), "--pooler-ca", caFile()],
    { ...w.pg.env, FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_TARGET_URL: w.targetApp, ...env },
  );
}

describe("ferry cutover --pooler", () => {
  const HOOKED = "hooked";
  let hooked: Awaited<ReturnType<typeof seededPair>>;
  let pair: Replica[] = [];
  let targetApp: string;

  let world: Awaited<ReturnType<typeof replicatingWorld>> | undefined;
  beforeAll(async () => {
    world = await replicatingWorld(HOOKED);
    ({ pg: hooked, replicas: pair, targetApp } = world);
  }, 180_000);
  afterAll(async () => world?.stop(), 60_000);

  const cutover = () => runFerry(
    ["--json", "cutover", "--strategy", "logical", ...pair.flatMap((r) => ["--pooler", r.control]), "--pooler-ca", caFile(), "--pooler-timeout", "2"],
    { ...hooked.env, FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_TARGET_URL: targetApp },
  );

  it("gives back when one replica cannot be paused: nothing fenced, every replica resumed on the source, no write failed", async () => {
    const writers = await startWriters(pair, certs, 2);
    const holder = appClient(pair[0], certs);
    await holder.connect();
    try {
      await writers.waitForMore(40);
      await holder.query("BEGIN");
      await holder.query("INSERT INTO audit_log (actor, token) VALUES ('holder', 'held-hooked')");
      const r = await cutover();
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout);
      expect(result).toMatchObject({ ok: false, rolledBack: true });
      expect(result.error).toContain(`could not pause every pooler replica (pooler ${new URL(pair[0].control).host}: PAUSE did not complete within 2 s`);
      expect(result.steps.map((s: { name: string }) => s.name)).not.toContain("fence");
      await writers.waitForMore(40);
      expect((await status(pair)).replicas.map((x) => [x.paused, x.port])).toEqual([[false, world!.source.port], [false, world!.source.port]]);
      await holder.query("COMMIT");
      expect(await missingTokens(hooked.src, ["held-hooked"])).toEqual([]);
      expect(await canWriteTls(hooked.appSrc)).toBe(true);
    } finally {
      await holder.end().catch(() => undefined);
      await writers.stop();
    }
    expect(writers.failed).toEqual([]);
    expect(await missingTokens(hooked.src, writers.acked)).toEqual([]);
  });

  it("pauses before the fence, repoints and resumes once the target opens: no write fails, the longest wait is the window's", async () => {
    const writers = await startWriters(pair, certs, 2);
    let result: { ok: boolean; writeUnavailableMs: number; steps: { name: string; ms: number }[]; error?: string; postgres?: { verifyAtOpen?: { ok: boolean } } };
    try {
      await writers.waitForMore(100);
      const r = await cutover();
      result = JSON.parse(r.stdout);
      expect(r.code, r.stderr).toBe(0);
      await writers.waitForMore(100);
    } finally {
      await writers.stop();
    }
    const names = result.steps.map((s) => s.name);
    expect(names.indexOf("pooler-pause")).toBeGreaterThanOrEqual(0);
    expect(names.indexOf("pooler-pause")).toBeLessThan(names.indexOf("fence"));
    expect(names.indexOf("pooler-repoint")).toBeGreaterThan(names.indexOf("verify"));
    expect(names.indexOf("pooler-repoint")).toBeLessThan(names.indexOf("done"));
    const pauseMs = result.steps.find((s) => s.name === "pooler-pause")!.ms;
    const longest = writers.longestMs();
    console.log(`ferry cutover --pooler: ${writers.acked.length} writes acknowledged, ${writers.failed.length} failed, longest wait ${longest} ms, window ${result.writeUnavailableMs} ms (pause ${pauseMs} ms)`);
    expect(writers.failed).toEqual([]);
    // The app wrote the target from the repoint on, so the full verify compared the target as
    // opened (its snapshot from before the first replica moved), after the window.
    expect(names.indexOf("verify-at-open")).toBeGreaterThan(names.indexOf("done"));
    expect(result.postgres?.verifyAtOpen?.ok).toBe(true);
    const recorded = await runFerry(["--json", "pg", "verify"], hooked.env);
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(JSON.parse(recorded.stdout)).toMatchObject({ ok: true, atOpen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    // Compared now, the target holds the app's writes the fenced source never saw: reported,
    // and never "repaired" from the source over them.
    const live = await runFerry(["--json", "pg", "verify", "--live"], hooked.env);
    expect(live.code).toBe(1);
    const liveReport = JSON.parse(live.stdout) as { ok: boolean; notRepaired?: string; repaired?: string[] };
    expect(liveReport.notRepaired).toMatch(/^the cutover resumed the app on the target/);
    expect(liveReport.repaired).toBeUndefined();
    expect(await missingTokens(hooked.tgt, writers.acked)).toEqual([]);
    expect(await canWriteTls(hooked.appSrc)).toBe(false); // the source stays fenced: the pooler's writes all went to the target
    expect((await status(pair)).replicas.map((x) => [x.host, x.port, x.paused])).toEqual([["localhost", world!.target.port, false], ["localhost", world!.target.port, false]]);
    // A write waits from the pause to the resume: never longer than the window and the pause around it.
    expect(longest).toBeLessThanOrEqual(result.writeUnavailableMs + pauseMs + 1000);
  });
});

describe("ferry cutover --pooler, killed once the app is on the target", () => {
  const world = worldOfItsOwn("killed");

  it("records that the app writes the target before it moves: pg verify reports the difference and never copies the source over the app's writes", async () => {
    const w = world();
    const writers = await startWriters(w.replicas, certs, 2);
    try {
      await writers.waitForMore(40);
      // Killed as kill -9 would, right after the replicas resumed on the target: no
      // verify of the target as opened, no `done`.
      const cutover = cutoverThrough(w);
      expect((await cutover({ FERRY_TEST_CRASH_AFTER_STEP: "pooler-repoint" })).code).not.toBe(0);
      await writers.waitForMore(100);
      // The rerun finishes (done); the target as opened is gone, so nothing compared it.
      const rerun = await cutover();
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout).steps.map((x: { name: string }) => x.name)).not.toContain("verify-at-open");
      const verify = await runFerry(["--json", "pg", "verify"], w.pg.env);
      expect(verify.code).toBe(1);
      const report = JSON.parse(verify.stdout) as { notRepaired?: string; repaired?: string[]; atOpen?: string };
      expect(report.atOpen).toBeUndefined();
      expect(report.notRepaired).toMatch(/^the cutover resumed the app on the target/);
      expect(report.repaired).toBeUndefined();
    } finally {
      await writers.stop();
    }
    expect(writers.failed).toEqual([]);
    expect(await missingTokens(w.pg.tgt, writers.acked)).toEqual([]);
  });
});

describe("ferry cutover --pooler, when the verify fails", () => {
  const world = worldOfItsOwn("verified");

  it("resumes every replica on the fenced source (reads work, writes are refused), and the rerun repoints them at the target", async () => {
    const w = world();
    const cutover = cutoverThrough(w);
    const writers = await startWriters(w.replicas, certs, 1);
    const reader = appClient(w.replicas[0], certs);
    await reader.connect();
    try {
      await writers.waitForMore(40);
      const failed = await cutover({ FERRY_REHEARSAL: "1", FERRY_INJECT_FAILURE: "pg-verify" });
      expect(failed.code).toBe(1);
      expect(JSON.parse(failed.stdout).error).toContain("verify failed after the switch");
      expect((await status(w.replicas)).replicas.map((x) => [x.port, x.paused])).toEqual([[w.source.port, false], [w.source.port, false]]);
      expect((await reader.query("SELECT count(*)::int AS n FROM audit_log")).rows[0].n).toBeGreaterThan(0);
      const refusedBefore = writers.failed.length;
      await new Promise((r) => setTimeout(r, 300));
      expect(writers.failed.length).toBeGreaterThan(refusedBefore); // the source is fenced: writes are refused, not held

      const rerun = await cutover();
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout).resumed).toBe(true);
      const refusedAfterRerun = writers.failed.length;
      await writers.waitForMore(40);
      expect(writers.failed.length).toBe(refusedAfterRerun);
    } finally {
      await reader.end().catch(() => undefined);
      await writers.stop();
    }
    expect(writers.failed.every((f) => /read-only transaction/.test(f)), writers.failed.slice(0, 3).join("; ")).toBe(true);
    expect(await missingTokens(w.pg.tgt, writers.acked)).toEqual([]);
    expect((await status(w.replicas)).replicas.map((x) => [x.host, x.port, x.paused])).toEqual([["localhost", w.target.port, false], ["localhost", w.target.port, false]]);
  });
});

describe("ferry cutover --pooler, when a replica is gone", () => {
  const world = worldOfItsOwn("gone");

  it("gives back before the fence when a replica cannot be reached: the other resumes on the source, which stays writable, and no write fails", async () => {
    const w = world();
    const [alive, gone] = w.replicas;
    // A replica's task stopped (Fargate replaced it, or it crashed): its control API answers nothing.
    await gone.stop();
    const writers = await startWriters([alive], certs, 2);
    let result: { ok: boolean; rolledBack?: boolean; error?: string; steps: { name: string }[] };
    try {
      await writers.waitForMore(40);
      const r = await runFerry(
        ["--json", "cutover", "--strategy", "logical", ...w.replicas.flatMap((x) => ["--pooler", x.control]), "--pooler-ca", caFile(), "--pooler-timeout", "2"],
        { ...w.pg.env, FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_TARGET_URL: w.targetApp },
      );
      expect(r.code).toBe(1);
      result = JSON.parse(r.stdout);
      await writers.waitForMore(40);
    } finally {
      await writers.stop();
    }
    expect(result).toMatchObject({ ok: false, rolledBack: true });
    expect(result.error).toContain(`pooler ${new URL(gone.control).host}`);
    expect(result.steps.map((s) => s.name)).not.toContain("fence");
    expect((await status([alive])).replicas.map((x) => [x.port, x.paused])).toEqual([[w.source.port, false]]);
    expect(await canWriteTls(w.pg.appSrc)).toBe(true);
    expect(writers.failed).toEqual([]);
    expect(await missingTokens(w.pg.src, writers.acked)).toEqual([]);
  });
});
