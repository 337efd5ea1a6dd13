// The gated switch from source to target. Steps, per strategy:
//   logical:  gate, fence, drain, sequences, detach, verify, done
//   physical: gate, fence, drain, promote, verify, activate, done
//   dump:     gate, fence, copy, verify, done
//   capture:  gate, fence, drain, sequences, verify, done
// gate: replication healthy and lag under the threshold, else stop with the source
//   untouched and writable.
// fence: every login role read-only on the source, sessions ended (fence.ts).
// drain: wait until the target has everything the source wrote before the fence
//   (capture: apply the rest of the change log; its gate catches up first: capture/cutover.ts).
// The write-unavailability window runs from the fence to `done`.
//
// Resumable: the fence record on the source, the progress record on the target and
// pg_is_in_recovery() say how far an earlier run got; a rerun continues from there.
// A failure after the fence but before the target can take writes unfences the
// source again (rollback), so the source is never left fenced by a failed run
// without the target being ready. At no point are both sides writable: the source is
// fenced before a standby is promoted or a subscription dropped, and a promoted
// standby keeps the fence it inherited from the source until verify passed.
import { Client } from "pg";
import { connect, withClient } from "../connection";
import { currentLsn, inRecovery } from "../catalog";
import { copyByDump, DumpProgress } from "../copy/dump";
import { userRelations } from "../copy-catalog";
import { FenceRecord, FenceRun, allowWrites, databasesToFence, fence, readFence, unfence, withWritable } from "./fence";
import { FenceOptions, fencePlanFor } from "./fence-plan";
import { stepCrashPoint } from "./crash-points";
import {
  confirmedUpTo, copyPrivileges, dropSubscription, logicalLag, notePrivilegesCopied, privilegesCopied, subscriptionExists, tableStates, unreplicatedTables,
} from "../replication/logical";
import { forgetPrimary, physicalLag, promote, waitForReplay } from "../replication/physical";
import { syncSequences } from "../sequences";
import { CutoverState, CutoverStep, copyFacts, loadCutover, loadRecord, saveCutover, saveRecord } from "../state";
import { Strategy, SUBSCRIPTION } from "../names";
import { pollUntil } from "../wait";
import { compareDatabases, FastVerifyPlan, planFastVerify, verifyDatabases } from "../verify/verify";
import { exportSnapshot, SharedSnapshot } from "../copy-snapshot";
import { RepairedReport, repairThenVerify, verifyAndRepair } from "../verify/repair";
import { copiedObjects, emptyTarget, notCopiedByFerry } from "../target";
import { CaptureApplier } from "../capture/cutover";
import { ChangedVerify } from "../capture/verify-changed";
import { FerryError } from "../../cli/common";

export interface CutoverOptions extends Omit<FenceOptions, "serverVersion"> {
  sourceUrl: string;
  targetUrl: string;
  strategy: Strategy;
  /** Gate: lag must be under this many bytes before the fence (default 200 kB). */
  maxLagBytes?: number;
  /** How long to wait for the gate, and for the drain after the fence (default 60 s each). */
  timeoutSeconds?: number;
  jobs?: number;
  onStep?: (step: CutoverStep) => void;
  /** dump: the copy's progress, the longest step of a dump cutover (bytes, as the trial copy reports it). */
  onCopyProgress?: (p: DumpProgress) => void;
  /**
   * capture, where the app keeps writing until the fence (`ferry pg cutover`): every row
   * verified before the fence and, inside the window, only what changed since
   * (capture/verify-changed.ts). Off where the app's writers are stopped before the cutover
   * starts (the program's `ferry cutover`): nothing changes before the fence then, and a
   * full verify would only lengthen the window the stopped app is already in.
   */
  verifyBeforeFence?: boolean;
}

export interface CutoverResult {
  ok: boolean;
  strategy: Strategy;
  /** From the fence to the target accepting writes; null when no fence happened. */
  writeUnavailableMs: number | null;
  lagBytesAtFence: number | null;
  steps: CutoverStep[];
  /** A rerun that picked up an interrupted cutover. */
  resumed: boolean;
  /** The source was unfenced again after a failure (it is writable). */
  rolledBack?: boolean;
  verify?: VerifySummary;
  error?: string;
}

export const DEFAULT_MAX_LAG_BYTES = 200 * 1024;

/** Raised when the gate is not met: nothing was changed. */
export class GateNotMet extends Error {}

