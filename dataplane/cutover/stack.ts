// `ferry cutover`: the whole stack's switch in ONE process, so the write-unavailability
// window is what the work inside it costs, not the start-up of one `ferry` process per
// store and queue. The sequence (pg_easy_replicate's switchover is the model), as named
// steps:
//   gate          every moving store is ready (Postgres lag under the threshold, the
//                 Redis replica linked or its copy running, the target able to keep the
//                 cutover mark);
//                 read-only, nothing changes
//   redis-follow  (a Redis copy with no follower alive) a follower in this process: it
//                 repairs the time since replicate returned while the app still writes,
//                 then tails, so the window only copies the keys changed since
//                 (redis/window-follower.ts); then, beside the queues, every key verified
//                 (redis-verify-early), so the window only compares the keys changed since
//   pooler-pause  (--pooler) every PgBouncer replica the app reaches Postgres through is
//                 paused: its transactions finish, new ones wait in the pooler instead
//                 of failing on the fenced source (docs/pooler.md); one that cannot be
//                 paused gives every store back, every replica resumed on the source.
//                 Beside it, redis-pooler-pause (--pooler-redis): the replicas' Redis proxy
//                 paused (commands already sent finish, a blocked BRPOP up to its 2 s;
//                 new ones wait in the proxy). Side by side, before any fence: the wait
//                 is the longer of the two, not both, and falls outside the window, and a
//                 proxy that cannot be paused gives back with nothing fenced
//   queues        BEFORE any fence, the app's Sidekiq processes quieted (they take no
//                 new job) and none with a job in progress: a worker still taking jobs
//                 would run one against the fenced Postgres, and its retry would meet
//                 the fenced Redis (redis/sidekiq.ts). Ready queues and the schedule,
//                 retry and dead sets are data and travel with the copy; a give-back
//                 stops the quieted processes for their platform to start them again
//   pooler-pause  (--pooler) every PgBouncer replica the app reaches Postgres through is
//                 paused: its transactions finish, new ones wait in the pooler instead
//                 of failing on the fenced source (docs/pooler.md); one that cannot be
//                 paused gives every store back, every replica resumed on the source
//   fence         Postgres: every login role read-only, sessions ended (the window opens)
//   redis-fence   Redis: the app's user loses @write on the source (ACL), or with
//                 --fence dynos-stopped, every other client's writes held (CLIENT PAUSE WRITE)
//   catch up      in parallel: Postgres drain (+ sequences | the dump copy) and Redis
//                 switch (REPLICAOF NO ONE after equal offsets, or the copy finished)
//   take over     Postgres: subscription dropped / standby promoted (no way back after)
//   verify        in parallel: Postgres fast verify and Redis verify
//   open          Postgres activate (physical), Redis target marked primary, the pooler
//                 replicas repointed at the target and resumed (pooler-repoint, and
//                 redis-pooler-repoint for the Redis proxy, side by side), then done
//   verify-at-open (--pooler) after the window: every row of the fenced source against the
//                 target's snapshot from before the first replica moved (the app writes
//                 the target since, so `ferry pg verify` reports this one)
// ONE record: the Postgres cutover record on its target (postgres/state.ts) carries the
// Redis steps too; where it cannot be written yet (a physical standby), and for Redis in
// any case, the facts say how far a run got (the fences on the sources, the standby's
// recovery, the replica's role, the cutover mark: redis/state.ts). Every step is
// idempotent, so a rerun after a crash at any point continues, and a failure before the
// point of no return gives every source back (fences lifted). At most one writable side
// at any moment: every target is opened only after every source is fenced and verified.
import { Client } from "pg";
import { FerryError } from "../cli/common";
import {
  CutoverOptions as PgOptions, CutoverResult as PgResult, PgCutover, VerifySummary, GateNotMet, beginPgCutover,
  pgActivate, pgAppMovesNow, pgCatchUp, pgDone, pgFence, pgGate, pgGiveBack, pgNeedsGate, pgTakeOver, pgTargetWritable, pgVerify, pgVerifyAtOpen, TargetAsOpened, verifySummary,
} from "../postgres/cutover/cutover";
import { stepCrashPoint } from "../postgres/cutover/crash-points";
import { withWritable } from "../postgres/cutover/fence";
import { CutoverStep } from "../postgres/state";
import {
  CutoverOptions as RedisOptions, Switched, fenceOnSource, fenceSource, liftFence, openTarget, promotedAlready, switchProblem,
  switchTarget, verifyTarget, cutoverDone,
} from "../redis/cutover";
import { followUntilFence, WindowFollower } from "../redis/window-follower";
import { drain } from "../redis/drain";
import { FenceRecord as RedisFence } from "../redis/fence";
import { VerifyResult, verifyKeys } from "../redis/verify";
import { pauseAll, PoolerAccess, PoolerResult, PoolerStore, resumeAll, switchAll, whereOf } from "../pooler/replicas";

