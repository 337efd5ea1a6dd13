// kill -9 of `ferry cutover` for the box's shape (Postgres physical standby + Redis
// REPLICAOF) right after each named step, then a rerun. Before promotion the standby
// cannot hold the record, so a rerun finds its way from the facts alone (the fences on
// both sources, the standby's recovery, the replica's role): it must finish, with at most
// one writable side per store at every moment and every acknowledged write on the targets.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, LocalRedis, startRedis } from "../../../rehearsal/servers";
import { cleanup } from "../../../dataplane/postgres/cutover/cleanup";
import { unfence, withWritable } from "../../../dataplane/postgres/cutover/fence";
import { replicatePhysical, stopStandby } from "../../../dataplane/postgres/replication/physical";
import { missingWrites, roleUrl, startSource, startWriteLoad } from "../postgres/fixtures";
import { asRole, canWrite, runFerry, standbyPath, standbyUrl } from "../postgres/helpers";
import { ferry } from "../redis/helpers";
import { missingKeys, redisCanWrite, redisMarked, redisWriter } from "./helpers";
import { eventually } from "../../support/eventually";

const STEPS = ["gate", "fence", "redis-fence", "drain", "redis-switch", "promote", "verify", "redis-verify", "activate", "redis-open", "done"];
const CUTOVER = ["--json", "cutover", "--max-lag-bytes", "10485760", "--timeout", "30"];

describe("ferry cutover (physical + replicaof) killed at each step", () => {
  let source: LocalPostgres;
  const standbys: string[] = [];
  const redises: LocalRedis[] = [];

  beforeAll(async () => {
    source = await startSource(100);
  });

  afterAll(async () => {
    for (const dir of standbys) await stopStandby(dir);
    for (const r of redises) await r.stop();
    await source?.stop("immediate");
  });

  /** A new standby of the (unfenced) source and a new Redis replica pair. */
  async function freshStack() {
    const dir = standbyPath();
    standbys.push(dir);
    const target = await standbyUrl(source);
    await replicatePhysical({ sourceUrl: source.url(), targetUrl: target, standbyDir: dir });
    const redisSource = await startRedis({ password: "box-password", settings: { "repl-diskless-sync-delay": "0" } });
    const redisTarget = await startRedis();
    redises.push(redisSource, redisTarget);
    const env = { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target, FERRY_SOURCE_REDIS_URL: redisSource.url(), FERRY_TARGET_REDIS_URL: redisTarget.url() };
    const started = await ferry(["--json", "redis", "replicate", "--mode", "replicaof"], env);
    expect(started.code, started.stderr).toBe(0);
    return { dir, target, appTarget: asRole(target, "app"), redisSource, redisTarget, env };
  }

  /** The source a primary again for the next step; the promoted standby retired. */
  async function reset(dir: string) {
    await withWritable(source.url(), (c) => unfence(c));
    await stopStandby(dir);
    await cleanup({ sourceUrl: source.url() });
  }

  test.each(STEPS)("killed after %s, rerun finishes", async (step) => {
    const s = await freshStack();
    const load = startWriteLoad(roleUrl(source, "app"), { writers: 1 });
    const writer = redisWriter(s.redisSource.url());
    await load.waitForMore(30);
    await eventually("the app writes Redis", () => writer.acked.length > 20);

    const killed = await runFerry(CUTOVER, { ...s.env, FERRY_TEST_CRASH_AFTER_STEP: step });
    expect(killed.signal, killed.stderr + killed.stdout).toBe("SIGKILL");
    const pgSourceWritable = await canWrite(roleUrl(source, "app"));
    const pgTargetWritable = await canWrite(s.appTarget).catch(() => false); // a standby refuses writes
    expect(pgSourceWritable && pgTargetWritable, "two writable Postgres primaries").toBe(false);
    expect(pgSourceWritable).toBe(step === "gate");
    expect(pgTargetWritable).toBe(["activate", "redis-open", "done"].includes(step));
    const redisSourceWritable = await redisCanWrite(s.redisSource.url());
    expect(redisSourceWritable && (await redisMarked(s.redisTarget.url())), "two Redis primaries the app may write").toBe(false);
    expect(redisSourceWritable).toBe(step === "gate" || step === "fence");

    const rerun = await runFerry(CUTOVER, s.env);
    expect(rerun.code, rerun.stderr + rerun.stdout).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: true, resumed: step !== "gate", postgres: { strategy: "physical" }, redis: { mode: "replicaof" } });

    await writer.stop();
    expect(await missingKeys(s.redisTarget.url(), writer.acked)).toEqual([]);
    expect(await redisCanWrite(s.redisSource.url())).toBe(false);
    expect(await redisCanWrite(s.redisTarget.url())).toBe(true);
    load.retarget(s.appTarget);
    await load.waitForMore(20);
    await load.stop();
    expect(await missingWrites(s.target, load.acked)).toEqual([]);
    expect(await canWrite(roleUrl(source, "app"))).toBe(false);
    await reset(s.dir);
  });
});