/** One cutover's progress: what this process did, the record it keeps on the target, and the facts it started from. */
export class PgCutover {
  steps: CutoverStep[] = [];
  /** Key ranges for the in-window verify, read before the fence (absent on a resumed run). */
  verifyPlan?: FastVerifyPlan;
  /** Lag the gate measured (recorded with the fence). */
  gateLagBytes?: number;
  /** capture: the in-window verify of what changed since the full verify before the fence (absent on a resumed run). */
  changedVerify?: ChangedVerify;
  /** capture: the applier (its own target session, holding the apply lock), opened by the gate or, resumed, by the drain. */
  private applier?: Promise<CaptureApplier>;
  state: CutoverState;
  /** Persist the record on the target (a physical standby cannot be written before promotion). */
  readonly persist: (s: CutoverState) => Promise<void>;
  readonly persistUnlessStandby?: (s: CutoverState) => Promise<void>;
  constructor(
    readonly opts: CutoverOptions,
    readonly source: Client,
    readonly previous: CutoverState | null,
    /** physical: the target was already promoted when this run started. */
    readonly promoted: boolean,
    readonly existingFence: FenceRecord | null,
  ) {
    this.resumed = (previous?.steps.length ?? 0) > 0 || existingFence !== null || promoted;
    this.state = previous ?? { strategy: opts.strategy, steps: [] };
    if (existingFence) this.state.fence = existingFence;
    this.persist = (s) => this.onTarget((t) => saveCutover(t, s));
    this.persistUnlessStandby = opts.strategy === "physical" && !promoted ? undefined : this.persist;
  }

  get timeoutMs() {
    return (this.opts.timeoutSeconds ?? 60) * 1000;
  }

  /**
   * How the fence runs: who is left to the operator, how long it may wait for a lock, and
   * where its record goes before any role is touched. A source that cannot hold the
   * record (no superuser) has it kept on the target first; a physical standby cannot be
   * written, so there the fence is refused rather than started without a record.
   */
  fenceRun(): FenceRun {
    return {
      unfencedRoles: this.opts.unfencedRoles,
      providerSuperusers: this.opts.providerSuperusers,
      lockTimeoutMs: this.timeoutMs,
      onPlanned: async (record, keptOnSource) => {
        this.state.fence = record;
        if (keptOnSource) return;
        if (!this.persistUnlessStandby) {
          throw new Error("the fence record cannot be kept: the source refuses the ferry.fence setting (ferry's role is not a superuser) and a physical standby cannot be written before promotion; run the cutover as a superuser of the source");
        }
        await this.persistUnlessStandby(this.state);
      },
    };
  }

  /**
   * One session on the target for the record and the target's steps in the window: a
   * session per step cost a TLS handshake and an authentication each (~25 ms on
   * loopback, more across a network) while writes wait. Users take turns: the record
   * is saved in a transaction, and the Redis side saves into it while Postgres catches
   * up. A failed use closes the session; the next use opens a new one. Every use is
   * idempotent (a step, or saving the record), so a use that finds a kept session dead
   * (ended by the server while idle) runs once more on a new one.
   */
  onTarget<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const attempt = async (): Promise<T> => {
      const reused = this.targetSession !== undefined;
      try {
        this.targetSession ??= openWritable(this.opts.targetUrl);
        return await fn(await this.targetSession);
      } catch (err) {
        await this.closeTarget();
        if (reused && connectionLost(err)) return attempt();
        throw err;
      }
    };
    const mine = this.turn.then(attempt);
    this.turn = mine.catch(() => undefined);
    return mine;
  }

  /** After the last step (or a failure): the shared target session is closed, and the applier's. */
  async close(): Promise<void> {
    await this.turn;
    await this.closeTarget();
    await this.applier?.then((a) => a.close(), () => undefined);
    await this.changedVerify?.close();
  }

  /** capture: the applier, opened once (waiting up to the timeout for another applier's lock). */
  captureApplier(): Promise<CaptureApplier> {
    this.applier ??= CaptureApplier.open(this.source, this.opts.targetUrl, this.timeoutMs);
    return this.applier;
  }

  private targetSession?: Promise<Client>;
  private turn: Promise<unknown> = Promise.resolve();

  private async closeTarget(): Promise<void> {
    const session = this.targetSession;
    this.targetSession = undefined;
    await session?.then((c) => c.end()).catch(() => undefined);
  }

  /** A rerun that picked up an interrupted cutover (decided at the start: the record's steps grow as this run goes). */
  readonly resumed: boolean;

  done(name: string): boolean {
    return this.state.steps.some((s) => s.name === name);
  }

  /**
   * Run a step once: skipped when an earlier run recorded it, recorded (if possible) when
   * done. Crash points (crash-points.ts): the action done, its record not saved yet (only
   * where one is saved), and the step over.
   */
  async step(name: string, fn: () => Promise<string | void>, persist?: (s: CutoverState) => Promise<void>): Promise<void> {
    if (this.done(name)) return;
    const t0 = Date.now();
    const detail = (await fn()) ?? undefined;
    if (persist) stepCrashPoint(name, "before-record");
    this.record({ name, at: t0, ms: Date.now() - t0, ...(detail ? { detail } : {}) });
    if (persist) await persist(this.state);
    this.opts.onStep?.(this.state.steps[this.state.steps.length - 1]);
    stepCrashPoint(name, "after-step");
  }

  /** Note a step as done (in this run's list and the record). */
  record(step: CutoverStep): void {
    this.steps.push(step);
    this.state.steps.push(step);
  }

  result(extra: Partial<CutoverResult> = {}): CutoverResult {
    return {
      ok: true,
      strategy: this.opts.strategy,
      writeUnavailableMs: this.state.writeUnavailableMs ?? (this.state.fence ? Date.now() - this.state.fence.at : null),
      lagBytesAtFence: this.state.fence?.lagBytes ?? null,
      steps: this.steps,
      resumed: this.resumed,
      ...extra,
    };
  }
}

