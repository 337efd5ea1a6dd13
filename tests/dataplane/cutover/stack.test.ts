// `ferry cutover` for real: Postgres (logical) and Redis (REPLICAOF) cut over in one
// process under a live writer on both stores and a worker on the job queue; the
// strategy and mode replicate recorded are used, a flag that disagrees is refused
// before anything changes; `ferry status` shows both stores. How long writes are
// unavailable, against the per-store commands one after another, is a benchmark's
// (npm run bench:cutover).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { loadCutover } from "../../../dataplane/postgres/state";
import { insertWithoutIds, missingWrites, startWriteLoad } from "../postgres/fixtures";
import { canWrite, runFerry, startClusterPair } from "../postgres/helpers";
import { client, closeClients } from "../redis/helpers";
import { ferryReadingQueues, missingKeys, redisCanWrite, redisWriter, replicatingStack, sidekiqWithWorker, Stack } from "./helpers";
import { eventually } from "../../support/eventually";

const CUTOVER = ["--json", "cutover", "--max-lag-bytes", "10485760", "--timeout", "30"];

describe("ferry cutover: Postgres and Redis in one process", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;
  const stacks: Stack[] = [];

  beforeAll(async () => {
    [source, target] = await startClusterPair();
  });

  afterAll(async () => {
    closeClients();
    for (const s of stacks) await s.stop();
    await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
  });

  async function stack(db: string): Promise<Stack> {
    const s = await replicatingStack(source, target, db);
    stacks.push(s);
    return s;
  }

  test("under a live writer on both stores and jobs still running: nothing acknowledged lost, the worker quieted, every job ran once or waits in the target's queue, the sources refuse writes after, the targets take them", async () => {
    const s = await stack("whole");
    const pgLoad = startWriteLoad(s.pg.appSrc, { writers: 1 });
    const writer = redisWriter(s.redisSource.url());
    await pgLoad.waitForMore(30);
    await eventually("the app writes Redis", () => writer.acked.length > 20);
    // Jobs queued and one in progress when the cutover starts; each writes Postgres. The
    // one in progress finishes only once ferry is draining (the worker quieted): before the
    // Postgres fence that is a job that commits; after it, one that fails into retry. The
    // quiet worker takes no other: the rest wait in the queue and travel with the data.
    let release!: () => void;
    const worker = await sidekiqWithWorker(s.redisSource.url(), s.pg.appSrc, 20, { holdFirst: new Promise<void>((r) => (release = r)) });
    const cutting = runFerry([...CUTOVER, "--sidekiq"], s.env);
    await eventually("ferry draining the job queues", () => ferryReadingQueues(s.redisSource.url()), { timeoutMs: 60_000 });
    release();
    const cut = await cutting;
    expect(cut.code, cut.stderr + cut.stdout).toBe(0);
    const r = JSON.parse(cut.stdout);
    expect(r).toMatchObject({ ok: true, resumed: false, postgres: { strategy: "logical" }, redis: { mode: "replicaof", fence: { user: "default" }, verify: { ok: true } } });
    // The named steps: the queues before any fence (the job in progress ran against a writable Postgres),
    // then the fences, Postgres and Redis; the targets opened last.
    const names: string[] = r.steps.map((x: { name: string }) => x.name);
    expect(names.slice(0, 4)).toEqual(["gate", "queues", "fence", "redis-fence"]);
    expect(names).toEqual(expect.arrayContaining(["drain", "sequences", "redis-switch", "detach", "verify", "redis-verify"]));
    expect(names.slice(-2)).toEqual(["redis-open", "done"]);
    expect(worker.retried).toEqual([]); // no job met a fenced Postgres
    expect(worker.quiet()).toBe(true);
    expect(worker.done.length).toBeGreaterThanOrEqual(1);
    expect(worker.done.length + (await client(s.redisTarget).llen("queue:default"))).toBe(20);
    expect(cut.stdout + cut.stderr).not.toContain(source.password);
    expect(cut.stdout + cut.stderr).not.toContain("box-password");

    // The sources refuse the app's writes; the stragglers' attempts are refused, not lost.
    await eventually("the Redis writer is refused", () => writer.refused.some((m) => /NOPERM/.test(m)));
    await writer.stop();
    await worker.stop();
    expect(await canWrite(s.pg.appSrc)).toBe(false);
    expect(await redisCanWrite(s.redisSource.url())).toBe(false);
    // Every acknowledged write is on the targets, and the targets take new ones.
    pgLoad.retarget(s.pg.appTgt);
    await pgLoad.waitForMore(20);
    await pgLoad.stop();
    expect(await missingWrites(s.pg.tgt, pgLoad.acked)).toEqual([]);
    expect(await missingKeys(s.redisTarget.url(), writer.acked)).toEqual([]);
    const jobRows = await withClient(s.pg.tgt, (c) => c.query("SELECT payload->>'jid' AS jid FROM events WHERE kind = 'job' ORDER BY id"));
    expect(jobRows.rows.map((x) => x.jid).sort()).toEqual([...worker.done].sort());
    await insertWithoutIds(s.pg.tgt, "after");
    expect(await redisCanWrite(s.redisTarget.url())).toBe(true);

    // One record, on the Postgres target, with the Redis steps in it; a rerun is a no-op.
    const record = await withClient(s.pg.tgt, (c) => loadCutover(c, "logical"));
    expect(record?.done).toBe(true);
    expect(record?.steps.map((x) => x.name)).toEqual(expect.arrayContaining(["redis-fence", "redis-switch", "redis-verify", "redis-open"]));
    const again = await runFerry(CUTOVER, s.env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, resumed: true });
  });

  test("a flag that disagrees with what replicate recorded is refused in one line naming both; nothing changes", async () => {
    const s = await stack("mismatch");
    const cases: [string[], RegExp][] = [
      [[...CUTOVER, "--strategy", "physical"], /^ferry: --strategy physical disagrees with the strategy ferry pg replicate recorded on the target \(logical\)/],
      [[...CUTOVER, "--strategy", "copy"], /^ferry: --strategy copy disagrees with the strategy ferry redis replicate recorded on the target \(replicaof\)/],
      [["--json", "pg", "cutover", "--strategy", "dump"], /^ferry: --strategy dump disagrees with the strategy ferry pg replicate recorded on the target \(logical\)/],
      [["--json", "redis", "cutover", "--strategy", "copy"], /^ferry: --strategy copy disagrees with the strategy ferry redis replicate recorded on the target \(replicaof\)/],
    ];
    for (const [args, error] of cases) {
      const run = await runFerry(args, s.env);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(error);
    }
    expect(await canWrite(s.pg.appSrc)).toBe(true);
    expect(await redisCanWrite(s.redisSource.url())).toBe(true);
    expect(await withClient(s.pg.tgt, (c) => loadCutover(c, "logical"))).toBeNull();
    // Without the flags, the recorded strategy and mode: the cutover goes through (and
    // drops the subscription's slot, whose name every database pair of a cluster shares).
    const cut = await runFerry(CUTOVER, s.env);
    expect(cut.code, cut.stderr).toBe(0);
    expect(JSON.parse(cut.stdout)).toMatchObject({ ok: true, postgres: { strategy: "logical" }, redis: { mode: "replicaof" } });
  });

  test("the per-store commands take the recorded strategy and mode without flags", async () => {
    const s = await stack("recorded");
    const pgCut = await runFerry(["--json", "pg", "cutover", "--max-lag-bytes", "10485760", "--timeout", "30"], s.env);
    expect(pgCut.code, pgCut.stderr).toBe(0);
    expect(JSON.parse(pgCut.stdout)).toMatchObject({ ok: true, strategy: "logical" });
    const redisCut = await runFerry(["--json", "redis", "cutover"], s.env);
    expect(redisCut.code, redisCut.stderr).toBe(0);
    expect(JSON.parse(redisCut.stdout)).toMatchObject({ ok: true, mode: "replicaof" });
  });

  test("ferry status shows every store's stage, lag and next step, before and after", async () => {
    const s = await stack("status");
    const before = await runFerry(["--json", "status"], s.env);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout).stores).toEqual([
      { store: "postgres", method: "logical", stage: "streaming", lagBytes: expect.any(Number), next: "ferry cutover" },
      { store: "redis", method: "replicaof", stage: "replicating", lagBytes: expect.any(Number), next: "ferry cutover" },
    ]);
    const text = await runFerry(["status"], s.env);
    expect(text.stdout).toMatch(/^postgres \(logical\): streaming, lag \d+ bytes\n {2}next: ferry cutover\nredis \(replicaof\): replicating, lag \d+ bytes\n {2}next: ferry cutover\n$/);

    expect((await runFerry(CUTOVER, s.env)).code).toBe(0);
    const after = JSON.parse((await runFerry(["--json", "status"], s.env)).stdout);
    expect(after.stores).toEqual([
      expect.objectContaining({ store: "postgres", method: "logical", stage: "cut over", next: expect.stringMatching(/^done/) }),
      expect.objectContaining({ store: "redis", method: "replicaof", stage: expect.stringMatching(/^cut over at /), next: expect.stringMatching(/^done/) }),
    ]);
    const none = await runFerry(["status"], {});
    expect(none.code).toBe(2);
  });
});