export interface QueueDrain {
  sidekiq: boolean;
  namespace?: string;
  patterns: string[];
  timeoutMs: number;
}

/** The Postgres pooler the app reaches its database through (docs/pooler.md). */
export interface PoolerHook {
  access: PoolerAccess;
  /** The app's own login on the target: where the replicas point once it opens. */
  targetUrl: string;
  /** How long a replica's PAUSE may wait for its transactions before the cutover gives back. */
  pauseTimeoutMs: number;
}

export interface StackCutoverOptions {
  postgres?: Omit<PgOptions, "onStep">;
  pooler?: PoolerHook;
  /** The pooler's Redis proxy (the same replicas, --store redis): targetUrl is the app's rediss:// login on the target. */
  redisPooler?: PoolerHook;
  redis?: Omit<RedisOptions, "progress">;
  /** The app's job queues on the source Redis, drained before the fences. */
  queues?: QueueDrain;
  onStep?: (step: CutoverStep) => void;
}

export interface StackCutoverResult {
  ok: boolean;
  /** From the first fence to every target open; null when nothing was fenced (or it was lifted). */
  writeUnavailableMs: number | null;
  resumed: boolean;
  steps: CutoverStep[];
  postgres?: {
    strategy: string; lagBytesAtFence: number | null; verify?: VerifySummary;
    /** With a pooler: every row of the fenced source against the target as it was opened, after the window. */
    verifyAtOpen?: VerifySummary;
  };
  redis?: { mode: string; fence?: RedisFence; verify?: { ok: boolean; checked: number; differingCount: number; firstDifference?: string } } & Switched;
  /** Every source was given back (fences lifted) after a failure. */
  rolledBack?: boolean;
  error?: string;
}

export { GateNotMet };

/**
 * Steps side by side: every one runs to its end before the first failure is raised, so
 * none is still working (a copy still writing, a record still being saved) while the
 * orchestrator gives the sources back.
 */
async function inParallel<T extends unknown[]>(...steps: { [K in keyof T]: Promise<T[K]> | T[K] }): Promise<T> {
  const settled = await Promise.allSettled(steps);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as T;
}


/** The steps taken, kept in the Postgres cutover record when there is one (and it can be written). */
class StackRun {
  private readonly local: CutoverStep[] = [];
  redisVerify?: VerifyResult;
  pgVerify?: VerifySummary;
  switched: Switched = {};
  redisFence?: RedisFence;
  redisFollower?: WindowFollower;
  private fencedAt?: number;

  constructor(
    /** The stores still to move. */
    readonly opts: StackCutoverOptions,
    readonly pg: PgCutover | undefined,
    /** The Redis source was already fenced when this run started (an earlier run got past the queues). */
    readonly redisFencedBefore: boolean,
    /** Every store the command was given (the result names them all, finished ones too). */
    readonly given: StackCutoverOptions = opts,
  ) {}

  get steps(): CutoverStep[] {
    return this.pg ? this.pg.steps : this.local;
  }

  done(name: string): boolean {
    return this.pg ? this.pg.done(name) : this.local.some((s) => s.name === name);
  }

