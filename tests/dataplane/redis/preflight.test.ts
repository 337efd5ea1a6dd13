// Each preflight probe against servers set up to pass or fail it.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { preflight, PreflightResult } from "../../../dataplane/redis/preflight";
import { compareVersions } from "../../../dataplane/redis/info";
import { flagsSufficient } from "../../../dataplane/redis/probes";
import { client, closeClients, endpoint, seed } from "./helpers";

let open: LocalRedis;   // plain source, notifications on
let locked: LocalRedis; // CONFIG, EVAL, PSYNC renamed away; notifications off
let target: LocalRedis;
let small: LocalRedis;  // tiny maxmemory, CONFIG blocked, not empty
const servers: LocalRedis[] = [];

beforeAll(async () => {
  open = await startRedis({ settings: { "notify-keyspace-events": "KEA" } });
  locked = await startRedis({ disableCommands: ["CONFIG", "EVAL", "EVAL_RO", "PSYNC"] });
  target = await startRedis();
  small = await startRedis({ disableCommands: ["CONFIG"], settings: { maxmemory: "1mb" } });
  servers.push(open, locked, target, small);
  await seed(client(open, 0), 30);
  await seed(client(open, 4), 10);
  await seed(client(locked, 0), 5);
  await client(small).set("already", "here");
});

afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

const run = (source: LocalRedis, to: LocalRedis, extra: Partial<Parameters<typeof preflight>[0]> = {}) =>
  preflight({ source: endpoint(source, "--source"), target: endpoint(to, "--target"), listenMs: 300, probeWrite: false, ...extra });
const check = (r: PreflightResult, name: string) => r.checks.find((c) => c.name === name)!;

describe("preflight probes", () => {
  test("a plain self-managed pair: every probe passes and replicaof is recommended", async () => {
    const r = await run(open, target);
    expect(r.checks.filter((c) => c.status !== "ok")).toEqual([]);
    expect(check(r, "source.feeds-replica").detail).toBe("PSYNC and REPLCONF are available");
    expect(check(r, "target.can-be-replica").status).toBe("ok");
    expect(check(r, "source.keyspace-notifications").detail).toBe('notify-keyspace-events is "AKE"');
    expect(check(r, "source.databases").detail).toBe("keys in db0=181, db4=61");
    expect(check(r, "target.restore-payload").detail).toMatch(/^restored a \w+ payload on the target$/);
    expect(check(r, "versions").detail).toMatch(/^source 7\.\d+\.\d+, target 7\.\d+\.\d+$/);
    expect(r.source.keys).toEqual({ db0: 181, db4: 61 });
    expect(r.source.usedMemory).toBeGreaterThan(0);
    expect(r.recommendedMode).toBe("replicaof");
    expect(await client(target).dbsize()).toBe(0); // the payload probe cleaned up after itself
  });

  test("replication, scripting and notifications blocked: every copy/replicaof blocker is reported", async () => {
    const r = await run(locked, small);
    expect(check(r, "source.feeds-replica")).toMatchObject({ status: "fail", detail: expect.stringMatching(/PSYNC absent/) });
    expect(check(r, "target.can-be-replica")).toMatchObject({ status: "fail", detail: "REPLICAOF present, CONFIG blocked" });
    expect(check(r, "source.eval").status).toBe("fail");
    const n = check(r, "source.keyspace-notifications");
    expect(n.status).toBe("warn"); // CONFIG blocked and a quiet app: unknown, not assumed
    expect(n.detail).toMatch(/heroku redis:keyspace-notifications -c KA/);
    expect(check(r, "target.memory")).toMatchObject({ status: "fail" });
    expect(check(r, "target.empty")).toMatchObject({ status: "warn", detail: expect.stringMatching(/holds 1 keys/) });
    expect(r.ok).toBe(false);
    expect(r.recommendedMode).toBeUndefined();
  });

  test("notifications: off by CONFIG fails; with CONFIG blocked, --probe-write or app traffic decides", async () => {
    const off = await run(target, open);
    expect(check(off, "source.keyspace-notifications")).toMatchObject({ status: "fail", detail: expect.stringMatching(/is ""; enable them on Heroku/) });
    const probed = await run(locked, target, { probeWrite: true });
    expect(check(probed, "source.keyspace-notifications")).toMatchObject({ status: "fail", detail: "a probe write raised no keyspace event; enable them on Heroku: `heroku redis:keyspace-notifications -c KA`; elsewhere: CONFIG SET notify-keyspace-events KA" });
    const heroku = await startRedis({ disableCommands: ["CONFIG"], settings: { "notify-keyspace-events": "KA" } });
    servers.push(heroku);
    const busy = setInterval(() => void client(heroku).set("app:write", String(Date.now())), 50);
    const observed = await run(heroku, target, { listenMs: 2000 });
    clearInterval(busy);
    expect(check(observed, "source.keyspace-notifications")).toMatchObject({ status: "ok", detail: "keyspace events arrived" });
  });

  test("the user comes from ACL WHOAMI", async () => {
    const acl = await startRedis();
    servers.push(acl);
    await client(acl).call("ACL", "SETUSER", "mover", "on", ">mover-pw", "~*", "&*", "+@all");
    const source = { ...acl, url: () => `redis://mover:mover-pw@127.0.0.1:${acl.port}/0` } as LocalRedis;
    const r = await run(source, target);
    expect(check(r, "source.connection").detail).toMatch(/as user "mover" \(password\); plain TCP/);
    expect(JSON.stringify(r)).not.toContain("mover-pw");
  });

  test("pure rules: version order and sufficient notification flags", () => {
    expect(compareVersions("7.0.15", "6.2.14")).toBeGreaterThan(0);
    expect(compareVersions("6.2", "7.0.0")).toBeLessThan(0);
    expect(compareVersions("7.2.4", "7.2.4")).toBe(0);
    expect(flagsSufficient("KA")).toBe(true);
    expect(flagsSufficient("AKE")).toBe(true);
    expect(flagsSufficient("Kg$")).toBe(false); // misses list/set/hash/zset/stream/expired events
    expect(flagsSufficient("A")).toBe(false); // no channel
  });
});
