// A batch with a key the target refused: the copy stops in one line naming the key (its
// label), and the run after the cause is fixed copies that key too. The refused batch
// saves no cursor, so the rerun scans it again: it does not depend on reconcile's idle-time
// window (reconcile.ts), which misses a long-idle key whose read by the failed run did not
// refresh its idle time (Redis does not while a background save runs).
// Nor does the rerun take the keys the refused batch did write for the target's own
// (--conflict skip): those writes are taken back with the refusal.
// The refusal here is an ACL that does not cover the key, as a target's RBAC user
// restricted to some key patterns gives; RESTORE then fails inside the batch's script.
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
import { SKIPPED } from "../../../dataplane/redis/state";
import { client, closeClients, differences, ferry, seed } from "./helpers";

/** The restricted mover's password, drawn per run: no credential lives in the source. */
const MOVER_PASSWORD = randomBytes(12).toString("hex");

const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

describe("a key the target refuses", () => {
  test("stops the copy naming the key; once the target accepts it, the next replicate copies it", async () => {
    const [source, target] = [await startRedis(), await startRedis()];
    servers.push(source, target);
    await seed(client(source), 20);
    await client(source).set("blocked:1", "kept on the source");
    // ferry's own state keys and the app's k:* keys only: blocked:1 and seed()'s binary key are refused.
    await client(target).call("ACL", "SETUSER", "mover", "on", `>${MOVER_PASSWORD}`, "~ferry:*", "~k:*", "+@all");
    const env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url().replace("redis://", `redis://mover:${MOVER_PASSWORD}@`) };

    const refused = await ferry(["redis", "replicate", "--strategy", "copy"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^ferry: copying key "[^"]*…#[0-9a-f]{12}" \(db 0\) failed on the target: ERR The user executing the script can't access at least one of the keys/)]);

    await client(target).call("ACL", "SETUSER", "mover", "allkeys");
    const again = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(await client(target).get("blocked:1")).toBe("kept on the source");
    expect(await differences(source, target, [0])).toEqual([]);
  });

  /**
   * On the source, 30 k:* keys and blocked:1, untouched for an hour (RESTORE ... IDLETIME:
   * old data); on the target, `mover` may write ferry:* and k:* only.
   */
  async function refusingPair(): Promise<{ source: LocalRedis; target: LocalRedis; env: Record<string, string> }> {
    const [source, target] = [await startRedis(), await startRedis()];
    servers.push(source, target);
    const values = new Map([...Array.from({ length: 30 }, (_, i) => [`k:str:${i}`, `value-${i}`] as const), ["blocked:1", "kept on the source"] as const]);
    for (const [key, value] of values) await untouchedForAnHour(client(source), key, value);
    await client(target).call("ACL", "SETUSER", "mover", "on", `>${MOVER_PASSWORD}`, "~ferry:*", "~k:*", "+@all");
    return { source, target, env: { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url().replace("redis://", `redis://mover:${MOVER_PASSWORD}@`) } };
  }

  async function untouchedForAnHour(c: Redis, key: string, value: string): Promise<void> {
    await c.set("scratch", value);
    const payload = await c.dumpBuffer("scratch");
    await c.del("scratch");
    await c.restore(key, 0, payload!, "REPLACE", "IDLETIME", 3600);
  }

  test("the rerun copies the refused key though its idle time says nobody touched it (the cursor did not move past its batch)", async () => {
    const { source, target, env } = await refusingPair();
    // Redis does not refresh an idle time while a fork child runs (a BGSAVE or an AOF
    // rewrite, as a persisting source runs them): the failed run's read leaves the key an
    // hour idle, and the rerun's reconcile, which marks what was touched since the failed
    // run's last heartbeat, does not mark it. (rdb-key-save-delay keeps the save running.)
    await client(source).config("SET", "rdb-key-save-delay", "300000");
    await client(source).bgsave();
    const refused = await ferry(["redis", "replicate", "--strategy", "copy"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ferry: copying key "blocked:…#[0-9a-f]{12}" \(db 0\) failed on the target: /);
    expect(Number(await client(source).object("IDLETIME", "blocked:1"))).toBeGreaterThanOrEqual(3600);

    await client(target).call("ACL", "SETUSER", "mover", "allkeys");
    const again = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(await client(target).get("blocked:1")).toBe("kept on the source");
    expect(await differences(source, target, [0])).toEqual([]);
  });

  test("--conflict skip: the keys the refused batch wrote are not taken for the target's own on the rerun; later source changes still reach them", async () => {
    const { source, target, env } = await refusingPair();
    const copy = ["--json", "redis", "replicate", "--strategy", "copy", "--conflict", "skip"];
    expect((await ferry(copy, env)).code).toBe(1);

    await client(target).call("ACL", "SETUSER", "mover", "allkeys");
    const again = await ferry(copy, env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ skipped: 0 });
    expect(await client(target).scard(SKIPPED)).toBe(0);
    expect(await differences(source, target, [0])).toEqual([]);
    // A run after a change on the source copies it: the key is ferry's copy, not the target's.
    await client(source).set("k:str:7", "changed on the source");
    expect((await ferry(copy, env)).code).toBe(0);
    expect(await client(target).get("k:str:7")).toBe("changed on the source");
  });
});