  /**
   * Once, recorded with Postgres's own steps (persisted unless the target is still a
   * standby, or `persisted` is false: a step before the window, which a rerun repeats).
   */
  async step(name: string, fn: () => Promise<string | void>, persisted = true): Promise<void> {
    const persist = persisted && this.pg && (pgTargetWritable(this.pg) || this.pg.opts.strategy !== "physical") ? this.pg.persist : undefined;
    if (this.pg) return this.pg.step(name, fn, persist);
    const t0 = Date.now();
    const detail = (await fn()) ?? undefined;
    const record = { name, at: t0, ms: Date.now() - t0, ...(detail ? { detail } : {}) };
    this.local.push(record);
    this.opts.onStep?.(record);
    stepCrashPoint(name, "after-step");
  }

  markFenced(): void {
    this.fencedAt ??= Date.now();
  }

  get resumed(): boolean {
    return (this.pg?.resumed ?? false) || this.redisFencedBefore;
  }

  writeUnavailableMs(): number | null {
    if (this.pg) return this.pg.result().writeUnavailableMs;
    return this.fencedAt === undefined ? null : Date.now() - this.fencedAt;
  }

  result(extra: Partial<StackCutoverResult> = {}): StackCutoverResult {
    const { postgres, redis } = this.given;
    const pgResult: PgResult | undefined = this.pg?.result();
    // Recorded by this run's verify-at-open, or by an earlier run's (the state it resumed).
    const atOpen = this.pg?.state.verifiedAtOpen?.report;
    return {
      ok: atOpen?.ok ?? true,
      ...(atOpen && !atOpen.ok ? { error: `the target as the cutover opened it differs from the fenced source: ${atOpen.firstDifference}; the app writes the target now, so ferry repairs nothing (ferry pg verify --live --show-keys compares it now and names the rows)` } : {}),
      writeUnavailableMs: this.writeUnavailableMs(),
      resumed: this.resumed,
      steps: this.steps,
      ...(postgres ? {
        postgres: {
          strategy: postgres.strategy, lagBytesAtFence: pgResult?.lagBytesAtFence ?? null,
          ...(this.pgVerify ? { verify: this.pgVerify } : {}), ...(atOpen ? { verifyAtOpen: verifySummary(atOpen) } : {}),
        },
      } : {}),
      ...(redis ? { redis: { mode: redis.mode, ...(this.redisFence ? { fence: this.redisFence } : {}), ...this.switched, ...(this.redisVerify ? { verify: redisVerifySummary(this.redisVerify) } : {}) } } : {}),
      ...extra,
    };
  }
}

function redisVerifySummary(v: VerifyResult) {
  const first = v.differing[0];
  return { ok: v.ok, checked: v.checked, differingCount: v.differingCount, ...(first ? { firstDifference: `db${first.db} ${first.key}: ${first.reason}` } : {}) };
}

export async function stackCutover(opts: StackCutoverOptions): Promise<StackCutoverResult> {
  if (!opts.postgres && !opts.redis) throw new FerryError("nothing to cut over: give the Postgres URLs, the Redis URLs, or both", 2);
  return withPgSource(opts, async (source) => {
    const pg = source && opts.postgres ? await beginPgCutover({ ...opts.postgres, onStep: opts.onStep }, source) : undefined;
    try {
      return await cutOverStack(opts, pg);
    } finally {
      await pg?.close();
    }
  });
}

