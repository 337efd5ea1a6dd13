// What the dump strategy's trial copy measured, as the replicate step printed it
// (`ferry --json pg replicate --strategy dump`): the program exports it as the stack
// output `postgresTrialCopy`, and the stage plan puts its time in place of the
// rate-based write-window estimate. Numbers only: nothing in it is secret.
export interface TrialRecord {
  /** How long the copy took, ms: the cutover's copy, behind the fence, takes about as long. */
  ms: number;
  /** COPY bytes it streamed. */
  bytes: number;
  tables: number;
  rows: number;
}

const count = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** The trial's figures from the step's stdout; undefined for anything else (another strategy, no output yet). */
export function trialRecordOf(stdout: string | undefined): TrialRecord | undefined {
  let printed: unknown;
  try {
    printed = JSON.parse(stdout ?? "");
  } catch {
    return undefined;
  }
  const r = printed as Record<string, unknown> | null;
  if (!r || r.trial !== true || !count(r.durationMs) || !count(r.bytes) || !count(r.tables) || !count(r.rows)) return undefined;
  return { ms: r.durationMs, bytes: r.bytes, tables: r.tables, rows: r.rows };
}