/** The session itself is gone (the server ended it, the network dropped it), as opposed to a statement failing. */
function connectionLost(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === "57P01" || e.code === "ECONNRESET" || e.code === "EPIPE" || /Connection terminated|not queryable/i.test(e.message ?? "");
}

/** A session that may write (allowWrites), kept open: a dropped connection is only noted, the next query fails. */
async function openWritable(url: string): Promise<Client> {
  const c = await connect(url);
  c.on("error", () => undefined);
  try {
    await allowWrites(c);
  } catch (err) {
    await c.end().catch(() => undefined);
    throw err;
  }
  return c;
}

/** The source's fence record, or the copy kept on the target (non-superuser sources). */
async function knownFence(source: Client, state: CutoverState | null): Promise<FenceRecord | null> {
  return (await readFence(source)) ?? state?.fence ?? null;
}

/** Lag in bytes right now, and whether replication is in a state the gate accepts. */
async function measureLag(opts: CutoverOptions, source: Client): Promise<{ bytes: number; problem?: string }> {
  if (opts.strategy === "dump") {
    // No replication to measure: the gate is that the target answers before the source is fenced.
    await withClient(opts.targetUrl, (t) => t.query("SELECT 1"));
    return { bytes: 0 };
  }
  if (opts.strategy === "physical") {
    return withClient(opts.targetUrl, async (standby) => {
      if (!(await inRecovery(standby))) return { bytes: 0, problem: "the target is not a standby" };
      const lag = await physicalLag(source, standby);
      return lag.state === "streaming" ? { bytes: lag.bytes } : { bytes: lag.bytes, problem: `the standby is ${lag.state ?? "not connected to the source"}` };
    });
  }
  const [states, replicated] = await withClient(opts.targetUrl, (t) => Promise.all([tableStates(t), loadRecord<{ postData?: boolean }>(t, "replicate:logical")]));
  if (!states.length) return { bytes: 0, problem: "no subscription on the target: run ferry pg replicate --strategy logical" };
  if (!replicated?.postData) return { bytes: 0, problem: "ferry pg replicate has not finished (post-data schema not applied yet)" };
  const notReady = states.filter((s) => s.state !== "ready");
  if (notReady.length) return { bytes: 0, problem: `${notReady.length} table(s) still in initial sync (${notReady.slice(0, 3).map((s) => `${s.table}: ${s.state}`).join(", ")})` };
  const lag = await logicalLag(source);
  if (!lag) return { bytes: 0, problem: "the subscription's slot is missing on the source" };
  return lag.active ? { bytes: lag.bytes } : { bytes: lag.bytes, problem: "the subscription is not streaming" };
}

/** Wait (up to the timeout) for healthy replication with lag under the threshold. */
async function gate(opts: CutoverOptions, source: Client, timeoutMs: number): Promise<number> {
  const max = opts.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES;
  let last: { bytes: number; problem?: string } = { bytes: 0 };
  try {
    await pollUntil(async () => {
      // An unreachable target is a gate problem like any other: keep waiting, then report it.
      last = await measureLag(opts, source).catch((err: Error) => ({ bytes: 0, problem: `target unreachable: ${err.message.split("\n")[0]}` }));
      return !last.problem && last.bytes <= max;
    }, timeoutMs, () => "", 100);
  } catch {
    throw new GateNotMet(`gate not met after ${timeoutMs / 1000} s: ${last.problem ?? `lag ${last.bytes} bytes > --max-lag-bytes ${max}`}; the source was not touched`);
  }
  if (opts.strategy === "logical") {
    const missing = await withClient(opts.targetUrl, (t) => unreplicatedTables(source, t));
    if (missing.length) throw new GateNotMet(`gate not met: ${notReplicated(missing)}; the source was not touched`);
  }
  return last.bytes;
}

/**
 * A table created on the source after replicate is in no publication or subscription:
 * logical replication would leave it behind (DDL is not replicated), and the verify after
 * the subscription is dropped would find it missing when there is no way back.
 */
