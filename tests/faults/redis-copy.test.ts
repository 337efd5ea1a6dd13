// The Redis copy (the Heroku path: SCAN + DUMP/RESTORE + keyspace-notification tail)
// under faults while the app keeps writing: the copier killed -9 halfway and started
// again, and the connection to the source cut mid-copy. Each time it must resume (or
// fail with one clear line, then resume), and the cutover's verify must be green.
// (tests/dataplane/redis/copy.test.ts kills a copy with no writes running.)
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../rehearsal/servers";
import { HEARTBEAT_STALE_MS } from "../../dataplane/redis/copy";
import { DIRTY, INFLIGHT, LOCK, META } from "../../dataplane/redis/state";
import { FROZEN_PREFIX } from "../../dataplane/redis/freeze-point";
import { client, closeClients, differences, ferry, seed, spawnFerry, startWriter, urls } from "../dataplane/redis/helpers";
import { eventually } from "../support/eventually";
import { link, viaPort } from "./link";

const DBS = [0, 3];
const servers: LocalRedis[] = [];

afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

async function pair() {
  const source = await startRedis({ settings: { "notify-keyspace-events": "KEA" } });
  const target = await startRedis();
  servers.push(source, target);
  for (const db of DBS) await seed(client(source, db), 150);
  return { source, target };
}

async function copied(target: LocalRedis): Promise<number> {
  let n = 0;
  for (const db of DBS) n += Number((await client(target, db).hget("ferry:state:progress", "copied")) ?? 0);
  return n;
}

/** Keys the tail recorded and the catch-up has not copied yet (dirty and in flight), in every database. */
async function backlog(target: LocalRedis): Promise<number> {
  let n = 0;
  for (const db of DBS) n += (await client(target, db).scard(DIRTY)) + (await client(target, db).scard(INFLIGHT));
  return n;
}

/** ferry's state keys left on the target, in any of the test's databases. */
async function stateKeys(target: LocalRedis): Promise<string[]> {
  const keys: string[] = [];
  for (const db of DBS) keys.push(...(await client(target, db).keys("ferry:state:*")).map((k) => `db${db} ${k}`));
  return keys.sort();
}

/** Changes the target has taken since it started (rdb_changes_since_last_save: it never saves). */
async function targetWrites(target: LocalRedis): Promise<number> {
  const info = await client(target, 0).info("persistence");
  return Number(/rdb_changes_since_last_save:(\d+)/.exec(info)![1]);
}

/** Stop the app's writes, cut over, and compare the two servers independently. */
async function finish(source: LocalRedis, target: LocalRedis, env: Record<string, string>, writer: { stop(): Promise<number> }) {
  expect(await writer.stop()).toBeGreaterThan(0);
  const done = await ferry(["--json", "redis", "cutover", "--strategy", "copy"], env);
  expect(done.code, done.stderr + done.stdout).toBe(0);
  expect(done.json.verify.ok).toBe(true);
  expect(await differences(source, target, DBS)).toEqual([]);
}

const copyArgs = ["redis", "replicate", "--strategy", "copy", "--batch", "50", "--max-rate", "400"];

