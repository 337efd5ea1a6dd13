// The full verify after a cutover (`ferry pg verify`, which the Pulumi stage runs after
// the cutover and before the app moves). The cutover's own verify is a sample, so this
// one can still find a difference after the point of no return, where a rollback is
// refused (the target is the primary) and the app must not move onto it. Then, while it
// is provably safe, ferry repairs: the cutover finished, no verify has passed since (so
// the app, which moves only after one, has not written the target), and the source is
// still fenced (so it holds exactly what it held at the fence). The differing ranges are
// copied again from the source and verify runs again (verify/repair.ts); the report says
// what was repaired. The first passing verify after a cutover is recorded on the target
// (`verified`): from then on a difference is reported, never "repaired" over the app's
// writes.
import { withClient } from "../connection";
import { STRATEGIES } from "../names";
import { CutoverState, loadCutover, saveCutover } from "../state";
import { RepairedReport, repairThenVerify } from "../verify/repair";
import { compareDatabases, VerifyOptions } from "../verify/verify";
import { fenceInPlace, readFence, withWritable } from "./fence";

export interface VerifiedReport extends RepairedReport {
  /** Why a difference was not repaired (absent when it was, or when nothing differed). */
  notRepaired?: string;
  /** The report is the cutover's own, of the target as opened at this time (the app writes it since). */
  atOpen?: string;
}

export interface AfterCutoverOptions extends VerifyOptions {
  repair?: boolean;
  /** Compare now even where the cutover compared the target as it opened it. */
  live?: boolean;
}

/** The cutover record that finished, if any. */
async function finishedCutover(targetUrl: string): Promise<CutoverState | null> {
  return withClient(targetUrl, async (t) => {
    for (const s of STRATEGIES) {
      const state = await loadCutover(t, s);
      if (state?.done) return state;
    }
    return null;
  });
}

/** Why repairing is not safe now, or undefined when it is. */
async function repairRefusal(opts: AfterCutoverOptions, state: CutoverState | null): Promise<string | undefined> {
  if (!state) return "no finished cutover: before it, the source still takes writes and a difference is expected (or rerun the cutover)";
  if (state.appOnTarget) return "the cutover resumed the app on the target (through its pooler), so the app may have written there since: ferry does not overwrite it";
  if (state.verified) return "a verify already passed after this cutover, so the app may have written the target since: ferry does not overwrite it";
  if (opts.repair === false) return "--no-repair";
  const fenced = await withWritable(opts.sourceUrl, async (c) => {
    const record = (await readFence(c)) ?? state.fence ?? null;
    return record !== null && (await fenceInPlace(c, record));
  });
  return fenced ? undefined : "the source is no longer fenced and may have taken writes since the cutover: it is not the truth any more";
}

/**
 * Verify after a cutover, repairing from the fenced source where that is safe, and record
 * the first pass. Where the cutover moved the app itself (the pooler), its own full verify
 * of the target as opened is the answer: the target has the app's writes since.
 */
export async function verifyAfterCutover(opts: AfterCutoverOptions): Promise<VerifiedReport> {
  const state = await finishedCutover(opts.targetUrl);
  if (state?.verifiedAtOpen && !opts.live) return { ...state.verifiedAtOpen.report, atOpen: state.verifiedAtOpen.at };
  const first = await compareDatabases(opts);
  if (first.report.ok) return noteVerified(opts, state, first.report);
  const refusal = await repairRefusal(opts, state);
  if (refusal) return { ...first.report, notRepaired: refusal };
  return noteVerified(opts, state, await repairThenVerify(opts, first));
}

async function noteVerified<T extends RepairedReport>(opts: VerifyOptions, state: CutoverState | null, report: T): Promise<T> {
  if (report.ok && state && !state.verified) await withWritable(opts.targetUrl, (t) => saveCutover(t, { ...state, verified: true }));
  return report;
}
