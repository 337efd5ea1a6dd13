// After a rollback, raising ferry:replicate again must work: lowering it runs `ferry redis
// cleanup`, which empties what ferry filled the target with (only that), so the next
// `ferry redis replicate` (the stage passes no --conflict) starts over on an empty target
// and the cutover after it is green. A target holding keys ferry did not put there is
// kept, and the next replicate refuses it in one line.
import { afterAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
import { runFerry } from "../postgres/helpers";
import { redisCanWrite } from "../cutover/helpers";
import { client, closeClients, differences, ferry, seed, urls } from "./helpers";
import { eventually } from "../../support/eventually";

const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

async function pair() {
  const source = await startRedis({ password: "box-password", settings: { "notify-keyspace-events": "KEA", "repl-diskless-sync-delay": "0" } });
  const target = await startRedis();
  servers.push(source, target);
  await seed(client(source), 30);
  await seed(client(source, 2), 10);
  return { source, target, env: urls(source, target) };
}

describe("replicate, roll back, replicate again", () => {
  test("copy: cleanup empties ferry's copy; the next replicate (no --conflict) starts over, and the cutover is green", async () => {
    const { source, target, env } = await pair();
    expect((await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env)).code).toBe(0);
    const clean = await ferry(["--json", "redis", "cleanup"], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.json.actions).toEqual([expect.stringMatching(/^the target emptied: its \d+ key\(s\) were ferry's copy of the source/)]);
    expect(await client(target).dbsize()).toBe(0);

    // The source moves on meanwhile: a key gone, a key new.
    await client(source).del("k:str:1");
    await client(source).set("after:rollback", "1");
    const again = await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.resumed).toBe(false);
    closeClients();
    const cut = await ferry(["--json", "redis", "cutover"], env);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.json.verify.ok).toBe(true);
    expect(await differences(source, target, [0, 2])).toEqual([]);
  });

  test("replicaof: a cutover killed after the promotion, rolled back, cleaned up: replicate again (no --conflict) and cut over", async () => {
    const { source, target, env } = await pair();
    expect((await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env)).code).toBe(0);
    const killed = await runFerry(["--json", "cutover", "--timeout", "30"], { ...env, FERRY_TEST_CRASH_AFTER_STEP: "redis-switch" });
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    expect(await client(target).info("replication")).toMatch(/role:master/); // promoted, never opened
    const back = await ferry(["--json", "redis", "rollback"], env);
    expect(back.code, back.stderr).toBe(0);
    expect(back.json.unfenced.user).toBe("default");
    expect(await redisCanWrite(source.url())).toBe(true);

    const clean = await ferry(["--json", "redis", "cleanup"], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.json.actions).toEqual([expect.stringMatching(/^the target emptied: its \d+ key\(s\) were ferry's copy of the source/)]);
    await client(source).set("after:rollback", "1");
    const again = await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env);
    expect(again.code, again.stderr).toBe(0);
    await eventually("the replica has the write made after the rollback", async () => (await client(target).get("after:rollback")) === "1");
    const cut = await ferry(["--json", "redis", "cutover"], env);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.json.verify.ok).toBe(true);
    expect(await differences(source, target, [0, 2])).toEqual([]);
  });

  test("a target that held keys of its own: cleanup keeps them, the next replicate refuses in one line", async () => {
    const { target, env } = await pair();
    await client(target).set("theirs", "not ferry's");
    expect((await ferry(["--json", "redis", "replicate", "--strategy", "copy", "--conflict", "replace"], env)).code).toBe(0);
    const clean = await ferry(["--json", "redis", "cleanup"], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.json.actions).toEqual([expect.stringMatching(/^copy state removed \(\d+ keys\); the target's other keys kept: ferry did not put them all there/)]);
    expect(await client(target).get("theirs")).toBe("not ferry's");
    const again = await ferry(["redis", "replicate", "--strategy", "copy"], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^ferry: --target already holds \d+ keys that ferry did not copy there .*choose --conflict replace \(source wins\) or --conflict skip \(target wins\)\n$/);
    expect(await client(target).get("theirs")).toBe("not ferry's");
  });

  test("cleanup of a cut-over target touches nothing, not even after the app flushed it", async () => {
    const { target, env } = await pair();
    expect((await ferry(["--json", "redis", "replicate", "--strategy", "copy"], env)).code).toBe(0);
    closeClients();
    expect((await ferry(["--json", "redis", "cutover"], env)).code).toBe(0);
    await client(target).set("app:new", "written after the cutover");
    const clean = await ferry(["--json", "redis", "cleanup"], env);
    expect(clean.json.actions).toEqual(["the target is the primary (cut over): nothing to tear down"]);
    expect(await client(target).get("app:new")).toBe("written after the cutover");
  });
});
