// A source that behaves like Heroku Redis: TLS on a self-signed certificate, a password,
// SYNC and PSYNC renamed away, CONFIG blocked. Preflight must find that out, replicaof must
// refuse, and the copy must move everything over TLS.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis, tempDir } from "../../../rehearsal/servers";
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
    disableCommands: ["SYNC", "PSYNC", "CONFIG"],
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

describe("Heroku-like source (TLS, self-signed, password, no PSYNC/SYNC/CONFIG)", () => {
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

  test("replicate --mode replicaof refuses such a source", async () => {
    const r = await ferry(["redis", "replicate", "--mode", "replicaof", "--tls-insecure"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--source cannot feed an outside replica .*PSYNC absent.*use --mode copy/);
  });

  test("copy with a live follower over TLS, writes during the copy, cutover: target equals source", async () => {
    const writer = startWriter(source, [0, 1]);
    const follower = ferry(["--json", "redis", "replicate", "--mode", "copy", "--follow", "--tls-ca", caFile, "--batch", "100", "--big-key-elements", "100"], env);
    const tgt = client(target, 0);
    await eventually("the follower to reach the following phase", async () => (await tgt.hget("ferry:state:meta", "phase")) === "following", { timeoutMs: 30_000 });
    const atFollowing = writer.ops();
    // Writes the follower has to tail, not only the bulk copy: a thousand after it follows.
    await eventually("1000 source writes while the follower tails", () => writer.ops() >= atFollowing + 1000);
    await writer.stop();
    const cut = await ferry(["--json", "redis", "cutover", "--mode", "copy", "--tls-ca", caFile], env);
    expect(cut.stderr).toBe("");
    expect(cut.code).toBe(0);
    // Who finishes the catch-up is not the promise: a follower whose heartbeat looks stale on
    // a loaded machine hands it to the cutover, which then copies the rest itself.
    expect(["follower", "cutover"]).toContain(cut.json.catchUp.by);
    expect(cut.json.verify.ok).toBe(true);
    const followed = await follower;
    expect(followed.code).toBe(0);
    expect(followed.json.stoppedBy).toBe("cutover");
    expect(followed.json.bigKeys).toBeGreaterThanOrEqual(5);
    expect(await differences(source, target, [0, 1])).toEqual([]);
  });
});
