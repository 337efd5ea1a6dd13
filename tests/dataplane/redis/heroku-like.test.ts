// A source that behaves like Heroku Redis: TLS on a self-signed certificate, a password,
// what Heroku refuses renamed away (SYNC, PSYNC, CONFIG, ACL: HEROKU_REDIS_REFUSES).
// Preflight must find that out, replicaof must refuse, the ACL fence must be refused in
// one line before anything changes, and the copy must move everything over TLS and cut
// over with the app's stopped processes as the fence.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import Redis from "ioredis";
import { HEROKU_REDIS_REFUSES, startRedis, LocalRedis, tempDir } from "../../../rehearsal/servers";
import { eventually } from "../../support/eventually";
import { client, closeClients, differences, ferry, seed, seedBig, startWriter } from "./helpers";

let source: LocalRedis;
let target: LocalRedis;
let caFile: string;
let env: Record<string, string>;

beforeAll(async () => {
  source = await startRedis({
    tls: true,
    password: "heroku-secret",
    disableCommands: [...HEROKU_REDIS_REFUSES],
    settings: { "notify-keyspace-events": "KA" }, // what `heroku redis:keyspace-notifications -c KA` sets
  });
  target = await startRedis();
  caFile = join(tempDir("ca"), "heroku-ca.pem");
  writeFileSync(caFile, source.caCert!);
  env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() };
  for (const db of [0, 1]) await seed(client(source, db), 40);
  await seedBig(client(source, 1), 300);
});

afterAll(async () => {
  closeClients();
  await source.stop();
  await target.stop();
});

