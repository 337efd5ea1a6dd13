// kill -9 of `ferry pg cutover --strategy logical` at every crash point (the first half
// of the sweep: crash-logical.sweep.ts), and a rollback after a crash past the fence.
import { describe, expect, test } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { replicateLogical } from "../../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../../dataplane/postgres/preflight";
import { missingWrites, startWriteLoad } from "../fixtures";
import { GRANT_APP, canWrite, runFerry, useClusterPair } from "../helpers";
import { logicalCrashSweep, logicalCutoverArgs } from "./crash-logical.sweep";

logicalCrashSweep(0, 2);

describe("logical cutover killed past the fence, then rolled back", () => {
  const clusters = useClusterPair();

  test("rollback after a crash past the fence gives the source back and tears replication down", async () => {
    const pair = await clusters.seeded("crash_rollback");
    expect((await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
    await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    await withClient(pair.tgt, (c) => c.query(GRANT_APP));
    const load = startWriteLoad(pair.appSrc, { writers: 1 });
    await load.waitForMore(20);
    const killed = await runFerry(logicalCutoverArgs, { ...pair.env, FERRY_TEST_CRASH_AFTER_STEP: "drain" });
    expect(killed.signal).toBe("SIGKILL");
    expect(await canWrite(pair.appSrc)).toBe(false);

    const rb = await runFerry(["--json", "pg", "rollback", "--strategy", "logical"], pair.env);
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout).actions).toEqual(expect.arrayContaining(["subscription and its slot dropped", "publication dropped"]));
    expect(await canWrite(pair.appSrc)).toBe(true);
    await load.waitForMore(20); // the app writes to the source again
    await load.stop();
    expect(await missingWrites(pair.src, load.acked)).toEqual([]);
    expect(await clusters.source.query("SELECT slot_name FROM pg_replication_slots")).toEqual([]);
    expect(await clusters.source.query("SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'crash_rollback'")).toEqual([]);
  });
});
