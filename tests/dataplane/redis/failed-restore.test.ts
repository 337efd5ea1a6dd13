// A batch with a key the target refused: the copy stops in one line naming the key (its
// label), and the run after the cause is fixed copies that key too. The refused batch's
// script saved its cursor anyway; the rerun finds the key by its idle time (reconcile.ts:
// the failed run read it within its last heartbeat's margin).
// The refusal here is an ACL that does not cover the key, as a target's RBAC user
// restricted to some key patterns gives; RESTORE then fails inside the batch's script.
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
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
});
