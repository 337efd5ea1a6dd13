// kill -9 of `ferry cutover` (Postgres logical + Redis REPLICAOF) right after each named
// step, then a rerun: it must finish, with at most one writable side of each store at
// every moment and every acknowledged write, in Postgres and in Redis, on the targets.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { loadCutover } from "../../../dataplane/postgres/state";
import { missingWrites, startWriteLoad } from "../postgres/fixtures";
import { canWrite, runFerry, startClusterPair } from "../postgres/helpers";
import { missingKeys, redisCanWrite, redisMarked, redisWriter, replicatingStack, Stack } from "./helpers";
import { eventually } from "../../support/eventually";

const STEPS = ["gate", "queues", "fence", "redis-fence", "drain", "sequences", "redis-switch", "detach", "verify", "redis-verify", "redis-open", "done"];
/** Steps after which the Redis source is still the app's (not yet fenced). */
const BEFORE_REDIS_FENCE = ["gate", "queues", "fence"];
/** Steps before the window: nothing was changed, and a rerun starts over (not resumed). */
const BEFORE_THE_WINDOW = ["gate", "queues"];
const CUTOVER = ["--json", "cutover", "--sidekiq", "--max-lag-bytes", "10485760", "--timeout", "30"];

describe("ferry cutover killed at each step", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;
  const stacks: Stack[] = [];

  beforeAll(async () => {
    [source, target] = await startClusterPair();
  });

  afterAll(async () => {
    for (const s of stacks) await s.stop();
    await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
  });

  test.each(STEPS)("killed after %s, rerun finishes", async (step) => {
    const s = await replicatingStack(source, target, `crash_${step.replace("-", "_")}`);
    stacks.push(s);
    const load = startWriteLoad(s.pg.appSrc, { writers: 1 });
    const writer = redisWriter(s.redisSource.url());
    await load.waitForMore(30);
    await eventually("the app writes Redis", () => writer.acked.length > 20);

    const killed = await runFerry(CUTOVER, { ...s.env, FERRY_TEST_CRASH_AFTER_STEP: step });
    expect(killed.signal, killed.stderr + killed.stdout).toBe("SIGKILL");

    // At most one writable side per store.
    const pgDone = (await withClient(s.pg.tgt, (c) => loadCutover(c, "logical")))?.done === true;
    const pgSourceWritable = await canWrite(s.pg.appSrc);
    expect(pgSourceWritable && pgDone).toBe(false);
    expect(pgSourceWritable).toBe(BEFORE_THE_WINDOW.includes(step));
    const redisSourceWritable = await redisCanWrite(s.redisSource.url());
    expect(redisSourceWritable && (await redisMarked(s.redisTarget.url()))).toBe(false);
    expect(redisSourceWritable).toBe(BEFORE_REDIS_FENCE.includes(step));

    const rerun = await runFerry(CUTOVER, s.env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: !BEFORE_THE_WINDOW.includes(step) });
    expect(rerun.stdout).not.toContain(source.password);

    await writer.stop();
    expect(await redisCanWrite(s.redisSource.url())).toBe(false);
    expect(await missingKeys(s.redisTarget.url(), writer.acked)).toEqual([]);
    expect(await redisCanWrite(s.redisTarget.url())).toBe(true);
    load.retarget(s.pg.appTgt);
    await load.waitForMore(20);
    await load.stop();
    expect(await missingWrites(s.pg.tgt, load.acked)).toEqual([]);
    expect(await canWrite(s.pg.appSrc)).toBe(false);
  });
});