/** The sequence itself, for the stores still to move (a store cut over earlier is left as it is). */
async function cutOverStack(opts: StackCutoverOptions, pg: PgCutover | undefined): Promise<StackCutoverResult> {
  const pgOpen = pg?.previous?.done === true;
  const redisOpen = opts.redis ? (await cutoverDone(opts.redis.target)) !== undefined : false;
  if ((!opts.postgres || pgOpen) && (!opts.redis || redisOpen)) return new StackRun(opts, pg, redisOpen).result({ steps: pg?.previous?.steps ?? [] });
  // A store already cut over (on its own, held back by ferry:hold, or by this command
  // before a crash) is left as it is: the rest moves.
  const moving: StackCutoverOptions = {
    ...opts, postgres: pgOpen ? undefined : opts.postgres, pooler: pgOpen ? undefined : opts.pooler,
    redis: redisOpen ? undefined : opts.redis, redisPooler: redisOpen ? undefined : opts.redisPooler,
  };
  const redisFencedBefore = moving.redis ? (await fenceOnSource(moving.redis.source)) !== undefined : false;
  const run = new StackRun(moving, pgOpen ? undefined : pg, redisFencedBefore || redisOpen, opts);

  try {
    if (!run.resumed) {
      await gateEveryStore(run);
      await followRedis(run);
      await inParallel(drainQueues(run), verifyRedisEarly(run));
    }
    try {
      await inParallel(pausePoolers(run, "postgres"), pausePoolers(run, "redis"));
      await fenceEveryWriter(run);
      await catchUpEveryStore(run);
      await takeOverPostgres(run);
    } catch (err) {
      return await giveBackEveryStore(run, err as Error);
    }
    if (!(await verifyEveryStore(run))) return await verifyFailed(run);
    await openEveryTarget(run);
    return run.result();
  } finally {
    // Whatever stopped the run, the follower it started does not outlive it.
    await run.redisFollower?.finish().catch(() => undefined);
  }
}

async function withPgSource<T>(opts: StackCutoverOptions, fn: (source: Client | undefined) => Promise<T>): Promise<T> {
  if (!opts.postgres) return fn(undefined);
  return withWritable(opts.postgres.sourceUrl, fn);
}

/** Outside the window, read-only and in parallel: every store ready to switch, or nothing is touched. */
async function gateEveryStore(run: StackRun): Promise<void> {
  const { redis } = run.opts;
  await inParallel(
    run.pg && pgNeedsGate(run.pg) ? pgGate(run.pg) : undefined,
    redis ? switchProblem(redis).then((problem) => {
      if (problem) throw new GateNotMet(`gate not met: ${problem}; no source was touched`);
    }) : undefined,
  );
}

/**
 * Before the window, for a Redis copy nobody follows: a follower in this process catches
 * the target up while the app still writes (followUntilFence). Not persisted: a rerun
 * before the fence starts one again; after it, the switch catches up without one.
 */
async function followRedis(run: StackRun): Promise<void> {
  const { redis } = run.opts;
  if (!redis || redis.mode !== "copy") return;
  await run.step("redis-follow", async () => {
    const t0 = Date.now();
    const follower = await followUntilFence(redis);
    if (!follower) return "a follower is already running: the switch asks it to finish";
    run.redisFollower = follower;
    // Nothing is fenced yet: a follower that fails leaves the window to do its work, as before.
    const failed = await follower.ready.then(() => undefined, (err: Error) => err);
    if (!failed) return `the target caught up in ${((Date.now() - t0) / 1000).toFixed(1)} s, then followed: inside the window only the keys changed since are copied`;
    run.redisFollower = undefined;
    await follower.finish().catch(() => undefined);
    return `the follower failed (${failed.message}): the window repairs the time since replicate returned itself`;
  }, false);
}

/**
 * Before the window, beside the queues' drain: every key compared while the follower
 * notes the changed ones. Differences here are expected (the app still writes); they are
 * compared again inside the window. Not persisted, like the follower.
 */
async function verifyRedisEarly(run: StackRun): Promise<void> {
  const follower = run.redisFollower;
  if (!follower) return;
  await run.step("redis-verify-early", async () => {
    const v = await follower.verifyEarly();
    return `${v.checked} key(s) compared while the app writes, ${v.differingCount} differing then: the window compares those and the keys changed since`;
  }, false);
}

/**
 * Before the window: the app's Sidekiq processes quiet, none with a job in progress. A
 * worker still taking jobs once Postgres is fenced would run one that fails there, and
 * its retry would meet the fenced Redis: lost. Not persisted: a rerun after a crash
 * before the fence quiets again (idempotent); one after the fence does not need to. Not
 * drained in time: the drain woke what it quieted, and the gate is not met.
 */
