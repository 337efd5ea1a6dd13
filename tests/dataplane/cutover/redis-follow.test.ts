// `ferry cutover` with a Redis copy that nobody follows (the program's replicate is a
// Command that returns): the cutover starts its own follower before the fence, so the
// keys written since replicate returned are copied while the app still writes, and the
// window only copies the keys changed after. A follower already running is asked to
// finish instead; a cutover that stops before its fence does not leave one running.
import { afterAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { client, closeClients, differences, ferry, seed, spawnFerry, urls } from "../redis/helpers";
import { missingKeys, redisCanWrite, redisWriter } from "./helpers";
import { eventually } from "../../support/eventually";

const CUTOVER = ["--json", "cutover", "--strategy", "copy", "--timeout", "30"];
const servers: LocalRedis[] = [];

afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

/** A source with keyspace notifications (copy's tail needs them), copied once by a replicate that returned. */
async function replicatedThenWritten() {
  const source = await startRedis({ settings: { "notify-keyspace-events": "KEA" } });
  const target = await startRedis();
  servers.push(source, target);
  await seed(client(source), 300);
  const env = urls(source, target);
  const replicated = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env);
  expect(replicated.code, replicated.stderr).toBe(0);
  // Written while nobody tailed: only a pass over every key finds these.
  await seed(client(source), 300, "late");
  await client(source).del("k:str:1", "k:hash:2");
  return { source, target, env };
}

const stepNames = (r: { steps: Array<{ name: string }> }) => r.steps.map((s) => s.name);

describe("ferry cutover: a Redis copy nobody follows", () => {
  test("the cutover's own follower catches up before the fence; under a live writer nothing acknowledged is lost", async () => {
    const { source, target, env } = await replicatedThenWritten();
    const writer = redisWriter(source.url());
    await eventually("the app writes Redis", () => writer.acked.length > 50);
    const cut = await ferry(CUTOVER, env);
    expect(cut.code, cut.stderr + cut.stdout).toBe(0);
    const r = cut.json;
    expect(r.redis.catchUp.by).toBe("window-follower");
    const names = stepNames(r);
    expect(names.indexOf("redis-follow")).toBeGreaterThan(-1);
    expect(names.indexOf("redis-follow")).toBeLessThan(names.indexOf("redis-fence"));
    expect(r.steps.find((s: { name: string }) => s.name === "redis-follow").detail).toMatch(/caught up in .* s, then followed/);
    expect(r.steps.find((s: { name: string }) => s.name === "redis-switch").detail).toMatch(/the follower this cutover started before the fence/);
    // Every key compared before the fence; inside it, only those changed since (and the counts).
    expect(names.indexOf("redis-verify-early")).toBeLessThan(names.indexOf("redis-fence"));
    const early = r.steps.find((s: { name: string }) => s.name === "redis-verify-early").detail;
    const compared = Number(/^(\d+) key\(s\) compared/.exec(early)?.[1]);
    expect(compared).toBeGreaterThan(3000);
    const inWindow = r.steps.find((s: { name: string }) => s.name === "redis-verify").detail;
    const changed = Number(/\((\d+) key\(s\) changed since the early verify compared/.exec(inWindow)?.[1]);
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(compared / 2);

    await eventually("the source refuses the writer", () => writer.refused.some((m) => /NOPERM/.test(m)));
    await writer.stop();
    expect(await missingKeys(target.url(), writer.acked)).toEqual([]);
    expect(await differences(source, target, [0])).toEqual([]);
    expect(await client(target).keys("ferry:state:*")).toEqual([]);
    expect(await redisCanWrite(target.url())).toBe(true);
  });

  test("a follower already running is asked to finish; the cutover starts none of its own", async () => {
    const { source, target, env } = await replicatedThenWritten();
    const follower = spawnFerry(["--json", "redis", "replicate", "--strategy", "copy", "--follow"], env);
    await eventually("the follower follows", async () => (await client(target).hget("ferry:state:meta", "phase")) === "following", { timeoutMs: 30_000 });
    const cut = await ferry(CUTOVER, env);
    expect(cut.code, cut.stderr + cut.stdout).toBe(0);
    expect(cut.json.redis.catchUp.by).toBe("follower");
    expect(cut.json.steps.find((s: { name: string }) => s.name === "redis-follow").detail).toMatch(/already running/);
    expect((await follower.result).code).toBe(0);
    expect(await differences(source, target, [0])).toEqual([]);
  });

  test("a gate not met after the follower started: the command ends, the source stays writable, the copy is left stopped for the next run", async () => {
    const { source, target, env } = await replicatedThenWritten();
    await client(source).set("jobs:stuck", "never drained");
    const started = Date.now();
    const cut = await ferry([...CUTOVER, "--pattern", "jobs:*", "--timeout", "2"], env);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/gate not met: the job queues did not drain/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await redisCanWrite(source.url())).toBe(true);
    const meta = await client(target).hgetall("ferry:state:meta");
    expect(meta.following).toBe("0");
    expect(await client(target).get("ferry:state:lock")).toBeNull();
    // The next cutover takes it from there.
    await client(source).del("jobs:stuck");
    const again = await ferry(CUTOVER, env);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(await differences(source, target, [0])).toEqual([]);
  });

  for (const [step, fenced] of [["redis-verify-early", false], ["redis-switch", true]] as const) {
    test(`killed after ${step} under a live writer: the source is ${fenced ? "fenced" : "still writable"}, the rerun finishes, nothing acknowledged lost`, async () => {
      const { source, target, env } = await replicatedThenWritten();
      const writer = redisWriter(source.url());
      await eventually("the app writes Redis", () => writer.acked.length > 50);
      const killed = await ferry(CUTOVER, { ...env, FERRY_TEST_CRASH_AFTER_STEP: step });
      expect(killed.code).toBeNull(); // SIGKILL
      expect(await redisCanWrite(source.url())).toBe(!fenced);
      const rerun = await ferry(CUTOVER, env);
      expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
      await eventually("the source refuses the writer", () => writer.refused.some((m) => /NOPERM/.test(m)));
      await writer.stop();
      expect(await missingKeys(target.url(), writer.acked)).toEqual([]);
      expect(await differences(source, target, [0])).toEqual([]);
      expect(await client(target).keys("ferry:state:*")).toEqual([]);
    });
  }

  test("a follower whose tail breaks before the fence: the window repairs and compares every key itself, nothing lost", async () => {
    const { source, target, env } = await replicatedThenWritten();
    const writer = redisWriter(source.url());
    await client(source).set("jobs:hold", "drained once the tail broke");
    const cutting = ferry([...CUTOVER, "--pattern", "jobs:*"], env);
    await eventually("the cutover's follower follows", async () => (await client(target).hget("ferry:state:meta", "phase")) === "following", { timeoutMs: 30_000 });
    await client(source).call("CLIENT", "KILL", "TYPE", "pubsub");
    await new Promise((r) => setTimeout(r, 1500));
    await client(source).del("jobs:hold");
    const cut = await cutting;
    expect(cut.code, cut.stderr + cut.stdout).toBe(0);
    expect(cut.json.redis.catchUp.by).toBe("cutover");
    expect(cut.json.steps.find((s: { name: string }) => s.name === "redis-verify").detail).toMatch(/\(\d+ keys checked\)/);
    await eventually("the source refuses the writer", () => writer.refused.some((m) => /NOPERM/.test(m)));
    await writer.stop();
    expect(await missingKeys(target.url(), writer.acked)).toEqual([]);
    expect(await differences(source, target, [0])).toEqual([]);
  });
});
