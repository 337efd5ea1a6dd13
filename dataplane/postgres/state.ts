// Cutover progress on the target, kept by ferry's own schema (see below), so that a rerun after a crash
// (of ferry, or of the machine running it) resumes where the last run stopped. The
// source side of the story is the fence record (cutover/fence.ts); together they say which
// database is the writable primary. A physical standby cannot be written before it
// is promoted: until then its progress is read from the facts (fence record on the
// source, pg_is_in_recovery() on the target).
import { Client } from "pg";
import { quoteLiteral } from "./connection";
import { FenceRecord } from "./cutover/fence";
import { STATE_SCHEMA, Strategy } from "./names";
import type { VerifyReport } from "./verify/verify";

export interface CutoverStep {
  name: string;
  /** When the step began (ms since the epoch): the window's timeline, gaps between steps included. */
  at?: number;
  ms: number;
  detail?: string;
}

export interface CutoverState {
  strategy: Strategy;
  steps: CutoverStep[];
  fence?: FenceRecord;
  /** dump: replicate made a trial copy into the target (cutover replaces it). */
  trialCopy?: boolean;
  /** dump: the cutover's copy began (a rerun must empty the target first). */
  copyStarted?: boolean;
  /**
   * dump: what the last copy created on the (then empty) target, as copiedObjects() names
   * it: with the source's own objects, what emptyTarget() may prove is ferry's to drop.
   */
  copied?: string[];
  /** The target is the primary: from here on, rollback refuses. */
  done?: boolean;
  /**
   * A full verify passed after the cutover finished (cutover/verified.ts): the app may
   * move and write the target, so verify never repairs it again.
   */
  verified?: boolean;
  /**
   * The app was resumed on the target inside the cutover (its pooler repointed there,
   * docs/pooler.md): it may have written the target since, so verify never repairs it.
   * Recorded before the first replica is repointed.
   */
  appOnTarget?: boolean;
  /**
   * With appOnTarget: the full verify of the fenced source against the target as it was
   * opened (its snapshot taken before the app's first write there), run by the cutover
   * once the window closed. `ferry pg verify` reports it.
   */
  verifiedAtOpen?: VerifiedAtOpen;
  writeUnavailableMs?: number;
}

export interface VerifiedAtOpen {
  /** When the target's snapshot was taken (ISO 8601). */
  at: string;
  report: VerifyReport;
}

// The records live in the comment of the `ferry` schema, as one JSON object keyed by
// record name, not in a table: a table would be a user relation to the dump copy
// (which wants an empty target) and to verify (a table missing on the source).
// COMMENT is transactional and durable like any catalog change.

/**
 * What a dump copy left in the target, kept across a give-back and a rollback: without
 * it a retry would find rows it does not know it copied, and refuse every time.
 */
export function copyFacts(state: CutoverState | null | undefined): Pick<CutoverState, "trialCopy" | "copyStarted" | "copied"> {
  if (!state) return {};
  const { trialCopy, copyStarted, copied } = state;
  return { ...(trialCopy ? { trialCopy } : {}), ...(copyStarted ? { copyStarted } : {}), ...(copied ? { copied } : {}) };
}

/** Every progress record on the target, keyed by name (empty without ferry's schema). */
export async function readAll(c: Client): Promise<Record<string, unknown>> {
  const { rows } = await c.query<{ doc: string | null }>(
    "SELECT obj_description(oid, 'pg_namespace') AS doc FROM pg_namespace WHERE nspname = $1",
    [STATE_SCHEMA],
  );
  return rows[0]?.doc ? (JSON.parse(rows[0].doc) as Record<string, unknown>) : {};
}

/** A progress record by key ("cutover:logical", "replicate:logical", ...), null when absent. */
export async function loadRecord<T>(c: Client, key: string): Promise<T | null> {
  return ((await readAll(c))[key] as T | undefined) ?? null;
}

/** Save a record inside the caller's open transaction: it commits (or not) with the caller's other writes. */
export async function saveRecordInTransaction(c: Client, key: string, value: unknown): Promise<void> {
  // One writer at a time: two ferry processes must not lose each other's update.
  await c.query("SELECT pg_advisory_xact_lock(hashtext('ferry.progress'))");
  await c.query(`CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`);
  const doc = { ...(await readAll(c)), [key]: value };
  await c.query(`COMMENT ON SCHEMA ${STATE_SCHEMA} IS ${quoteLiteral(JSON.stringify(doc))}`);
}

export async function saveRecord(c: Client, key: string, value: unknown): Promise<void> {
  await c.query("BEGIN");
  try {
    await saveRecordInTransaction(c, key, value);
    await c.query("COMMIT");
  } catch (err) {
    await c.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

export const loadCutover = (c: Client, strategy: Strategy) => loadRecord<CutoverState>(c, `cutover:${strategy}`);
export const saveCutover = (c: Client, state: CutoverState) => saveRecord(c, `cutover:${state.strategy}`, state);