async function drainQueues(run: StackRun): Promise<void> {
  const { redis, queues } = run.opts;
  if (!redis || !queues) return;
  await run.step("queues", async () => {
    const left = await drain({ endpoint: redis.source, sidekiq: queues.sidekiq, namespace: queues.namespace, patterns: queues.patterns, timeoutMs: queues.timeoutMs, intervalMs: 50 });
    if (!left.ok) throw new GateNotMet(`gate not met: the job queues did not drain within ${queues.timeoutMs / 1000} s: ${left.remaining} left (${left.left.slice(0, 3).map((l) => `${l.kind} ${l.key}: ${l.count}`).join(", ")})${left.woken ? `; the ${left.woken} Sidekiq process(es) it quieted were stopped for their platform to start again` : ""}; no source was fenced`);
    const travelling = left.travelling.map((t) => `${t.kind} ${t.count}`).join(", ");
    return `workers quiet, no job in progress after ${left.seconds.toFixed(2)} s${travelling ? ` (${travelling} travel with the data)` : ""}`;
  }, false);
}

/** Each half of the pooler: its hook, its steps' names, and what waits in it while paused. */
const POOLER_SIDES = {
  postgres: { hook: (o: StackCutoverOptions) => o.pooler, pause: "pooler-pause", repoint: "pooler-repoint", waits: "transactions" },
  redis: { hook: (o: StackCutoverOptions) => o.redisPooler, pause: "redis-pooler-pause", repoint: "redis-pooler-repoint", waits: "Redis commands" },
} as const;

/**
 * Every replica's `store` half paused (or, if one cannot be, a failure: pauseAll resumed
 * them all, and the give-back resumes the other half). Just before the fences.
 * Idempotent: a rerun pauses again (a replica that restarted meanwhile would not be
 * paused any more).
 */
async function pausePoolers(run: StackRun, store: PoolerStore = "postgres"): Promise<void> {
  const side = POOLER_SIDES[store];
  const pooler = side.hook(run.opts);
  // A rerun past the repoint: the app is on the target already, nothing to hold it from.
  if (!pooler || run.done(side.repoint)) return;
  const pause = async () => {
    const r = await pauseAll(pooler.access, pooler.pauseTimeoutMs, store);
    if (!r.ok) throw new Error(r.error);
    return `${r.replicas.length} replica(s) paused: new ${side.waits} wait in the pooler`;
  };
  if (run.done(side.pause)) await pause();
  else await run.step(side.pause, pause, false);
}

/**
 * The target open: every replica's `store` half pointed at it and resumed. A replica
 * that cannot be repointed stays paused (it must never resume on the fenced source)
 * while the others resume, and the step fails: a rerun of the cutover repoints it.
 */
async function repointPoolers(run: StackRun, store: PoolerStore = "postgres"): Promise<void> {
  const side = POOLER_SIDES[store];
  const pooler = side.hook(run.opts);
  if (!pooler) return;
  const repoint = async () => {
    const switched = await switchAll(pooler.access, pooler.targetUrl, store);
    if (!switched.ok) throw new Error(`${switched.error}; rerun ferry cutover to repoint and resume the rest`);
    return `${switched.replicas.length} replica(s) repointed at ${describeReplicas(switched)} and resumed`;
  };
  // Again on a rerun (each replica reports "already points" or moves): a replica that
  // restarted since starts on the fenced source, and a crash may have come mid-step.
  if (run.done(side.repoint)) await repoint();
  else await run.step(side.repoint, repoint);
}

const describeReplicas = (r: PoolerResult) => [...new Set(r.replicas.map(whereOf))].join(", ");

/** The sources given back: the pooler replicas, both halves, resume on them (still pointed there). */
async function resumePoolersOnSource(run: StackRun): Promise<string | undefined> {
  const halves = (["postgres", "redis"] as const).map((store) => ({ store, hook: POOLER_SIDES[store].hook(run.opts) }));
  const results = await Promise.all(halves.filter((h) => h.hook).map((h) => resumeAll(h.hook!.access, h.store)));
  const errors = results.filter((r) => !r.ok).map((r) => r.error);
  return errors.length ? errors.join("; ") : undefined;
}

/**
 * The window opens: Postgres fenced, then Redis fenced, so that a job that still runs
 * fails on Postgres before its retry is kept in Redis. Where the pooler holds the app's
 * way to both stores, nothing of the app reaches either, and the two go side by side.
 */
