// Gap repair (reconcile.ts) on real redis-server: which keys does OBJECT IDLETIME mark
// as changed while nobody tailed the source?
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
import { CopyContext } from "../../../dataplane/redis/copy-keys";
import { sourceTimeMs } from "../../../dataplane/redis/copy";
import { reconcileGap } from "../../../dataplane/redis/reconcile";
import { DbClients } from "../../../dataplane/redis/connection";
import { DIRTY } from "../../../dataplane/redis/state";
import { claimDbs, newOwnerToken } from "../../../dataplane/redis/owner";
import { client, closeClients, endpoint } from "./helpers";
import { eventually } from "../../support/eventually";

const LIMITS = { maxElements: 200, maxBytes: 1_000_000 };
const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

describe("gap repair", () => {
  test("a key written in the gap is marked however long the repair takes to reach it", async () => {
    // Under load the repair's SCAN reaches a key seconds after it began: by then the key
    // has been idle for longer than the gap was when the repair started. Its idle time
    // must be judged against the source's clock when it was read, not when the repair began.
    const source = await startRedis();
    const target = await startRedis();
    servers.push(source, target);
    const ctx: CopyContext = {
      source: new DbClients(endpoint(source, "--source")), target: new DbClients(endpoint(target, "--target")), conflict: "replace", limits: LIMITS,
      owner: newOwnerToken(),
    };
    const src = client(source, 0);
    try {
      await claimDbs(ctx.target, [0], ctx.owner);
      const gapSinceMs = await sourceTimeMs(src);
      await src.set("k:written-in-the-gap", "changed while nobody listened");
      await src.set("k:untouched", "x".repeat(100)); // written, not read again: a plain idle key
      // The repair's SCAN is slow to reach the key (a busy machine): here, 3 s.
      await eventually("the key to be idle for 3 s", async () => Number(await src.call("OBJECT", "IDLETIME", "k:written-in-the-gap")) >= 3, { timeoutMs: 10_000 });

      const result = await reconcileGap(ctx, [0], gapSinceMs, 100);
      expect(result.method).toBe("idletime");
      expect((await client(target, 0).smembers(DIRTY)).sort()).toEqual(["k:untouched", "k:written-in-the-gap"]);
    } finally {
      await ctx.source.close();
      await ctx.target.close();
    }
  });
});