const notReplicated = (missing: string[]) =>
  `${missing.length} table(s) on the source are not replicated (created after ferry pg replicate?): ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}; rerun ferry pg replicate --strategy logical, which creates them on the target and subscribes to them`;

/**
 * The apply worker commits asynchronously by default, and reports a position to the
 * source only once its commits are flushed: the drain would wait for the target's
 * WAL writer. Flushing each applied commit makes the confirmation prompt. The worker
 * picks this up without a restart; it costs a local flush per transaction, only
 * for the last seconds of replication.
 */
async function flushEachApply(target: Client): Promise<void> {
  if (await subscriptionExists(target)) await target.query(`ALTER SUBSCRIPTION ${SUBSCRIPTION} SET (synchronous_commit = 'local')`);
}

/** Wait until the target has everything the source wrote up to now (after the fence). */
async function drain(opts: CutoverOptions, source: Client, timeoutMs: number): Promise<string> {
  const lsn = await currentLsn(source);
  // WAL is only streamed once flushed, and asynchronous commits (the app's, perhaps)
  // wait for the WAL writer. A synchronously committed transaction of our own that
  // writes WAL (a temp table created and dropped) flushes everything up to its commit
  // record, which lies beyond `lsn`: no waiting on the WAL writer's timer.
  await source.query("SET synchronous_commit = local");
  await source.query("BEGIN; CREATE TEMP TABLE ferry_wal_flush (x int) ON COMMIT DROP; COMMIT");
  if (opts.strategy === "physical") {
    await waitForReplay(opts.targetUrl, lsn, timeoutMs);
  } else {
    await pollUntil(() => confirmedUpTo(source, lsn), timeoutMs, () => `the target did not confirm WAL up to ${lsn} within ${timeoutMs / 1000} s`, 5);
  }
  return `target caught up to ${lsn}`;
}

export type VerifySummary = { ok: boolean; durationMs: number; firstDifference?: string; repaired?: string[] };

export function verifySummary(r: RepairedReport): VerifySummary {
  return { ok: r.ok, durationMs: r.durationMs, ...(r.ok ? {} : { firstDifference: r.firstDifference ?? "difference" }), ...(r.repaired?.length ? { repaired: r.repaired } : {}) };
}

export async function cutover(opts: CutoverOptions): Promise<CutoverResult> {
  return withWritable(opts.sourceUrl, async (source) => {
    const run = await beginPgCutover(opts, source);
    try {
      return await runCutover(run);
    } finally {
      await run.close();
    }
  });
}

/**
 * Where an earlier run got: the record on the target (none on a standby), whether a
 * physical target is already promoted, and the fence on the source (or its copy in the
 * record). `source` must be a session that may write (allowWrites).
 */
export async function beginPgCutover(opts: CutoverOptions, source: Client): Promise<PgCutover> {
  const { state, promoted } = await withWritable(opts.targetUrl, async (t) => {
    const standby = opts.strategy === "physical" && (await inRecovery(t));
    return { state: standby ? null : await loadCutover(t, opts.strategy), promoted: opts.strategy === "physical" && !standby };
  });
  return new PgCutover(opts, source, state, promoted, await knownFence(source, state));
}

/** The per-store cutover: the steps below, in order; a failure after the fence gives the source back while it can. */
async function runCutover(run: PgCutover): Promise<CutoverResult> {
  if (run.previous?.done) return run.result({ steps: run.previous.steps });
  if (pgNeedsGate(run)) await pgGate(run);
  try {
    // Inside: a fence that fails part-way is given back like any later step.
    await pgFence(run);
    await pgCatchUp(run);
    await pgTakeOver(run);
  } catch (err) {
    return pgGiveBack(run, err as Error);
  }
  const verified = await pgVerify(run);
  if (!verified.ok) return run.result({ ok: false, verify: verified, error: pgVerifyFailed(verified) });
  await pgActivate(run);
  await pgDone(run);
  return run.result({ verify: verified });
}

export const pgVerifyFailed = (v: VerifySummary) =>
  `verify failed after cutover: ${v.firstDifference}; the source stays fenced, the target is not released (ferry pg rollback unfences the source)`;

/** A fresh cutover (nothing fenced, nothing promoted) passes the gate first; a resumed one does not. */
export const pgNeedsGate = (run: PgCutover) => !run.state.fence && !run.promoted;

/**
 * Outside the window: the source's key ranges for the fast verify (a scan of a
 * composite key's index), so the window only hashes chunks, a warm-up, then the gate
 * (healthy replication, lag under the threshold). Read-only; GateNotMet when not met.
 */