async function fenceEveryWriter(run: StackRun): Promise<void> {
  const { redis, pooler, redisPooler } = run.opts;
  if (run.pg && redis && pooler && redisPooler) {
    run.markFenced();
    await inParallel(pgFence(run.pg), fenceRedis(run, redis));
    return;
  }
  if (run.pg) await pgFence(run.pg);
  run.markFenced();
  if (redis) await fenceRedis(run, redis);
}

async function fenceRedis(run: StackRun, redis: NonNullable<StackCutoverOptions["redis"]>): Promise<void> {
  // Always applied (idempotent): a resumed run makes sure the fence is still there.
  const fence = await fenceSource(redis);
  run.redisFence = fence;
  await run.step("redis-fence", async () => (fence?.pausedWrites
    ? `every client's writes held on the source (CLIENT PAUSE WRITE; the app's dynos are stopped)${fence.held?.length ? `: ${fence.held.length} other client(s) connected, their writes wait` : ""}`
    : fence
      ? `${fence.user} may no longer write on the source${fence.reapplied ? " (the fence was gone: a restart or failover forgot the ACL; fenced again)" : ""}`
      : "no fence"));
}

/** In parallel: Postgres catches up (nothing writable yet), Redis switches (no writer can reach it yet). */
async function catchUpEveryStore(run: StackRun): Promise<void> {
  const { redis } = run.opts;
  await inParallel(
    run.pg ? pgCatchUp(run.pg) : undefined,
    redis ? run.step("redis-switch", async () => {
      if (await promotedAlready(redis)) return "already promoted by an earlier run";
      run.switched = await switchTarget(redis, run.redisFollower);
      return redis.mode === "replicaof" ? "replica promoted (REPLICAOF NO ONE)" : `copy finished by ${CAUGHT_UP_BY[run.switched.catchUp?.by ?? "cutover"]}`;
    }) : undefined,
  );
}

const CAUGHT_UP_BY = {
  follower: "the running follower",
  "window-follower": "the follower this cutover started before the fence (the keys changed since)",
  cutover: "the cutover (no follower: every key's idle time read inside the window)",
} as const;

/** Postgres's point of no return, only once Redis switched too. */
async function takeOverPostgres(run: StackRun): Promise<void> {
  if (run.pg) await pgTakeOver(run.pg);
}

/** In parallel: both targets compared with their fenced sources. */
async function verifyEveryStore(run: StackRun): Promise<boolean> {
  const { redis } = run.opts;
  const [pgOk, redisOk] = await inParallel<[boolean, boolean]>(
    run.pg ? pgVerify(run.pg).then((v) => ((run.pgVerify = v), v.ok)) : true,
    redis ? verifyRedis(run, redis) : true,
  );
  return pgOk && redisOk;
}

async function verifyRedis(run: StackRun, redis: StackCutoverOptions["redis"] & object): Promise<boolean> {
  let ok = true;
  await run.step("redis-verify", async () => {
    const keys = run.redisFollower?.windowKeys();
    // A difference among the keys that changed is listed by a verify of every key.
    const changed = keys ? await verifyKeys(redis, keys) : undefined;
    run.redisVerify = changed?.ok ? changed : await verifyTarget(redis);
    ok = run.redisVerify.ok;
    if (!ok) throw new VerifyDiffers();
    return changed?.ok
      ? `target equals source (${changed.checked} key(s) changed since the early verify compared, and every database's key count)`
      : `target equals source (${run.redisVerify.checked} keys checked)`;
  }).catch((err) => {
    if (!(err instanceof VerifyDiffers)) throw err;
  });
  return ok;
}

class VerifyDiffers extends Error {}

/**
 * The window closes: Postgres activated, Redis marked primary, the pooler moved, Postgres
 * done (the last step in the window: a rerun sees a finished cutover). Where the pooler
 * puts the app on the target here, the full verify follows, against the target as opened.
 */
