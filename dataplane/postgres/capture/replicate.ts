// The capture strategy's `replicate`: for sources that grant only the database owner
// (Heroku Postgres: no superuser, no REPLICATION). Order: refuse what capture cannot
// carry; install the log and triggers (install.ts); copy every table from one exported
// snapshot whose pg_current_snapshot() is recorded (the dump copy, ../copy/dump.ts); then
// apply the log in batches (apply.ts). The triggers are committed before the snapshot is
// taken, so every change is either in the copy (its transaction visible in the snapshot)
// or applied from the log (not visible), never both and never neither. Each step checks
// the record on the target first, so a rerun after a kill resumes.
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { withClient } from "../connection";
import { requirePrimarySource } from "../catalog";
import { listTables, TableInfo } from "../copy-catalog";
import { copyByDump, DumpProgress } from "../copy/dump";
import { loadCutover } from "../state";
import { copiedObjects, emptyTarget } from "../target";
import { applyLoop, ApplyLoopOptions, captureLag, CaptureLag, requireSameSchema } from "./apply";
import { captureInstalled, capturedTables, installCapture, refuseUncapturable, schemaHash } from "./install";
import { afterRemoval, CaptureProgress, loadCaptureProgress, saveCaptureProgress } from "./record";

export interface CaptureReplicateOptions extends ApplyLoopOptions {
  sourceUrl: string;
  targetUrl: string;
  /** Parallel connection pairs of the initial copy. */
  jobs?: number;
  onCopyProgress?: (p: DumpProgress) => void;
  /** How long installing a table's trigger may wait for its lock (default 5 s). */
  lockTimeoutMs?: number;
  /** Called once the copy's snapshot is taken and its pg_current_snapshot() read, before a row is read (the tests commit writes across it). */
  onCopySnapshot?: () => Promise<void>;
}

export interface CaptureReplicateResult {
  strategy: "capture";
  tables: number;
  performed: string[];
  warnings: string[];
  /** Batches and changes applied, over every run. */
  batches: number;
  appliedChanges: number;
  lag: CaptureLag;
  durationMs: number;
}

/**
 * What an earlier copy of another strategy left on the target for capture's copy to empty
 * first: the dump strategy's trial copy (a stack switched from dump to capture). A finished
 * dump cutover made the target the primary: refused.
 */
async function dumpCopyLeft(target: Client): Promise<Pick<CaptureProgress, "copyStarted" | "copied">> {
  const dump = await loadCutover(target, "dump");
  if (dump?.done) throw new FerryError("the dump cutover finished: the target is the primary and may hold writes the source never saw; capture will not copy over it", 1);
  return dump?.trialCopy || dump?.copyStarted ? { copyStarted: true, ...(dump.copied ? { copied: dump.copied } : {}) } : {};
}

/** Install the triggers (refusals first) and start a fresh record; a target an earlier copy filled is emptied before the next. */
async function install(source: Client, target: Client, tables: TableInfo[], previous: CaptureProgress | null, opts: CaptureReplicateOptions): Promise<CaptureProgress> {
  await refuseUncapturable(source, tables);
  const progress: CaptureProgress = { ...(await dumpCopyLeft(target)), ...afterRemoval(previous), schemaHash: await schemaHash(source) };
  await installCapture(source, tables, { lockTimeoutMs: opts.lockTimeoutMs });
  await saveCaptureProgress(target, progress);
  return progress;
}

/** The initial copy from a snapshot taken after the triggers went in; its pg_current_snapshot() recorded with it. */
async function initialCopy(source: Client, target: Client, progress: CaptureProgress, opts: CaptureReplicateOptions): Promise<CaptureProgress> {
  if (progress.copyStarted) await emptyTarget(target, source, progress.copied);
  const copying: CaptureProgress = { ...progress, copyStarted: true, snapshot: undefined };
  await saveCaptureProgress(target, copying);
  await copyByDump({
    sourceUrl: opts.sourceUrl,
    targetUrl: opts.targetUrl,
    jobs: opts.jobs,
    onProgress: opts.onCopyProgress,
    onSnapshot: async (s) => {
      // In a REPEATABLE READ transaction pg_current_snapshot() is the transaction's snapshot: the one the copy reads.
      copying.snapshot = (await s.client.query<{ s: string }>("SELECT pg_current_snapshot()::text AS s")).rows[0].s;
      await opts.onCopySnapshot?.();
    },
    onSchemaRestored: async () => {
      copying.copied = await copiedObjects(target);
      await saveCaptureProgress(target, copying);
    },
  });
  const done = { ...copying, copyDone: true };
  await saveCaptureProgress(target, done);
  return done;
}

export async function replicateCapture(opts: CaptureReplicateOptions): Promise<CaptureReplicateResult> {
  const started = Date.now();
  const performed: string[] = [];
  const warnings: string[] = [];
  return withClient(opts.sourceUrl, async (source) => {
    await requirePrimarySource(source);
    return withClient(opts.targetUrl, async (target) => {
      if ((await loadCutover(target, "capture"))?.done) {
        throw new FerryError("the capture cutover finished: the target is the primary and may hold writes the source never saw; replicating into it again would overwrite them", 1);
      }
      const tables = await listTables(source);
      const captured = capturedTables(tables);
      let progress = await loadCaptureProgress(target);
      if (!(await captureInstalled(source))) {
        progress = await install(source, target, tables, progress, opts);
        performed.push(`capture triggers installed on ${captured.length} table(s)`);
      } else if (!progress?.schemaHash) {
        // Installed, then killed before the record was saved: nothing was copied yet.
        progress = { ...afterRemoval(progress), schemaHash: await schemaHash(source) };
        await saveCaptureProgress(target, progress);
      }
      await requireSameSchema(source, progress);
      const keyless = captured.filter((t) => !t.primaryKey.length);
      if (keyless.length) {
        warnings.push(`${keyless.length} table(s) without a primary key (${keyless.slice(0, 3).map((t) => `${t.schema}.${t.name}`).join(", ")}${keyless.length > 3 ? ", ..." : ""}): their rows are matched by every column, and each change applied to them scans the table on the target`);
      }
      if (!progress.copyDone) {
        progress = await initialCopy(source, target, progress, opts);
        performed.push("initial copy");
      }
      progress = await applyLoop(source, target, new Map(captured.map((t) => [t.oid, t])), progress, opts);
      return {
        strategy: "capture" as const,
        tables: captured.length,
        performed,
        warnings,
        batches: progress.batches ?? 0,
        appliedChanges: progress.appliedChanges ?? 0,
        lag: await captureLag(source, progress.snapshot!),
        durationMs: Date.now() - started,
      };
    });
  });
}

/** The lag of a capture in progress: null before its initial copy recorded a snapshot. */
export async function captureStatus(source: Client, target: Client): Promise<{ progress: CaptureProgress | null; lag: CaptureLag | null }> {
  const progress = await loadCaptureProgress(target);
  if (!progress?.snapshot || !progress.copyDone || !(await captureInstalled(source))) return { progress, lag: null };
  return { progress, lag: await captureLag(source, progress.snapshot) };
}
