// The stage runner: stages run in order, each recorded with its name, start, end and
// outcome; once one fails the rest are recorded as skipped (their time is not spent),
// and the run goes straight to the checks and the report.
import { FerryEnv, FerryResult, failureReason, runFerry } from "./ferry";
import { StageRecord, StepRecord } from "./timeline";
import { redact } from "../migrations/cli/common";

export class StageFailed extends Error {}

export type Log = (line: string) => void;

export class StageContext {
  constructor(readonly record: StageRecord, private readonly log: Log) {}

  /** A timed step of this stage; a throw fails the step and the stage. */
  async step<T>(name: string, fn: () => Promise<T>, describe?: (v: T) => unknown): Promise<T> {
    const step: StepRecord = { name, startedAt: Date.now(), endedAt: 0, ok: false };
    this.record.steps.push(step);
    try {
      const v = await fn();
      step.ok = true;
      if (describe) step.result = describe(v);
      return v;
    } catch (err) {
      step.error = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw err;
    } finally {
      step.endedAt = Date.now();
      this.log(`  ${this.record.name} › ${name}: ${step.ok ? "ok" : `FAILED: ${step.error}`} (${step.endedAt - step.startedAt} ms)`);
    }
  }

  /** A step that runs one ferry command; exit 0 or the stage fails with ferry's reason. */
  async ferry(name: string, args: string[], env: FerryEnv, opts: { timeoutMs?: number; allowExit?: number[] } = {}): Promise<FerryResult> {
    const step: StepRecord = { name, startedAt: Date.now(), endedAt: 0, ok: false, command: undefined };
    this.record.steps.push(step);
    const r = await runFerry(args, env, opts.timeoutMs);
    step.endedAt = Date.now();
    step.command = r.command;
    step.exitCode = r.exitCode;
    // ferry redacts its own output; redacting again keeps a URL's password out of the report regardless.
    step.result = r.json ? JSON.parse(redact(JSON.stringify(r.json))) : undefined;
    step.ok = r.exitCode === 0 || (opts.allowExit ?? []).includes(r.exitCode);
    if (!step.ok) step.error = failureReason(args, r);
    this.log(`  ${this.record.name} › ${name}: ${r.command} → exit ${r.exitCode}${step.ok ? "" : `: ${step.error}`} (${r.durationMs} ms)`);
    if (!step.ok) throw new StageFailed(step.error);
    return r;
  }
}

export class StageRunner {
  readonly stages: StageRecord[] = [];
  private failed = false;

  constructor(private readonly log: Log) {}

  get anyFailed(): boolean {
    return this.failed;
  }

  /** `always`: run even after a failure (the checks must say where the writes are whatever happened). */
  async run(name: string, fn: (ctx: StageContext) => Promise<string | void>, opts: { always?: boolean } = {}): Promise<boolean> {
    const record: StageRecord = { name, startedAt: Date.now(), endedAt: 0, outcome: "skipped", steps: [] };
    this.stages.push(record);
    if (this.failed && !opts.always) {
      record.endedAt = record.startedAt;
      record.detail = "an earlier stage failed";
      return false;
    }
    this.log(`stage ${name}: started`);
    try {
      const detail = await fn(new StageContext(record, this.log));
      record.outcome = "ok";
      if (detail) record.detail = detail;
    } catch (err) {
      record.outcome = "failed";
      record.detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
      this.failed = true;
    }
    record.endedAt = Date.now();
    this.log(`stage ${name}: ${record.outcome} in ${record.endedAt - record.startedAt} ms${record.detail ? ` (${record.detail})` : ""}`);
    return record.outcome === "ok";
  }
}
