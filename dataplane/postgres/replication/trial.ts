// The dump strategy's `replicate`: a timed trial copy while the source stays writable.
// It tells how long the real maintenance window will be, and proves the copy works on
// this data before anyone takes the app down. The cutover empties the target and
// copies again under the fence.
import { withClient } from "../connection";
import { requirePrimarySource } from "../catalog";
import { copyByDump, DumpCopyResult, DumpProgress } from "../copy/dump";
import { allowWrites } from "../cutover/fence";
import { loadCutover, saveCutover } from "../state";
import { emptyTarget } from "../target";

export interface TrialCopyOptions {
  sourceUrl: string;
  targetUrl: string;
  jobs?: number;
  onProgress?: (p: DumpProgress) => void;
}

export interface TrialCopyResult extends DumpCopyResult {
  strategy: "dump";
  /** The source stayed writable: rows written during the copy are not in it. */
  trial: true;
}

export async function trialCopy(opts: TrialCopyOptions): Promise<TrialCopyResult> {
  await withClient(opts.sourceUrl, requirePrimarySource);
  await withClient(opts.targetUrl, async (t) => {
    await allowWrites(t);
    const state = await loadCutover(t, "dump");
    if (state?.done) throw new Error("the dump cutover already finished: the target is the primary, a trial copy would overwrite it");
    if (state?.trialCopy || state?.copyStarted) await emptyTarget(t);
  });
  const result = await copyByDump({ sourceUrl: opts.sourceUrl, targetUrl: opts.targetUrl, jobs: opts.jobs, onProgress: opts.onProgress });
  await withClient(opts.targetUrl, async (t) => {
    await allowWrites(t);
    await saveCutover(t, { strategy: "dump", steps: [], trialCopy: true });
  });
  return { ...result, strategy: "dump", trial: true };
}
