// A batch with a key the target refused: the copy stops in one line naming the key (its
// label), and the run after the cause is fixed copies that key too. The refused batch
// saves no cursor, so the rerun scans it again: it does not depend on reconcile's idle-time
// window (reconcile.ts), which misses a key the failed run read before the gap it repairs
// (the bulk pass reads batches ahead and keeps beating until it awaits the failed commit).
// Nor does the rerun take the keys the refused batch did write for the target's own
// (--conflict skip): those writes are taken back with the refusal.
// The refusal here is an ACL that does not cover the key, as a target's RBAC user
// restricted to some key patterns gives; RESTORE then fails inside the batch's script.
import Redis from "ioredis";
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
import { SKIPPED } from "../../../dataplane/redis/state";
import { client, closeClients, differences, ferry, seed } from "./helpers";

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
    await client(target).call("ACL", "SETUSER", "mover", "on", ">mover-Pw-5a1c", "~ferry:*", "~k:*", "+@all");
    const env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url().replace("redis://", "redis://mover:mover-Pw-5a1c@") };

    const refused = await ferry(["redis", "replicate", "--strategy", "copy"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^ferry: copying key "[^"]*…#[0-9a-f]{12}" \(db 0\) failed on the target: ERR The user executing the script can't access at least one of the keys/)]);

    await client(target).call("ACL", "SETUSER", "mover", "allkeys");
    const again = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(await client(target).get("blocked:1")).toBe("kept on the source");
    expect(await differences(source, target, [0])).toEqual([]);
  });

  /** 30 k:* keys and blocked:1 on the source; on the target, `mover` may write ferry:* and k:* only. */
  async function refusingPair(): Promise<{ source: LocalRedis; target: LocalRedis; env: Record<string, string> }> {
    const [source, target] = [await startRedis(), await startRedis()];
    servers.push(source, target);
    const p = client(source).pipeline();
    for (let i = 0; i < 30; i++) p.set(`k:str:${i}`, `value-${i}`);
    p.set("blocked:1", "kept on the source");
    await p.exec();
    await client(target).call("ACL", "SETUSER", "mover", "on", ">mover-Pw-5a1c", "~ferry:*", "~k:*", "+@all");
    return { source, target, env: { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url().replace("redis://", "redis://mover:mover-Pw-5a1c@") } };
  }

  /** The key as if nothing had read or written it for an hour (RESTORE ... IDLETIME), as reconcile sees one last read before its gap. */
  async function untouchedForAnHour(c: Redis, key: string): Promise<void> {
    const payload = await c.dumpBuffer(key);
    await c.restore(key, 0, payload!, "REPLACE", "IDLETIME", 3600);
    expect(Number(await c.object("IDLETIME", key))).toBeGreaterThanOrEqual(3600);
  }

  test("the rerun copies the refused key even when its idle time says nobody touched it (the cursor did not move past its batch)", async () => {
    const { source, target, env } = await refusingPair();
    const refused = await ferry(["redis", "replicate", "--strategy", "copy"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ferry: copying key "blocked:…#[0-9a-f]{12}" \(db 0\) failed on the target: /);

    await client(target).call("ACL", "SETUSER", "mover", "allkeys");
    await untouchedForAnHour(client(source), "blocked:1");
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
