// The copy's fencing token (dataplane/redis/owner.ts) on a real redis-server: the state
// writes a copier makes beside its batches (dirty keys, meta fields) land while its token
// owns the database, and are refused whole, writing nothing, once another process claimed
// it or the cutover removed it. (The batch and big-key scripts: copy.test.ts; a follower
// frozen inside a batch: tests/faults/redis-copy.test.ts.)
import { afterAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { DbClients } from "../../../dataplane/redis/connection";
import { claimDbs, markDirty, newOwnerToken, ownsCopy, writeOwnedMeta } from "../../../dataplane/redis/owner";
import { DIRTY, META, OWNER } from "../../../dataplane/redis/state";
import { client, closeClients, endpoint } from "./helpers";

const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

const refusal = (db: number) =>
  `--target db ${db}: another ferry run owns the copy now (a cutover took it over while this run was stalled, or finished it); stopped without writing more`;

describe("the copy's fencing token", () => {
  test("dirty keys and meta fields are written while the token owns the database, refused once another claimed it or it is gone", async () => {
    const server = await startRedis();
    servers.push(server);
    const target = new DbClients(endpoint(server, "--target"));
    const db0 = client(server, 0);
    const db4 = client(server, 4);
    const mine = newOwnerToken();
    const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`${prefix}:${i}`));
    try {
      await claimDbs(target, [0, 4], mine);
      expect(await ownsCopy(target, mine)).toBe(true);
      // More keys than one script call takes (Lua's unpack limit): all recorded.
      await markDirty(await target.db(4), { db: 4, owner: mine }, keys("k", 2500));
      expect(await db4.scard(DIRTY)).toBe(2500);
      await db0.hset(META, "coveredUntilMs", "1");
      await writeOwnedMeta(target, mine, { heartbeatMs: 42, following: true, coveredUntilMs: undefined });
      expect(await db0.hgetall(META)).toEqual({ heartbeatMs: "42", following: "1" });

      // Another process (the cutover's own catch-up) claims both databases.
      await claimDbs(target, [0, 4], newOwnerToken());
      expect(await ownsCopy(target, mine)).toBe(false);
      await expect(markDirty(await target.db(4), { db: 4, owner: mine }, keys("late", 3))).rejects.toThrow(refusal(4));
      await expect(writeOwnedMeta(target, mine, { heartbeatMs: 43 })).rejects.toThrow(refusal(0));
      expect(await db4.scard(DIRTY)).toBe(2500);
      expect(await db0.hget(META, "heartbeatMs")).toBe("42");

      // The cutover handed the target to the app: every ferry key gone, the token too.
      await db0.del(META, OWNER);
      await db4.del(DIRTY, OWNER);
      await expect(markDirty(await target.db(4), { db: 4, owner: mine }, keys("late", 3))).rejects.toThrow(refusal(4));
      await expect(writeOwnedMeta(target, mine, { heartbeatMs: 44 })).rejects.toThrow(refusal(0));
      expect(await db0.dbsize()).toBe(0);
      expect(await db4.dbsize()).toBe(0);
    } finally {
      await target.close();
    }
  });
});
