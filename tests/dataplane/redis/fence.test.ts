// The source's writers are fenced at the Redis cutover (dataplane/redis/fence.ts): a
// client still pointed at the source after the switch gets NOPERM instead of writing
// into the copy left behind, a rollback lifts the fence only while the target has not
// become the primary, and a source that refuses ACL SETUSER stops the cutover before
// anything switches.
import { afterAll, describe, expect, test } from "vitest";
import Redis from "ioredis";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { client, closeClients, ferry } from "./helpers";
import { redisWriter } from "../cutover/helpers";
import { eventually } from "../../support/eventually";

const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

async function replicaPair(): Promise<{ source: LocalRedis; target: LocalRedis; env: Record<string, string> }> {
  const source = await startRedis({ password: "box-password", settings: { "repl-diskless-sync-delay": "0" } });
  const target = await startRedis();
  servers.push(source, target);
  const env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() };
  const started = await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env);
  expect(started.code).toBe(0);
  return { source, target, env };
}

describe("the Redis cutover fences the source's writers", () => {
  test("a writer left on the source during and after the cutover loses nothing: its late writes are refused", async () => {
    const { source, target, env } = await replicaPair();
    const writer = redisWriter(source.url());
    await eventually("the app's writer is writing", () => writer.acked.length > 20);
    const cut = await ferry(["--json", "redis", "cutover", "--strategy", "replicaof"], env);
    expect(cut.stderr).toBe("");
    expect(cut.code).toBe(0);
    expect(cut.json.fence.user).toBe("default");
    // The writer keeps trying after the switch, and is refused.
    await eventually("the writer's late writes are refused", () => writer.refused.some((m) => /NOPERM/.test(m)));
    await writer.stop();
    const onTarget = await client(target).exists(...writer.acked);
    expect(onTarget).toBe(writer.acked.length);
    // The promoted replica does not carry the source's fence record.
    expect(await client(target).exists("ferry:state:fence")).toBe(0);
  });

  test("rollback refuses once the target is the primary, and keeps the fence", async () => {
    const { source, env } = await replicaPair();
    expect((await ferry(["--json", "redis", "cutover", "--strategy", "replicaof"], env)).code).toBe(0);
    const back = await ferry(["redis", "rollback"], env);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/refusing to roll back: the target Redis became the primary at .* may hold writes the source never saw/);
    expect(back.stderr.trim().split("\n")).toHaveLength(1);
    const app = new Redis(source.url(), { maxRetriesPerRequest: 0 });
    await expect(app.set("late", "1")).rejects.toThrow(/NOPERM/);
    app.disconnect();
  });

  test("a cutover whose gate is not met lifts the fence; rollback before the switch is a no-op that says so", async () => {
    const { source, target, env } = await replicaPair();
    // Break the link: the replica cannot catch up, so the cutover times out.
    await client(target).call("REPLICAOF", "127.0.0.1", "1");
    const cut = await ferry(["redis", "cutover", "--strategy", "replicaof", "--timeout", "2"], env);
    expect(cut.code).toBe(1);
    const app = new Redis(source.url(), { maxRetriesPerRequest: 0 });
    expect(await app.set("still-writable", "1")).toBe("OK");
    app.disconnect();
    const back = await ferry(["--json", "redis", "rollback"], env);
    expect(back.code).toBe(0);
    expect(back.json.unfenced).toBeUndefined();
  });

  test("a source user that may not change ACLs stops the cutover before the switch, naming --fence dynos-stopped, which holds every other client's writes", async () => {
    const { source, target, env } = await replicaPair();
    const admin = client(source);
    await admin.call("ACL", "SETUSER", "app", "on", ">app-password", "~*", "&*", "+@all", "-@admin");
    const appEnv = { ...env, FERRY_SOURCE_REDIS_URL: source.url().replace(/\/\/:[^@]*@/, "//app:app-password@") };
    const cut = await ferry(["redis", "cutover", "--strategy", "replicaof"], appEnv);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/refuses ACL SETUSER .*--fence dynos-stopped/);
    expect(await client(target).info("replication")).toMatch(/role:slave/); // nothing switched
    // Without @admin this user cannot list or pause the clients either: the other fence cannot be taken.
    const unchecked = await ferry(["redis", "cutover", "--strategy", "replicaof", "--fence", "dynos-stopped"], appEnv);
    expect(unchecked.code).toBe(1);
    expect(unchecked.stderr).toMatch(/^ferry: --fence dynos-stopped: --source refuses CLIENT LIST \(NOPERM.*\), so ferry cannot hold the other clients' writes: give ferry a user that may run CLIENT LIST and CLIENT PAUSE; nothing was changed\n$/);
    expect(await client(target).info("replication")).toMatch(/role:slave/);
    // As a user that may: a client the stopped dynos do not account for (the app on AWS)
    // stays connected; its writes after the fence wait instead of landing on the source.
    const app = new Redis(source.url(), { connectionName: "web.1", maxRetriesPerRequest: 0 });
    await app.ping();
    const stopped = await ferry(["--json", "redis", "cutover", "--strategy", "replicaof", "--fence", "dynos-stopped"], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.json.fence).toMatchObject({ pausedWrites: true });
    expect(stopped.json.fence.held.join(" ")).toMatch(/name web\.1/);
    const late = app.set("late", "1").catch((e: Error) => e.message);
    expect(await Promise.race([late, new Promise((r) => setTimeout(() => r("held"), 1500))])).toBe("held");
    app.disconnect();
    expect(await late).toMatch(/Connection is closed/);
    expect(await client(target).get("late")).toBeNull();
    expect(await client(target).info("replication")).toMatch(/role:master/);
  });

  test("cleanup (lowering replicate) stops the replica following and empties ferry's copy; the source keeps everything; after a cutover it touches nothing", async () => {
    const { source, target, env } = await replicaPair();
    await client(source).set("kept", "1");
    await eventually("the replica has the key", async () => (await client(target).get("kept")) === "1");
    const clean = await ferry(["--json", "redis", "cleanup"], env);
    expect(clean.code).toBe(0);
    expect(clean.json.actions.join(" ")).toMatch(/REPLICAOF NO ONE.*the target emptied/);
    expect(await client(target).info("replication")).toMatch(/role:master/);
    expect(await client(target).dbsize()).toBe(0);
    expect(await client(source).get("kept")).toBe("1");
    const again = await replicaPair();
    expect((await ferry(["redis", "cutover", "--strategy", "replicaof"], again.env)).code).toBe(0);
    const after = await ferry(["--json", "redis", "cleanup"], again.env);
    expect(after.json.actions).toEqual(["the target is the primary (cut over): nothing to tear down"]);
  });
});