describe("Redis copy under faults, with writes running", () => {
  test("copier killed -9 halfway and started again: resumes, cutover verifies green", async () => {
    const { source, target } = await pair();
    const env = urls(source, target);
    const writer = startWriter(source, DBS);
    const first = spawnFerry(copyArgs, env);
    await eventually("the copy to be partly done", async () => (await copied(target)) >= 300, { timeoutMs: 60_000 });
    first.child.kill("SIGKILL");
    expect((await first.result).code).toBeNull();

    const resumed = await ferry(["--json", ...copyArgs.filter((a) => a !== "--max-rate" && a !== "400")], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json.resumed).toBe(true);
    await finish(source, target, env, writer);
  });

  test("connection to the source cut mid-copy: a clear failure, then a rerun resumes and verifies green", async () => {
    const { source, target } = await pair();
    const wire = await link(source.port);
    const throughWire = { ...urls(source, target), FERRY_SOURCE_REDIS_URL: viaPort(source.url(), wire.port) };
    const writer = startWriter(source, DBS);
    const run = spawnFerry(copyArgs, throughWire);
    await eventually("the copy to be partly done", async () => (await copied(target)) >= 300, { timeoutMs: 60_000 });
    await wire.cut();
    const failed = await run.result;
    expect(failed.code).toBe(1);
    expect(failed.stderr.trimEnd().split("\n").pop()).toMatch(/^ferry: (lost the keyspace notification stream from --source; re-run to reconcile the gap|--source redis:\/\/127\.0\.0\.1:\d+: .+)$/);

    await wire.restore();
    const resumed = await ferry(["--json", "redis", "replicate", "--strategy", "copy", "--batch", "100"], throughWire);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json.resumed).toBe(true);
    await finish(source, target, urls(source, target), writer);
    await wire.cut();
  });

  // What a loaded machine did to the follower once (issue 16): its heartbeat went stale
  // while it was alive. A frozen process (SIGSTOP) makes that happen on purpose. Its lease
  // (ferry:state:lock, 15 s, renewed with each beat) decides: held, the cutover waits for
  // it; lapsed, the cutover catches up itself and the follower, thawed, must stand down.

  /** A follower copying `DBS` with the app's writes stopped, frozen until its heartbeat is stale. */
  async function frozenFollower() {
    const { source, target } = await pair();
    const env = urls(source, target);
    const writer = startWriter(source, DBS);
    const follower = spawnFerry(["--json", "redis", "replicate", "--strategy", "copy", "--follow", "--batch", "50"], env);
    const meta = client(target, 0);
    await eventually("the follower to be following", async () => (await meta.hget(META, "phase")) === "following", { timeoutMs: 60_000 });
    expect(await writer.stop()).toBeGreaterThan(0);
    // Frozen between batches, not inside one: with the backlog drained (the writer's
    // short-lived keys expired and recorded too) the follower only beats and polls.
    await eventually("the follower to drain the backlog", async () => {
      if ((await backlog(target)) !== 0) return false;
      await new Promise((r) => setTimeout(r, 300));
      return (await backlog(target)) === 0;
    });
    follower.child.kill("SIGSTOP");
    await eventually("the frozen follower's heartbeat to go stale", async () => {
      const [seconds, micros] = await client(source, 0).time();
      const beat = Number(await meta.hget(META, "heartbeatMs"));
      return Number(seconds) * 1000 + Number(micros) / 1000 - beat > HEARTBEAT_STALE_MS + 500;
    }, { timeoutMs: 30_000 });
    const runId = await meta.hget(META, "runId");
    return { source, target, env, follower, meta, runId };
  }

  /** The follower's exit, or null if it was still running `ms` after being thawed (then it is killed). */
  async function exitWithin(follower: ReturnType<typeof spawnFerry>, ms: number) {
    follower.child.kill("SIGCONT");
    const exited = await Promise.race([follower.result, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
    if (!exited) follower.child.kill("SIGKILL");
    return exited;
  }

  test("follower frozen past its heartbeat but holding its lease: the cutover waits for it, the follower finishes the catch-up and stops", async () => {
    const { source, target, env, follower, meta, runId } = await frozenFollower();
    try {
      // The lease is stretched so that no machine, however loaded, lets it lapse before the
      // cutover looks: what is tested is that a held lease makes the cutover wait.
      expect(await meta.get(LOCK)).toBe(runId);
      expect(await meta.pexpire(LOCK, 120_000)).toBe(1);
      const cut = spawnFerry(["--json", "redis", "cutover", "--strategy", "copy"], env);
      let cutEnded = false;
      void cut.result.then(() => (cutEnded = true));
      await eventually("the cutover to ask the follower to stop (or to end)", async () => cutEnded || (await meta.hget(META, "stopRequested")) === "1");
      // Its heartbeat is still stale (it is frozen): only the lease can have made the cutover wait.
      expect(cutEnded, "the cutover ended without waiting for the follower").toBe(false);
      expect(await meta.get(LOCK)).toBe(runId);
      const followed = await exitWithin(follower, 60_000);
      const done = await cut.result;
      expect(done.code, done.stderr + done.stdout).toBe(0);
      expect(done.json.catchUp).toEqual({ by: "follower" });
      expect(done.json.verify.ok).toBe(true);
      expect(followed, "the follower still running 60 s after it was thawed").not.toBeNull();
      expect(followed!.code, followed!.stderr).toBe(0);
      expect(followed!.json.stoppedBy).toBe("cutover");
    } finally {
      follower.child.kill("SIGCONT");
    }
    expect(await differences(source, target, DBS)).toEqual([]);
  });

  test("follower frozen until its lease lapses: the cutover catches up itself, and the follower, thawed, stands down without one more write", async () => {
    const { source, target, env, follower, meta } = await frozenFollower();
    try {
      await eventually("the frozen follower's lease to lapse", async () => (await meta.exists(LOCK)) === 0, { timeoutMs: 30_000 });
      const done = await ferry(["--json", "redis", "cutover", "--strategy", "copy"], env);
      expect(done.code, done.stderr + done.stdout).toBe(0);
      expect(done.json.catchUp.by).toBe("cutover");
      expect(done.json.catchUp.copy).toMatchObject({ resumed: true, stoppedBy: "done" });
      expect(done.json.verify.ok).toBe(true);
      const before = await targetWrites(target);
      const followed = await exitWithin(follower, 30_000);
      expect(followed, "the follower still running 30 s after it was thawed").not.toBeNull();
      expect(followed!.code).toBe(1);
      expect(followed!.stderr).toBe("ferry: the copy state on --target is gone (a cutover finished without this run); stopped without writing more\n");
      // The app owns the target now: nothing of ferry's is left there, nothing was written after the cutover.
      expect(await stateKeys(target)).toEqual([]);
      expect(await targetWrites(target)).toBe(before);
    } finally {
      follower.child.kill("SIGCONT");
    }
    expect(await differences(source, target, DBS)).toEqual([]);
  });

  // Frozen INSIDE a batch: its keys read from the source, its write script not yet sent.
  // The lease lapses, the cutover catches up under the same runId, hands the target to
  // the app, and the app writes newer values; the batch, thawed, must not land over them.
  test("follower frozen inside a catch-up batch until the cutover took over and finished: thawed, its batch is refused whole and the app's newer write stays", async () => {
    const { source, target } = await pair();
    const env = urls(source, target);
    const marker = "app:last-write-on-the-source";
    const writer = startWriter(source, DBS);
    const follower = spawnFerry(
      ["--json", "redis", "replicate", "--strategy", "copy", "--follow", "--batch", "50"],
      { ...env, FERRY_TEST_FREEZE_BATCH_WITH: marker },
    );
    let stderr = "";
    follower.child.stderr!.on("data", (d) => (stderr += d));
    const meta = client(target, 0);
    const appDb = client(target, 3);
    try {
      await eventually("the follower to be following", async () => (await meta.hget(META, "phase")) === "following", { timeoutMs: 60_000 });
      expect(await writer.stop()).toBeGreaterThan(0);
      // The app's last write before its writes stop: the follower's catch-up reads it and freezes before writing it.
      await client(source, 3).set(marker, "stale: read by the frozen batch");
      await eventually("the follower to freeze inside the batch", () => stderr.includes(`${FROZEN_PREFIX}3\n`), { timeoutMs: 30_000 });
      await eventually("the frozen follower's lease to lapse", async () => (await meta.exists(LOCK)) === 0, { timeoutMs: 30_000 });

      const done = await ferry(["--json", "redis", "cutover", "--strategy", "copy"], env);
      expect(done.code, done.stderr + done.stdout).toBe(0);
      expect(done.json.catchUp.by).toBe("cutover");
      expect(done.json.verify.ok).toBe(true);
      expect(await differences(source, target, DBS)).toEqual([]);
      // The app owns the target now, and writes to it.
      await appDb.set(marker, "newer: the app's, on the target");
      const before = await targetWrites(target);

      const followed = await exitWithin(follower, 30_000);
      expect(followed, "the follower still running 30 s after it was thawed").not.toBeNull();
      expect(await appDb.get(marker)).toBe("newer: the app's, on the target");
      expect(followed!.code).toBe(1);
      expect(followed!.stderr).toBe(`${FROZEN_PREFIX}3\nferry: --target db 3: another ferry run owns the copy now (a cutover took it over while this run was stalled, or finished it); stopped without writing more\n`);
      expect(await targetWrites(target)).toBe(before);
      expect(await stateKeys(target)).toEqual([]);
    } finally {
      follower.child.kill("SIGCONT");
      follower.child.kill("SIGKILL");
    }
  });
});
