// The capture strategy's part of the cutover (../cutover/cutover.ts runs the steps).
// Nothing applies the change log between `ferry pg replicate --strategy capture
// --until-caught-up` and the cutover, so the lag may be whatever the app wrote since:
// the cutover catches up first, outside the window, until what is left is under the
// gate's threshold (catchUp). Behind the fence it applies the rest until no committed
// change is left (applyRest); the window then costs one small batch, whatever the
// database's size. One applier at a time: the cutover holds the apply lock on its own
// target session from the catch-up to the end of the apply.
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { connect } from "../connection";
import { listTables, TableInfo } from "../copy-catalog";
import { applyWithLock, captureLag, CaptureLag, prepareApplySession, requireSameSchema, Touched, waitForApplierLock } from "./apply";
import { captureInstalled, capturedTables } from "./install";
import { CaptureProgress, loadCaptureProgress } from "./record";

/** The capture's progress, refused in one line unless the copy finished and the schema is the one captured. */
async function readyProgress(source: Client, target: Client): Promise<CaptureProgress> {
  if (!(await captureInstalled(source))) {
    throw new FerryError("the capture triggers are not on the source: run ferry pg replicate --strategy capture first", 1);
  }
  const progress = await loadCaptureProgress(target);
  if (!progress?.schemaHash || !progress.copyDone || !progress.snapshot) {
    throw new FerryError("the capture's initial copy has not finished: run ferry pg replicate --strategy capture --until-caught-up first", 1);
  }
  await requireSameSchema(source, progress);
  return progress;
}

/** What the catch-up before the fence did, and the lag it left for the window. */
export interface CatchUp {
  lag: CaptureLag;
  changes: number;
  batches: number;
}

export class CaptureApplier {
  /** Told what each applied page wrote, once the cutover's verify starts watching (watch). */
  private watcher?: (t: Touched) => void;

  private constructor(
    /** ferry's own target session: holds the apply lock, prepared to apply (prepareApplySession). */
    private readonly target: Client,
    private readonly tables: Map<number, TableInfo>,
    private progress: CaptureProgress,
  ) {}

  /** The captured tables (leaves), by oid on the source. */
  get capturedTables(): ReadonlyMap<number, TableInfo> {
    return this.tables;
  }

  /** From now on, every page this applier applies is told to `watcher`. */
  watch(watcher: (t: Touched) => void): void {
    this.watcher = watcher;
  }

  /**
   * Check the capture is ready (installed, copied, same schema), then take the apply lock
   * on a session of its own, waiting up to `lockTimeoutMs` for another applier to let go.
   * `source` is the cutover's session on the source.
   */
  static async open(source: Client, targetUrl: string, lockTimeoutMs: number): Promise<CaptureApplier> {
    const target = await connect(targetUrl);
    target.on("error", () => undefined);
    try {
      const progress = await readyProgress(source, target);
      const tables = capturedTables(await listTables(source));
      await waitForApplierLock(target, lockTimeoutMs);
      await prepareApplySession(target);
      // The record as it is now that no one else applies.
      return new CaptureApplier(target, new Map(tables.map((t) => [t.oid, t])), (await loadCaptureProgress(target)) ?? progress);
    } catch (err) {
      await target.end().catch(() => undefined);
      throw err;
    }
  }

  /** Apply one batch: every change committed on the source up to now. Returns the changes applied. */
  private async applyOnce(source: Client): Promise<number> {
    let changes = 0;
    this.progress = await applyWithLock(source, this.target, this.tables, this.progress, { untilCaughtUp: true, onBatch: (b) => (changes = b.changes), onTouched: this.watcher });
    return changes;
  }

  /** One batch now: every change committed on the source up to now. Returns the changes applied. */
  applyCommitted(source: Client): Promise<number> {
    return this.applyOnce(source);
  }

  private lag(source: Client): Promise<CaptureLag> {
    return captureLag(source, this.progress.snapshot!);
  }

  /**
   * Before the fence: apply batches until the lag is at most `maxLagBytes` (the log rows'
   * size), so the window applies one small batch; a lag already under it is left for the
   * window. Gives up after `timeoutMs` (the app writes faster than ferry applies):
   * nothing was fenced.
   */
  async catchUp(source: Client, maxLagBytes: number, timeoutMs: number): Promise<CatchUp> {
    const deadline = Date.now() + timeoutMs;
    const done = { changes: 0, batches: 0 };
    for (;;) {
      const lag = await this.lag(source);
      if (lag.bytes <= maxLagBytes) return { lag, ...done };
      if (Date.now() > deadline) {
        throw new FerryError(`the capture lag is still ${lag.rows} row(s), ${lag.bytes} bytes after ${Math.round(timeoutMs / 1000)} s of catching up (${done.changes} change(s) applied): over --max-lag-bytes ${maxLagBytes}; the app writes faster than ferry applies, rerun at a quieter time or with a longer --timeout`, 1);
      }
      const changes = await this.applyOnce(source);
      done.changes += changes;
      if (changes) done.batches++;
    }
  }

  /**
   * Behind the fence: apply until no committed change is left on the source (a batch read
   * after the fence takes every change committed before it). Lag must reach 0 rows.
   */
  async applyRest(source: Client, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let changes = 0;
    let batches = 0;
    for (;;) {
      const applied = await this.applyOnce(source);
      changes += applied;
      if (applied) batches++;
      const lag = await this.lag(source);
      if (lag.rows === 0) return `the rest of the change log applied: ${changes} change(s) in ${batches} batch(es); lag 0 rows`;
      if (Date.now() > deadline) {
        throw new Error(`the capture lag did not reach 0 behind the fence within ${Math.round(timeoutMs / 1000)} s (${lag.rows} row(s) left): a writer the fence does not reach is still writing`);
      }
    }
  }

  /** The session ends: the apply lock goes with it. */
  async close(): Promise<void> {
    await this.target.end().catch(() => undefined);
  }
}