export async function pgGate(run: PgCutover): Promise<number> {
  const { opts, source } = run;
  if (await injectedFailure(run, "pg-gate")) throw new GateNotMet(`gate not met: ${INJECTED}; the source was not touched`);
  await refuseUnfenceableWriters(run);
  await refuseForeignTargetObjects(run);
  const { bytes: lagBytes, detail } = opts.strategy === "capture" ? await captureGate(run) : { bytes: await gate(opts, source, run.timeoutMs), detail: await planVerify(run) };
  await copyPrivilegesIfMissing(run);
  if (opts.strategy === "logical") await run.onTarget(flushEachApply);
  run.steps.push({ name: "gate", ms: 0, detail: `lag ${lagBytes} bytes${detail}` });
  run.gateLagBytes = lagBytes;
  stepCrashPoint("gate", "after-step");
  return lagBytes;
}

/** The fast verify's key ranges and its warm-up, before the fence (every strategy but capture); the gate's detail. */
async function planVerify(run: PgCutover): Promise<string> {
  run.verifyPlan = await planFastVerify(run.opts.sourceUrl, FAST_VERIFY_CHUNK_ROWS, run.opts.jobs);
  const warmMs = await warmFastVerify(run);
  return `; before the fence: verify key ranges read in ${run.verifyPlan.durationMs} ms, verify warm-up ${warmMs === null ? "skipped" : `${warmMs} ms`}`;
}

/**
 * capture: nothing applied the log since replicate returned, so catch up here, outside
 * the window, until the lag is under the threshold (capture/cutover.ts); then, with
 * verifyBeforeFence, the full verify and a second catch-up (capture/verify-changed.ts),
 * so the window verifies only what changed since; without it, the fast verify's plan. A capture not ready (not installed, copy unfinished, DDL since
 * install, another applier holding the lock), not caught up in time, or whose tables
 * differ in schema from the target's is a gate not met: the source was not touched.
 */
async function captureGate(run: PgCutover): Promise<{ bytes: number; detail: string }> {
  try {
    const applier = await run.captureApplier();
    const maxLagBytes = run.opts.maxLagBytes ?? DEFAULT_MAX_LAG_BYTES;
    const c = await applier.catchUp(run.source, maxLagBytes, run.timeoutMs);
    const caughtUp = `caught up by ${c.changes} change(s) in ${c.batches} batch(es)`;
    if (!run.opts.verifyBeforeFence) return { bytes: c.lag.bytes, detail: ` (${c.lag.rows} row(s), ${c.lag.seconds.toFixed(2)} s; ${caughtUp})${await planVerify(run)}` };
    const prepared = await ChangedVerify.prepare(run.opts, applier, () => applier.applyCommitted(run.source));
    run.changedVerify = prepared.verify;
    // What the app wrote during the second catch-up and the comparison after it.
    const lag = (await applier.catchUp(run.source, maxLagBytes, run.timeoutMs)).lag;
    return { bytes: lag.bytes, detail: ` (${lag.rows} row(s), ${lag.seconds.toFixed(2)} s; ${caughtUp}); before the fence: ${prepared.detail}` };
  } catch (err) {
    if (err instanceof FerryError) throw new GateNotMet(`gate not met: ${err.message}; the source was not touched`);
    throw err;
  }
}

/** Before anything changes: every role that can write must be within the fence's reach (fence-plan.ts). */
async function refuseUnfenceableWriters(run: PgCutover): Promise<void> {
  const plan = await fencePlanFor(run.source, await databasesToFence(run.source, run.opts.strategy === "physical"), run.opts);
  if (plan.problem) throw new GateNotMet(`${plan.problem}; the source was not touched`);
}

/**
 * dump: the copy in the window empties the target of an earlier copy (a trial, or one a
 * failed cutover gave back) and refuses to drop what ferry did not copy: found here,
 * before the fence, instead of in the window.
 */
async function refuseForeignTargetObjects(run: PgCutover): Promise<void> {
  if (run.opts.strategy !== "dump") return;
  const earlierCopy = run.state.copyStarted || run.state.trialCopy;
  const foreign = await run.onTarget(async (t) => (earlierCopy ? notCopiedByFerry(t, run.source, run.state.copied) : (await userRelations(t)).examples));
  if (foreign.length) {
    throw new GateNotMet(`the target holds what ferry did not copy (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}): drop or move it, or give the copy an empty database; the source was not touched`);
  }
}

/**
 * logical: a target replicated before replicate copied privileges gets them now, before
 * the fence (verify compares privileges, and would otherwise fail after the detach).
 */
async function copyPrivilegesIfMissing(run: PgCutover): Promise<void> {
  if (run.opts.strategy !== "logical" || (await run.onTarget(privilegesCopied))) return;
  await run.onTarget(async (t) => {
    await copyPrivileges(run.opts.sourceUrl, t);
    await notePrivilegesCopied(t);
  });
}

