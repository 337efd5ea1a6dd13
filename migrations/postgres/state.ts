// Cutover progress on the target, in ferry's own schema, so that a rerun after a crash
// (of ferry, or of the machine running it) resumes where the last run stopped. The
// source side of the story is the fence record (fence.ts); together they say which
// database is the writable primary. A physical standby cannot be written before it
// is promoted: until then its progress is read from the facts (fence record on the
// source, pg_is_in_recovery() on the target).
import { Client } from "pg";
import { FenceRecord } from "./fence";
import { STATE_SCHEMA, Strategy } from "./names";

export interface StepRecord {
  name: string;
  ms: number;
  detail?: string;
}

export interface CutoverState {
  strategy: Strategy;
  steps: StepRecord[];
  fence?: FenceRecord;
  /** dump: replicate made a trial copy into the target (cutover replaces it). */
  trialCopy?: boolean;
  /** dump: the cutover's copy began (a rerun must empty the target first). */
  copyStarted?: boolean;
  /** The target is the primary: from here on, rollback refuses. */
  done?: boolean;
  writeUnavailableMs?: number;
}

const TABLE = `${STATE_SCHEMA}.progress`;

async function ensureTable(c: Client): Promise<void> {
  await c.query(`CREATE SCHEMA IF NOT EXISTS ${STATE_SCHEMA}`);
  await c.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (key text PRIMARY KEY, value jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
}

/** A progress record by key ("cutover:logical", "replicate:logical", ...), null when absent. */
export async function loadRecord<T>(c: Client, key: string): Promise<T | null> {
  const { rows } = await c.query<{ exists: boolean }>("SELECT to_regclass($1) IS NOT NULL AS exists", [TABLE]);
  if (!rows[0].exists) return null;
  const r = await c.query<{ value: T }>(`SELECT value FROM ${TABLE} WHERE key = $1`, [key]);
  return r.rows[0]?.value ?? null;
}

export async function saveRecord(c: Client, key: string, value: unknown): Promise<void> {
  await ensureTable(c);
  await c.query(
    `INSERT INTO ${TABLE} (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()`,
    [key, JSON.stringify(value)],
  );
}

export const loadCutover = (c: Client, strategy: Strategy) => loadRecord<CutoverState>(c, `cutover:${strategy}`);
export const saveCutover = (c: Client, state: CutoverState) => saveRecord(c, `cutover:${state.strategy}`, state);

/** Remove ferry's bookkeeping from the target (cleanup). */
export async function dropState(c: Client): Promise<void> {
  await c.query(`DROP SCHEMA IF EXISTS ${STATE_SCHEMA} CASCADE`);
}