async function openEveryTarget(run: StackRun): Promise<void> {
  if (run.pg) await pgActivate(run.pg);
  // Side by side: Redis opened, Postgres's target held as it is now (nothing writes it
  // before the repoint). Should the Redis step fail, the snapshot is let go.
  const [opened, held] = await Promise.allSettled([openRedis(run), holdTargetAsOpened(run)]);
  const atOpen = held.status === "fulfilled" ? held.value : undefined;
  if (opened.status === "rejected" || held.status === "rejected") {
    await atOpen?.release();
    throw opened.status === "rejected" ? opened.reason : (held as PromiseRejectedResult).reason;
  }
  try {
    await inParallel(repointPoolers(run, "postgres"), repointPoolers(run, "redis"));
    if (run.pg) await pgDone(run.pg);
    else await run.step("done", async () => `write-unavailable ${run.writeUnavailableMs()} ms`);
    if (atOpen && run.pg) {
      await heldRequestsServed();
      await pgVerifyAtOpen(run.pg, atOpen);
    }
  } finally {
    await atOpen?.release();
  }
}

/**
 * How long the full verify of the target as opened waits after the resume. It reads every
 * row of both databases, and started at once it competed with the requests the pause held
 * for the first half second after it: staging's longest wait was 1.11 s, and 0.91 s with
 * this wait (docs/pooler.md, "Rehearsed"). Its snapshot is held, so nothing is lost by it.
 */
const VERIFY_AT_OPEN_AFTER_MS = 1_500;

const heldRequestsServed = () => new Promise((r) => setTimeout(r, VERIFY_AT_OPEN_AFTER_MS));

async function openRedis(run: StackRun): Promise<void> {
  const { redis } = run.opts;
  if (redis) await run.step("redis-open", async () => {
    const removed = await openTarget(redis);
    return `the target Redis is the primary${removed !== undefined ? ` (${removed} copy state key(s) removed)` : ""}`;
  });
}

/**
 * The pooler resumes the app on the target inside this command, so the full verify that
 * otherwise follows the cutover (`ferry pg verify`, before the app moves) would compare a
 * target the app already writes. Its snapshot is taken before the first replica moves.
 * None on a rerun past the repoint: the app has written since (pg verify says so).
 */
async function holdTargetAsOpened(run: StackRun): Promise<TargetAsOpened | undefined> {
  if (!run.pg || !run.opts.pooler || run.done("pooler-repoint")) return undefined;
  return pgAppMovesNow(run.pg);
}

/**
 * A step in the window failed. Before Postgres's point of no return every source is
 * given back (both fences lifted: nothing was written to a target); after it, both
 * stay fenced and a rerun finishes.
 */
async function giveBackEveryStore(run: StackRun, err: Error): Promise<StackCutoverResult> {
  const { redis } = run.opts;
  if (run.pg && pgTargetWritable(run.pg)) {
    return run.result({ ok: false, error: `${err.message}; Postgres's target is already the primary: rerun ferry cutover to finish` });
  }
  const pgBack = run.pg ? await pgGiveBack(run.pg, err, "ferry cutover") : undefined;
  if (redis) await liftFence(redis);
  const poolerStuck = await resumePoolersOnSource(run);
  const error = pgBack?.error ?? `${err.message}; the fence was lifted and the source is writable again`;
  return run.result({ ok: false, rolledBack: true, writeUnavailableMs: null, error: poolerStuck ? `${error}; ${poolerStuck}` : error });
}

/**
 * Verify differs: nothing is opened, every source stays fenced (a rollback per store gives
 * them back). The pooler replicas resume on the source: reads work, writes fail as fenced.
 */
async function verifyFailed(run: StackRun): Promise<StackCutoverResult> {
  const poolerStuck = await resumePoolersOnSource(run);
  const diffs = [
    run.pgVerify && !run.pgVerify.ok ? `Postgres: ${run.pgVerify.firstDifference}` : undefined,
    run.redisVerify && !run.redisVerify.ok ? `Redis: ${redisVerifySummary(run.redisVerify).firstDifference ?? `${run.redisVerify.differingCount} difference(s)`}` : undefined,
  ].filter(Boolean);
  return run.result({
    ok: false,
    error: `verify failed after the switch (${diffs.join("; ")}); the sources stay fenced and no target is released (ferry pg rollback and ferry redis rollback give the sources back)${poolerStuck ? `; ${poolerStuck}` : ""}`,
  });
}