/** Every login role read-only, or (resumed) the fence an earlier run began made complete. */
export async function pgFence(run: PgCutover): Promise<void> {
  const { opts, source } = run;
  const physical = opts.strategy === "physical";
  if (!run.state.fence && !run.promoted) {
    await run.step("fence", async () => {
      const f = await fence(source, physical, run.gateLagBytes ?? 0, null, run.fenceRun());
      run.state.fence = f.record;
      return `${f.record.roles.length} role(s) read-only, ${f.terminated} session(s) ended${f.record.unfenced.length ? `; left to the operator (writers stopped): ${f.record.unfenced.join(", ")}` : ""}`;
    }, run.persistUnlessStandby);
  } else if (!run.promoted) {
    // Resumed after the fence: make sure it is complete (a crash may have cut it short).
    run.state.fence = (await fence(source, physical, run.state.fence?.lagBytes ?? 0, run.state.fence ?? null, run.fenceRun())).record;
  } else if (!run.state.fence) {
    // The standby was promoted but the source is not fenced (promoted by hand?): two
    // writable primaries. Fence the source now, before anything else.
    run.state.fence = (await fence(source, true, 0, null, run.fenceRun())).record;
  }
}

/** After the fence, the target gets everything the source has (logical: and its sequences); the target is not writable yet. */
export async function pgCatchUp(run: PgCutover): Promise<void> {
  const { opts, source, persist } = run;
  if (opts.strategy === "logical") {
    // Again inside the window: a table created between the gate and the fence would slip past it.
    if (!run.done("drain")) {
      const missing = await run.onTarget((t) => unreplicatedTables(source, t));
      if (missing.length) throw new Error(notReplicated(missing));
    }
    const subscribed = await run.onTarget(subscriptionExists);
    if (subscribed) await run.step("drain", () => drain(opts, source, run.timeoutMs), persist);
    await sequencesStep(run);
  } else if (opts.strategy === "capture") {
    await run.step("drain", async () => (await run.captureApplier()).applyRest(source, run.timeoutMs), persist);
    await sequencesStep(run);
  } else if (opts.strategy === "physical") {
    if (!run.promoted) await run.step("drain", () => drain(opts, source, run.timeoutMs));
  } else {
    await run.step("copy", async () => {
      if (run.state.copyStarted || run.state.trialCopy) await run.onTarget((t) => emptyTarget(t, source, run.state.copied));
      run.state.copyStarted = true;
      await persist(run.state);
      const copied = await copyByDump({
        sourceUrl: opts.sourceUrl, targetUrl: opts.targetUrl, jobs: opts.jobs, onProgress: opts.onCopyProgress,
        onSchemaRestored: async () => {
          run.state.copied = await run.onTarget(copiedObjects);
          await persist(run.state);
        },
      });
      return `${copied.tables} table(s), ${copied.rows} row(s) in ${copied.durationMs} ms`;
    }, persist);
  }
}

/** Triggers and logical replication carry no sequence: each is set on the target (sequences.ts). */
async function sequencesStep(run: PgCutover): Promise<void> {
  await run.step("sequences", () => run.onTarget(async (t) => `${(await syncSequences(run.source, t)).length} sequence(s) set`), run.persist);
}

/** The point of no return: the subscription dropped, or the standby promoted (a dump or capture target has nothing to let go: done is the point). */
export async function pgTakeOver(run: PgCutover): Promise<void> {
  const { opts, persist } = run;
  if (opts.strategy === "logical") {
    await run.step("detach", () => run.onTarget(async (t) => ((await dropSubscription(t)) ? "subscription and its slot dropped" : "already detached")), persist);
  } else if (opts.strategy === "physical" && !run.promoted) {
    await run.step("promote", async () => {
      await promote(opts.targetUrl);
      return `pg_promote(wait => true) returned; ${await run.onTarget(forgetPrimary)}`;
    }, persist);
  } else if (opts.strategy === "physical") {
    // Promoted by an earlier run, which may have died before the password was removed.
    await run.onTarget(forgetPrimary);
  }
}

/** physical: the fence the promoted standby inherited from the source is lifted (verify passed). */
export async function pgActivate(run: PgCutover): Promise<void> {
  if (run.opts.strategy !== "physical") return;
  // On the kept session: lifting the fence ends the fenced roles' other sessions, ferry's own included.
  await run.step("activate", () => run.onTarget(async (t) => {
    const undone = await unfence(t, run.state.fence ?? null);
    return undone ? "the fence inherited from the source is lifted on the target" : "nothing to lift";
  }), run.persist);
}

/**
 * Just before the app can write the target (the stack cutover repoints its pooler there,
 * docs/pooler.md). First the target's snapshot: its data exactly as the cutover opened
 * it, held for the full verify after the window (pgVerifyAtOpen). Then, recorded before
 * the first replica moves, that the app is on the target: from then on no verify repairs
 * it from the source, even after a crash (cutover/verified.ts).
 */
