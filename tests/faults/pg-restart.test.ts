// Restart the source and then the target PostgreSQL in the middle of logical
// replication while the app writes: replication picks up where it was, every
// acknowledged write reaches the target, and the cutover after it verifies green.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { missingWrites, startWriteLoad } from "../dataplane/postgres/fixtures";
import { ReplicatingPair, caughtUp, cutOverAndVerify, replicatingPair } from "./pg-steps";

describe("PostgreSQL restarted mid-replication", () => {
  let pair: ReplicatingPair;

  beforeAll(async () => {
    pair = await replicatingPair();
  });

  afterAll(async () => {
    await Promise.all([pair?.source.stop("immediate"), pair?.target.stop("immediate")]);
  });

  test("source restart, then target restart: catches up, nothing lost, verify green", async () => {
    const load = startWriteLoad(pair.appSource, { writers: 2 });
    await load.waitForMore(40);
    await pair.source.restart();
    await load.waitForMore(40, 60_000); // the app reconnects and writes again
    await pair.target.restart();
    await load.waitForMore(40, 60_000);
    const summary = await load.stop();
    expect(summary.failures).toBeGreaterThan(0); // the restart really cut the app's sessions

    expect(await caughtUp(pair.env)).toBe(true);
    expect(await missingWrites(pair.target.url(), load.acked)).toEqual([]);
    const { cutover, verify } = await cutOverAndVerify(pair.env);
    expect(cutover.code, cutover.stdout + cutover.stderr).toBe(0);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
