// kill -9 of `ferry pg cutover --strategy logical` right after each step, then a
// rerun: it must finish, with one writable primary at every moment and every write
// the app saw acknowledged on the target. Each step gets its own database pair on
// one source and one target cluster (the fence is per database for logical).
import { describe, expect, test } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { replicateLogical } from "../../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../../dataplane/postgres/preflight";
import { loadCutover } from "../../../../dataplane/postgres/state";
import { insertWithoutIds, missingWrites, startWriteLoad } from "../fixtures";
import { GRANT_APP, canWrite, runFerry, useClusterPair } from "../helpers";

const STEPS = ["gate", "fence", "drain", "sequences", "detach", "verify", "done"];

describe("logical cutover killed at each step", () => {
  const clusters = useClusterPair();

  /** A fresh database pair `db` replicating logically. */
  async function replicatingPair(db: string) {
    const pair = await clusters.seeded(db);
    expect((await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
    await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    await withClient(pair.tgt, (c) => c.query(GRANT_APP));
    return pair;
  }

  const cutoverArgs = ["--json", "pg", "cutover", "--strategy", "logical", "--max-lag-bytes", "10485760", "--timeout", "30"];

  test.each(STEPS)("killed after %s, rerun finishes", async (step) => {
    const pair = await replicatingPair(`crash_${step}`);
    const load = startWriteLoad(pair.appSrc, { writers: 1 });
    await load.waitForMore(30);

    const killed = await runFerry(cutoverArgs, { ...pair.env, FERRY_TEST_CRASH_AFTER_STEP: step });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");

    // One writable primary: the source is writable only while the target is not released.
    const done = (await withClient(pair.tgt, (c) => loadCutover(c, "logical")))?.done === true;
    const sourceWritable = await canWrite(pair.appSrc);
    expect(sourceWritable && done).toBe(false);
    expect(sourceWritable).toBe(step === "gate");

    const rerun = await runFerry(cutoverArgs, pair.env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    const result = JSON.parse(rerun.stdout);
    expect(result).toMatchObject({ ok: true, resumed: step !== "gate" });
    expect(rerun.stdout).not.toContain(clusters.source.password);

    load.retarget(pair.appTgt);
    await load.waitForMore(20);
    await load.stop();
    expect(await missingWrites(pair.tgt, load.acked)).toEqual([]);
    expect(await canWrite(pair.appSrc)).toBe(false);
    await insertWithoutIds(pair.tgt, `after-${step}`);
  });

  test("rollback after a crash past the fence gives the source back and tears replication down", async () => {
    const pair = await replicatingPair("crash_rollback");
    const load = startWriteLoad(pair.appSrc, { writers: 1 });
    await load.waitForMore(20);
    const killed = await runFerry(cutoverArgs, { ...pair.env, FERRY_TEST_CRASH_AFTER_STEP: "drain" });
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