export async function pgAppMovesNow(run: PgCutover): Promise<TargetAsOpened> {
  const at = new Date().toISOString();
  const snapshot = await exportSnapshot(run.opts.targetUrl, "ferry-verify-at-open");
  try {
    run.state.appOnTarget = true;
    await run.persist(run.state);
    return { ...snapshot, at };
  } catch (err) {
    await snapshot.release();
    throw err;
  }
}

/** The target's snapshot from just before the app could write it, and when it was taken (ISO 8601). */
export type TargetAsOpened = SharedSnapshot & { at: string };

/**
 * After the window: the fenced source against the target as it was opened, every row
 * compared (the in-window verify samples). Recorded for `ferry pg verify`; never
 * repaired, since the app writes the target now.
 */
export async function pgVerifyAtOpen(run: PgCutover, atOpen: TargetAsOpened): Promise<void> {
  await run.step("verify-at-open", async () => {
    const { report } = await compareDatabases({ sourceUrl: run.opts.sourceUrl, targetUrl: run.opts.targetUrl, jobs: run.opts.jobs, targetSnapshot: atOpen });
    run.state.verifiedAtOpen = { at: atOpen.at, report };
    if (report.ok) run.state.verified = true;
    return report.ok
      ? `the target as opened equals the fenced source (${report.tables.length} tables, every row)`
      : `the target as opened differs from the fenced source: ${report.firstDifference}`;
  }, run.persist);
}

/** The target is the primary (a rollback refuses from here on); the window ends. */
export async function pgDone(run: PgCutover, extra: Partial<CutoverState> = {}): Promise<void> {
  run.state.writeUnavailableMs = run.state.fence ? Date.now() - run.state.fence.at : undefined;
  Object.assign(run.state, extra);
  run.state.done = true;
  await run.step("done", async () => `write-unavailable ${run.state.writeUnavailableMs} ms`, run.persist);
}

/** Whether the target may already have been made writable (no rollback past this point). */
export function pgTargetWritable(run: PgCutover): boolean {
  return run.opts.strategy === "physical" ? run.promoted || run.done("promote") : run.opts.strategy === "logical" ? run.done("detach") : false;
}

/**
 * Rows per sampled chunk in the in-window verify: a few chunks of this size, and the
 * newest rows, are checksummed per table; small chunks keep the window short.
 */
const FAST_VERIFY_CHUNK_ROWS = 5_000;

/**
 * In the window, tables up to this size (heap + TOAST) are counted with count(*);
 * bigger keyed tables are compared by their first chunk, their newest rows and
 * sampled chunks only (a full count of both sides is what made the window grow with
 * the data). Tables without a primary key are always counted. The full `ferry pg
 * verify` (run by the Pulumi stage before DNS moves) counts and hashes everything.
 */
const FAST_VERIFY_COUNT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Fast verify inside the window: the target is released only when it matches the fenced
 * source. Where it differs, the differing tables are compared in full, their differing
 * ranges copied again from the fenced source (verify/repair.ts: nothing else has written
 * the target, which is not released yet) and the verify runs again; the step says so.
 */
export async function pgVerify(run: PgCutover): Promise<VerifySummary> {
  const persist = run.persist;
  let summary: VerifySummary = { ok: true, durationMs: 0 };
  try {
    await run.step("verify", async () => {
      const checked = run.changedVerify ? await verifyChanged(run, run.changedVerify) : await verifyFast(run);
      summary = checked.summary;
      if (summary.ok && (await injectedFailure(run, "pg-verify"))) summary = { ok: false, durationMs: summary.durationMs, firstDifference: INJECTED };
      if (!summary.ok) throw new VerifyFailed(summary.firstDifference ?? "difference");
      return checked.detail;
    }, persist);
  } catch (err) {
    if (!(err instanceof VerifyFailed)) throw err;
  }
  return summary;
}

interface WindowVerified {
  summary: VerifySummary;
  detail: string;
}

/** The fast verify (sampled ranges, small tables counted), repaired from the fenced source where it differs. */
async function verifyFast(run: PgCutover): Promise<WindowVerified> {
  const report = await verifyAndRepair({
    sourceUrl: run.opts.sourceUrl, targetUrl: run.opts.targetUrl, jobs: run.opts.jobs, fast: true, chunkRows: FAST_VERIFY_CHUNK_ROWS,
    // A resumed run has no plan: it counts every table and splits keys in the window.
    ...(run.verifyPlan ? { plan: run.verifyPlan, countMaxBytes: FAST_VERIFY_COUNT_MAX_BYTES } : {}),
  });
  return {
    summary: verifySummary(report),
    detail: report.repaired?.length ? `fast verify green after repairing from the fenced source: ${report.repaired.join("; ")}` : "fast verify green",
  };
}

