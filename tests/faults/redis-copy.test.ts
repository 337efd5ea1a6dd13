// The Redis copy (the Heroku path: SCAN + DUMP/RESTORE + keyspace-notification tail)
// under faults while the app keeps writing: the copier killed -9 halfway and started
// again, and the connection to the source cut mid-copy. Each time it must resume (or
// fail with one clear line, then resume), and the cutover's verify must be green.
// (tests/dataplane/redis/copy.test.ts kills a copy with no writes running.)
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../rehearsal/servers";
import { HEARTBEAT_STALE_MS } from "../../dataplane/redis/copy";
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

/** Stop the app's writes, cut over, and compare the two servers independently. */
async function finish(source: LocalRedis, target: LocalRedis, env: Record<string, string>, writer: { stop(): Promise<number> }) {
  expect(await writer.stop()).toBeGreaterThan(0);
  const done = await ferry(["--json", "redis", "cutover", "--mode", "copy"], env);
  expect(done.code, done.stderr + done.stdout).toBe(0);
  expect(done.json.verify.ok).toBe(true);
  expect(await differences(source, target, DBS)).toEqual([]);
}

const copyArgs = ["redis", "replicate", "--mode", "copy", "--batch", "50", "--max-rate", "400"];

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
    const resumed = await ferry(["--json", "redis", "replicate", "--mode", "copy", "--batch", "100"], throughWire);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json.resumed).toBe(true);
    await finish(source, target, urls(source, target), writer);
    await wire.cut();
  });

  // What a loaded machine did to the follower once (issue 16): its heartbeat went stale
  // while it was alive. A frozen process (SIGSTOP) makes that happen on purpose.
  test("follower frozen past its heartbeat when the cutover starts: the cutover waits for it while it holds its lease, and it never outlives the cutover", async () => {
    const { source, target } = await pair();
    const env = urls(source, target);
    const writer = startWriter(source, DBS);
    const follower = spawnFerry(["--json", "redis", "replicate", "--mode", "copy", "--follow", "--batch", "50"], env);
    const meta = client(target, 0);
    await eventually("the follower to be following", async () => (await meta.hget("ferry:state:meta", "phase")) === "following", { timeoutMs: 60_000 });
    expect(await writer.stop()).toBeGreaterThan(0);
    follower.child.kill("SIGSTOP");
    let by: "follower" | "cutover" | undefined;
    try {
      await eventually("the frozen follower's heartbeat to go stale", async () => {
        const [seconds, micros] = await client(source, 0).time();
        const beat = Number(await meta.hget("ferry:state:meta", "heartbeatMs"));
        return Number(seconds) * 1000 + Number(micros) / 1000 - beat > HEARTBEAT_STALE_MS + 500;
      }, { timeoutMs: 30_000 });
      const cut = spawnFerry(["--json", "redis", "cutover", "--mode", "copy"], env);
      let cutEnded = false;
      void cut.result.then(() => (cutEnded = true));
      await eventually("the cutover to ask the follower to stop (or to give up)", async () => cutEnded || (await meta.hget("ferry:state:meta", "stopRequested")) === "1");
      follower.child.kill("SIGCONT");
      const done = await cut.result;
      expect(done.code, done.stderr + done.stdout).toBe(0);
      expect(done.json.verify.ok).toBe(true);
      by = done.json.catchUp.by;
    } finally {
      follower.child.kill("SIGCONT");
    }
    const followed = await follower.result;
    if (by === "follower") {
      // The cutover found the lease held and waited: the follower finished the catch-up.
      expect(followed.code, followed.stderr).toBe(0);
      expect(followed.json.stoppedBy).toBe("cutover");
    } else {
      // The machine was so slow the lease (15 s) lapsed before the cutover looked: it caught
      // up itself, and the follower, once thawed, found the state gone and stopped unwritten.
      expect(followed.code).toBe(1);
      expect(followed.stderr).toMatch(/^ferry: the copy state on --target is gone \(a cutover finished without this run\); stopped without writing more\n$/);
    }
    expect(await differences(source, target, DBS)).toEqual([]);
  });
});
