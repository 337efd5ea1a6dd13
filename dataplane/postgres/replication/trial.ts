// The dump strategy's `replicate`: a timed trial copy while the source stays writable.
// It tells how long the real maintenance window will be, and proves the copy works on
// this data before anyone takes the app down. The cutover empties the target and
// copies again under the fence.
import { withClient } from "../connection";
import { requirePrimarySource } from "../catalog";
import { assertEmptyTarget, copyByDump, DumpCopyResult, DumpProgress } from "../copy/dump";
import { allowWrites } from "../cutover/fence";
import { copyFacts, CutoverState, loadCutover, saveCutover } from "../state";
import { copiedObjects, emptyTarget } from "../target";

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
  return withClient(opts.sourceUrl, async (source) => {
    await requirePrimarySource(source);
    return withClient(opts.targetUrl, async (t) => {
      await allowWrites(t);
      const previous = await loadCutover(t, "dump");
      if (previous?.done) throw new Error("the dump cutover already finished: the target is the primary, a trial copy would overwrite it");
      if (previous?.trialCopy || previous?.copyStarted) await emptyTarget(t, source, previous.copied);
      else await assertEmptyTarget(opts.targetUrl)(t); // refused before ferry writes its record there
      // Noted before the first object lands: a trial that dies part-way is emptied by the next one.
      const state: CutoverState = { strategy: "dump", steps: [], ...copyFacts(previous), trialCopy: true };
      await saveCutover(t, state);
      const result = await copyByDump({
        sourceUrl: opts.sourceUrl, targetUrl: opts.targetUrl, jobs: opts.jobs, onProgress: opts.onProgress,
        onSchemaRestored: async () => {
          state.copied = await copiedObjects(t);
          await saveCutover(t, state);
        },
      });
      return { ...result, strategy: "dump" as const, trial: true as const };
    });
  });
}