/**
 * capture: the rows that changed since the full verify before the fence, the sequences and
 * the small tables' counts (capture/verify-changed.ts). Where they differ, the differing
 * tables are compared in full, repaired from the fenced source and compared again: slow,
 * but only when something differs, and the target is released only when they are equal.
 */
async function verifyChanged(run: PgCutover, changed: ChangedVerify): Promise<WindowVerified> {
  const started = Date.now();
  const check = await changed.inWindow(run.source);
  if (check.ok) return { summary: { ok: true, durationMs: Date.now() - started }, detail: `changed rows equal: ${check.detail}` };
  const opts = { sourceUrl: run.opts.sourceUrl, targetUrl: run.opts.targetUrl, jobs: run.opts.jobs, only: check.tables };
  const report = await repairThenVerify(opts, await compareDatabases(opts));
  const summary = verifySummary(report);
  return {
    summary: summary.ok ? { ...summary, durationMs: Date.now() - started } : { ...summary, firstDifference: `${check.detail}; compared in full: ${summary.firstDifference}` },
    detail: `changed rows differed (${check.detail}); ${report.repaired?.length ? `repaired from the fenced source: ${report.repaired.join("; ")}` : "equal when compared in full"}`,
  };
}

/** What an injected failure says (test-only: FERRY_INJECT_FAILURE, see injectedFailure). */
const INJECTED = "injected failure (FERRY_INJECT_FAILURE, rehearsal only)";
const INJECTED_KEY = "rehearsal:injected";

/**
 * Test-only, for the rehearsal's "a cutover fails once, then is retried" and "rollback
 * after a failed cutover": with FERRY_REHEARSAL=1, FERRY_INJECT_FAILURE=pg-gate (or
 * pg-verify, or both, comma-separated) makes the gate (nothing changes) or the in-window
 * verify (the source stays fenced, the target is not released) fail once per target:
 * the first time is noted in the target's record, and every later run passes. Ignored
 * without FERRY_REHEARSAL=1, and where the target cannot be written yet (a physical
 * standby's gate).
 */
async function injectedFailure(run: PgCutover, point: "pg-gate" | "pg-verify"): Promise<boolean> {
  if (process.env.FERRY_REHEARSAL !== "1" || !(process.env.FERRY_INJECT_FAILURE ?? "").split(",").includes(point)) return false;
  if (run.opts.strategy === "physical" && point === "pg-gate") return false;
  return run.onTarget(async (t) => {
    const done = (await loadRecord<string[]>(t, INJECTED_KEY)) ?? [];
    if (done.includes(point)) return false;
    await saveRecord(t, INJECTED_KEY, [...done, point]);
    return true;
  });
}

class VerifyFailed extends Error {}

/**
 * Before the fence: the same fast verify once, its result ignored (the sides are not at
 * the same point yet). It reads what the in-window verify reads (the key-less tables
 * whole, the first and newest ranges) so both servers have those pages cached and, on
 * a freshly synced logical target, their hint bits set: the window then pays for
 * hashing, not for disk reads. Read-only on both sides; a failure is not a gate problem
 * (the gate checks the target), so it is only skipped. The dump target is emptied and
 * copied again in the window: nothing to warm there.
 */
async function warmFastVerify(run: PgCutover): Promise<number | null> {
  if (run.opts.strategy === "dump" || !run.verifyPlan) return null;
  const t0 = Date.now();
  const ok = await verifyDatabases({
    sourceUrl: run.opts.sourceUrl, targetUrl: run.opts.targetUrl, jobs: run.opts.jobs, fast: true, chunkRows: FAST_VERIFY_CHUNK_ROWS,
    plan: run.verifyPlan, countMaxBytes: FAST_VERIFY_COUNT_MAX_BYTES,
  }).then(() => true, () => false);
  return ok ? Date.now() - t0 : null;
}

/**
 * A step after the fence failed. While the target cannot take writes yet (no
 * promotion, subscription still there or copy unfinished), give the source back:
 * unfence it. Otherwise keep it fenced and say how to finish (`rerun`: the command).
 */
export async function pgGiveBack(run: PgCutover, err: Error, rerun = "ferry pg cutover"): Promise<CutoverResult> {
  const { opts } = run;
  if (pgTargetWritable(run)) {
    return run.result({ ok: false, error: `${err.message}; the target is already the primary: rerun ${rerun} to finish` });
  }
  await unfence(run.source, run.state.fence ?? null);
  // What a dump copy left on the target stays known: the retry empties it (target.ts).
  run.state = { strategy: opts.strategy, steps: [], ...copyFacts(run.state) };
  if (opts.strategy !== "physical") await run.persist(run.state);
  return run.result({ ok: false, rolledBack: true, writeUnavailableMs: null, error: `${err.message}; the fence was lifted and the source is writable again` });
}
