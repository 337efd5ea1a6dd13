// What a Redis cutover leaves behind must hold through what the servers and the app do
// to them afterwards, with real servers:
//  - the fence on the source is an ACL, and ACLs live in memory: a source restarted
//    between a crashed cutover and its rerun comes back writable while the fence record
//    (a key, persisted with the data) is still there. The rerun must check the ACL
//    itself and fence again, or the app's writes after the restart are lost;
//  - the "no way back" mark on the target must survive the app's FLUSHALL / FLUSHDB
//    (the app owns the target from then on) and a restart of the target, or a rollback
//    would hand the app back a source that lacks every write the target took.
import { afterAll, describe, expect, test } from "vitest";
import Redis from "ioredis";
import { LocalRedis, startRedis } from "../../rehearsal/servers";
import { client, closeClients, ferry, urls } from "../dataplane/redis/helpers";
import { missingKeys, redisCanWrite, redisWriter } from "../dataplane/cutover/helpers";
import { runFerry } from "../dataplane/postgres/helpers";
import { eventually } from "../support/eventually";

const servers: LocalRedis[] = [];

afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

/** AOF on: the data (and ferry's keys among it) outlives a restart, as on a production Redis. */
const PERSISTENT = { appendonly: "yes", appendfsync: "always" };

async function replicaPair(sourceSettings: Record<string, string>, targetSettings: Record<string, string> = {}) {
  const source = await startRedis({ password: "box-password", settings: { "repl-diskless-sync-delay": "0", ...sourceSettings } });
  const target = await startRedis({ settings: { "repl-diskless-sync-delay": "0", ...targetSettings } });
  servers.push(source, target);
  const env = urls(source, target);
  const started = await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env);
  expect(started.code, started.stderr).toBe(0);
  return { source, target, env };
}

async function restart(server: LocalRedis): Promise<void> {
  await server.stop();
  await server.start();
}

describe("a Redis cutover's fence and mark hold through restarts and the app's flushes", () => {
  test("source restarted after a cutover died past its fence: the rerun finds the ACL gone, fences again, loses nothing", async () => {
    const { source, target, env } = await replicaPair(PERSISTENT);
    const writer = redisWriter(source.url());
    await eventually("the app writes the source", () => writer.acked.length > 20);

    const killed = await runFerry(["--json", "cutover", "--timeout", "30"], { ...env, FERRY_TEST_CRASH_AFTER_STEP: "redis-fence" });
    expect(killed.signal, killed.stderr + killed.stdout).toBe("SIGKILL");
    await eventually("the fenced source refuses the app's writes", () => writer.refused.some((m) => /NOPERM/.test(m)));

    // A restart (or a failover) forgets every ACL change; the fence record, a key, is kept.
    await restart(source);
    expect(await client(source).exists("ferry:state:fence")).toBe(1);
    const atRestart = writer.acked.length;
    await eventually("the app writes the restarted source again", () => writer.acked.length > atRestart + 20);

    const rerun = await runFerry(["--json", "cutover", "--timeout", "30"], env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    const result = JSON.parse(rerun.stdout);
    expect(result).toMatchObject({ ok: true, resumed: true, redis: { fence: { user: "default", reapplied: true } } });

    await writer.stop();
    expect(await redisCanWrite(source.url())).toBe(false);
    expect(await missingKeys(target.url(), writer.acked)).toEqual([]);
  });

  test("the cutover mark survives the app's FLUSHALL and FLUSHDB and a restart of the target: rollback keeps refusing", async () => {
    const { target, env } = await replicaPair({}, PERSISTENT);
    const cut = await ferry(["--json", "redis", "cutover"], env);
    expect(cut.code, cut.stderr).toBe(0);

    // The app owns the target now; clearing its cache is its business.
    const app = new Redis(target.url(), { maxRetriesPerRequest: 0 });
    await app.set("cache:1", "x");
    await app.flushall();
    await app.select(3);
    await app.flushdb();
    app.disconnect();

    const back = await ferry(["redis", "rollback"], env);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/^ferry: refusing to roll back: the target Redis became the primary at \S+ and may hold writes the source never saw/);
    expect((await ferry(["--json", "redis", "status", "--require-cutover"], env)).json.cutover.mode).toBe("replicaof");
    expect((await ferry(["--json", "redis", "cleanup"], env)).json.actions).toEqual(["the target is the primary (cut over): nothing to tear down"]);

    await restart(target);
    const afterRestart = await ferry(["redis", "rollback", "--check"], env);
    expect(afterRestart.code).toBe(1);
    expect(afterRestart.stderr).toMatch(/refusing to roll back: the target Redis became the primary/);
    const status = await ferry(["--json", "status"], env);
    expect(status.json.stores[0]).toMatchObject({ store: "redis", method: "replicaof", stage: expect.stringMatching(/^cut over at /) });
  });
});
