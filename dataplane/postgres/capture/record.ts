// What the capture strategy records on the target (state.ts), so that a killed
// replicate resumes where it stopped: the schema hash taken at install, the copy's
// facts, and the snapshot up to which every change is on the target. The snapshot is
// saved in the same target transaction as the changes it covers.
import { Client } from "pg";
import { loadRecord, saveRecord } from "../state";

export const CAPTURE_KEY = "replicate:capture";

export interface CaptureProgress {
  /** schemaHash() of the source when the triggers went in. */
  schemaHash: string;
  /** The copy began: a rerun must empty the target first (target.ts). */
  copyStarted?: boolean;
  /** What the copy created on the empty target (copiedObjects). */
  copied?: string[];
  copyDone?: boolean;
  /**
   * A pg_current_snapshot() reading on the source: first the copy's own snapshot, then
   * the last applied batch's. Every change whose transaction is visible in it is on the
   * target; no other is.
   */
  snapshot?: string;
  batches?: number;
  appliedChanges?: number;
}

export const loadCaptureProgress = (target: Client) => loadRecord<CaptureProgress>(target, CAPTURE_KEY);
export const saveCaptureProgress = (target: Client, p: CaptureProgress) => saveRecord(target, CAPTURE_KEY, p);

/** What a later replicate needs after the triggers are gone (rollback): only where the copy left things, to empty them. */
export function afterRemoval(p: CaptureProgress | null): Omit<CaptureProgress, "schemaHash"> {
  return p?.copyStarted ? { copyStarted: true, ...(p.copied ? { copied: p.copied } : {}) } : {};
}
