// replicate --strategy replicaof on a self-managed source with requirepass: the target becomes
// a replica (masterauth via CONFIG SET), catches writes, and cutover promotes it.
import { afterAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { client, closeClients, differences, ferry, seed, seedBig, startWriter } from "./helpers";
import { eventually } from "../../support/eventually";

const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

describe("replicate --strategy replicaof", () => {
  test("a non-empty target is not thrown away without --conflict replace", async () => {
    const source = await startRedis({ password: "vultr-pass" });
    const target = await startRedis();
    servers.push(source, target);
    await client(target).set("precious", "1");
    const r = await ferry(["redis", "replicate", "--strategy", "replicaof"], { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target holds 1 keys that ferry did not copy there .*REPLICAOF would discard; pass --conflict replace/);
    expect(await client(target).get("precious")).toBe("1");
  });

  test("replica with masterauth, writes while replicating, status shows lag, cutover promotes and verifies", async () => {
    // No 5 s wait for more replicas before a diskless full sync: keeps the test short.
    const source = await startRedis({ password: "vultr-pass", settings: { "repl-diskless-sync-delay": "0" } });
    const target = await startRedis();
    servers.push(source, target);
    for (const db of [0, 3]) await seed(client(source, db), 50);
    await seedBig(client(source, 0), 500);
    const env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() };

    const started = await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env);
    expect(started.stderr).toBe("");
    expect(started.code).toBe(0);
    expect(started.json.replica.linkUp).toBe(true);

    const writer = startWriter(source, [0, 3]);
    await eventually("1000 writes while replicating", () => writer.ops() >= 1000);
    const st = await ferry(["--json", "redis", "status"], env);
    expect(st.json.mode).toBe("replicaof");
    expect(st.json.replica.linkUp).toBe(true);
    expect(typeof st.json.replica.lagBytes).toBe("number");
    await writer.stop();

    const cut = await ferry(["--json", "redis", "cutover", "--strategy", "replicaof"], env);
    expect(cut.stderr).toBe("");
    expect(cut.code).toBe(0);
    expect(cut.json.replica.inSync).toBe(true);
    expect(cut.json.verify.ok).toBe(true);
    const t = client(target);
    expect(await t.info("replication")).toMatch(/role:master/);
    expect(await t.config("GET", "masterauth")).toEqual(["masterauth", ""]); // the source's password is gone
    expect(await differences(source, target, [0, 3])).toEqual([]);
  });
});