describe("Heroku-like source (TLS, self-signed, password, no PSYNC/SYNC/CONFIG/ACL)", () => {
  test("the stand-in refuses ACL SETUSER as Heroku's does, and answers CLIENT LIST", async () => {
    const c = client(source);
    await expect(c.call("ACL", "SETUSER", "default", "-@write")).rejects.toThrow(/unknown command 'ACL'/);
    expect(String(await c.call("CLIENT", "LIST"))).toMatch(/ cmd=/);
  });

  test("cutover: the ACL fence is refused naming --fence dynos-stopped; with it, a gate not met changes nothing and leaves the source writable", async () => {
    closeClients();
    const acl = await ferry(["redis", "cutover", "--strategy", "copy", "--tls-ca", caFile], env);
    expect(acl.code).toBe(1);
    expect(acl.stderr.trim().split("\n")).toHaveLength(1);
    expect(acl.stderr).toMatch(/^ferry: --source refuses ACL SETUSER \(.*unknown command 'ACL'.*\): .*rerun with --fence dynos-stopped/);

    // The app on AWS, still pointed at the source; no copy in progress: the gate refuses
    // before any pause, so the app keeps writing.
    const app = new Redis(source.url(), { tls: { ca: source.caCert }, connectionName: "web.1", maxRetriesPerRequest: 0 });
    for (const args of [["redis", "cutover"], ["cutover"]]) {
      const refused = await ferry([...args, "--strategy", "copy", "--fence", "dynos-stopped", "--tls-ca", caFile], env);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr.trim().split("\n")).toHaveLength(1);
      expect(await Promise.race([app.set("app:write", "1"), new Promise((r) => setTimeout(() => r("held"), 2000))])).toBe("OK");
    }
    await app.quit();
    expect(await client(target).dbsize()).toBe(0);
    expect(await client(source).get("ferry:state:fence")).toBeNull();
    await client(source).del("app:write");
  });

  test("an untrusted self-signed certificate fails with the remedy in one line", async () => {
    const r = await ferry(["redis", "verify"], env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--source rediss:\/\/127\.0\.0\.1:\d+: TLS certificate not trusted.*--tls-ca FILE/);
    expect(r.stderr).not.toContain("heroku-secret");
  });

  test("preflight: no outside replica, TLS verified with --tls-ca, notifications observed by a probe write, copy recommended", async () => {
    const r = await ferry(["--json", "redis", "preflight", "--tls-ca", caFile, "--probe-write", "--listen", "3"], env);
    expect(r.code).toBe(0);
    const checks = Object.fromEntries(r.json.checks.map((c: { name: string }) => [c.name, c]));
    expect(checks["source.feeds-replica"].status).toBe("fail");
    expect(checks["source.feeds-replica"].detail).toMatch(/SYNC absent, PSYNC absent/);
    expect(checks["source.connection"].detail).toMatch(/TLS, certificate verified against --tls-ca/);
    expect(checks["source.keyspace-notifications"]).toMatchObject({ status: "ok" });
    expect(r.json.recommendedMode).toBe("copy");
    expect(r.json.source.tls).toBe(true);
    expect(JSON.stringify(r.json)).not.toContain("heroku-secret");
  });

  test("replicate --strategy replicaof refuses such a source", async () => {
    const r = await ferry(["redis", "replicate", "--strategy", "replicaof", "--tls-insecure"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--source cannot feed an outside replica .*PSYNC absent.*use --strategy copy/);
  });

  test("copy with a live follower over TLS, writes during the copy, cutover: target equals source", async () => {
    const writer = startWriter(source, [0, 1]);
    const follower = ferry(["--json", "redis", "replicate", "--strategy", "copy", "--follow", "--tls-ca", caFile, "--batch", "100", "--big-key-elements", "100"], env);
    const tgt = client(target, 0);
    await eventually("the follower to reach the following phase", async () => (await tgt.hget("ferry:state:meta", "phase")) === "following", { timeoutMs: 30_000 });
    const atFollowing = writer.ops();
    // Writes the follower has to tail, not only the bulk copy: a thousand after it follows.
    await eventually("1000 source writes while the follower tails", () => writer.ops() >= atFollowing + 1000);
    const writtenWhileFollowing = (await writer.stop()) - atFollowing;
    closeClients(); // the app's dynos are stopped
    // ... but the app on AWS is still connected to the source until its tasks roll.
    const app = new Redis(source.url(), { tls: { ca: source.caCert }, connectionName: "web.1", maxRetriesPerRequest: 0, commandTimeout: 60_000 });
    await app.ping();
    const cut = await ferry(["--json", "redis", "cutover", "--strategy", "copy", "--fence", "dynos-stopped", "--tls-ca", caFile], env);
    expect(cut.stderr).toBe("");
    expect(cut.code).toBe(0);
    // Its writes after the fence are held (CLIENT PAUSE WRITE), not taken: none lands in
    // the source the target was copied from. Reads still answer.
    expect(await app.get("app:late")).toBeNull();
    const late = app.set("app:late", "1").catch((e: Error) => e.message);
    expect(await Promise.race([late, new Promise((r) => setTimeout(() => r("held"), 2000))])).toBe("held");
    app.disconnect(); // the task stops: its write was never answered
    expect(await late).toMatch(/Connection is closed/);
    // The live follower holds its lease (even if its heartbeat looks late on a loaded
    // machine): the cutover asks it to finish and copies nothing itself.
    expect(cut.json.catchUp).toEqual({ by: "follower" });
    expect(cut.json.verify.ok).toBe(true);
    const followed = await follower;
    expect(followed.code).toBe(0);
    expect(followed.json.stoppedBy).toBe("cutover");
    expect(followed.json.bigKeys).toBeGreaterThanOrEqual(5);
    // The keys written after the bulk pass reached the target through the tail and the
    // follower's catch-up: each of the writer's rounds (10 ops) made a new live:kept key
    // (one round may have been under way when the phase was read).
    expect(followed.json.recopied).toBeGreaterThanOrEqual(writtenWhileFollowing / 10 - 1);
    expect(await differences(source, target, [0, 1])).toEqual([]);
    expect(await client(source).exists("app:late")).toBe(0);
  });
});
