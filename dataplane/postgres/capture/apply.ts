// Applying the change log to the target in commit order, PgQ style. A batch is the log
// rows whose transaction became visible between two pg_current_snapshot() readings on
// the source: `id` order is not commit order, and a reader that stepped past an id whose
// transaction was still open would lose it when it commits. Batches follow each other in
// commit order; inside one, two changes to the same row are in `id` order (the second
// writer waited for the first's row lock before its trigger ran), so per table the
// batch's last change of each key wins. A batch is applied in one target transaction
// that also records its snapshot (record.ts): a killed apply redoes the whole batch or
// none of it. The source's log rows the recorded snapshot covers are then deleted, so
// the log holds only what is not applied yet.
import { Client } from "pg";
import { FerryError, sleep } from "../../cli/common";
import { crashPoint } from "../cutover/crash-points";
import { qualified, quoteIdent } from "../connection";
import { displayName, DUMP_SEARCH_PATH, TableInfo } from "../copy-catalog";
import { saveRecordInTransaction } from "../state";
import { CAPTURE_LOG, schemaHash } from "./install";
import { CAPTURE_KEY, CaptureProgress } from "./record";

interface LogRow {
  id: string;
  rel: string;
  op: "I" | "U" | "D" | "T";
  /** The old row's identity: its key (jsonb text), or the whole row (json text) without one. */
  old: string | null;
  /** The new row (json text: a json column's text as the source has it). */
  new: string | null;
  /** The new row's key (jsonb text, the same form as a keyed `old`), for keyed tables. */
  newkey: string | null;
}

/** Log rows read from the source per round trip (a batch may take many). */
const PAGE_ROWS = 5000;

/**
 * The batch's rows after `after`: committed after `prev` and by `cur`. The xid range is
 * what the visibility tests imply (below xmin every transaction is visible), written
 * out so the xid index bounds the scan.
 */
const FETCH_SQL = `
  SELECT l.id::text AS id, l.rel::int8::text AS rel, l.op, CASE WHEN $4::jsonb ? l.rel::text THEN l.old::jsonb::text ELSE l.old::text END AS old, l.new::text AS new,
    CASE WHEN l.new IS NOT NULL AND $4::jsonb ? l.rel::text THEN
      (SELECT jsonb_object_agg(k, (l.new -> k)::jsonb) FROM jsonb_array_elements_text($4::jsonb -> l.rel::text) AS k)::text END AS newkey
  FROM ${CAPTURE_LOG} l
  WHERE l.xid >= pg_snapshot_xmin($1::pg_snapshot) AND l.xid < pg_snapshot_xmax($2::pg_snapshot)
    AND pg_visible_in_snapshot(l.xid, $2::pg_snapshot) AND NOT pg_visible_in_snapshot(l.xid, $1::pg_snapshot)
    AND l.id > $3::int8
  ORDER BY l.id LIMIT $5`;

const nameOf = (t: TableInfo) => qualified(t.schema, t.name);
const copiedColumns = (t: TableInfo) => t.columns.filter((c) => !c.generated);
const jsonArray = (items: string[]) => `[${items.join(",")}]`;

/**
 * The target session the changes are applied in. session_replication_role = replica
 * keeps the target's own triggers and foreign-key checks from firing: their effects on
 * the source are in the log already, and a batch's order across tables is not the
 * source's. It is superuser-only; RDS lets rds_superuser set it (Amazon RDS User Guide,
 * "Common DBA tasks for Amazon RDS for PostgreSQL", session_replication_role). It is never
 * set on the source: Heroku refuses it, and the triggers must fire there.
 */
export async function prepareApplySession(target: Client): Promise<void> {
  try {
    await target.query("SET session_replication_role = replica");
  } catch (err) {
    if ((err as { code?: string }).code !== "42501") throw err;
    throw new FerryError("the target role may not set session_replication_role (superuser, or rds_superuser on RDS): the capture apply needs it to keep the target's triggers and foreign-key checks from firing twice", 1);
  }
  // Table names below are qualified; nothing resolves through the target's search_path.
  await target.query(DUMP_SEARCH_PATH);
}

/** Insert rows (json text each: json_populate keeps a json column's text) into `t`, generated columns left to the target. */
async function insertRows(target: Client, t: TableInfo, rows: string[]): Promise<void> {
  if (!rows.length) return;
  const cols = copiedColumns(t).map((c) => quoteIdent(c.name)).join(", ");
  await target.query(
    `INSERT INTO ${nameOf(t)} (${cols}) OVERRIDING SYSTEM VALUE SELECT ${cols} FROM pg_catalog.json_populate_recordset(NULL::${nameOf(t)}, $1::json)`,
    [jsonArray(rows)],
  );
}

/** Delete the rows of keyed table `t` whose key is one of `keys` (jsonb text each). */
async function deleteKeys(target: Client, t: TableInfo, keys: string[]): Promise<void> {
  if (!keys.length) return;
  const pk = t.primaryKey.map((c) => quoteIdent(c.name));
  await target.query(
    `DELETE FROM ONLY ${nameOf(t)} AS x USING pg_catalog.jsonb_populate_recordset(NULL::${nameOf(t)}, $1::jsonb) AS k
     WHERE (${pk.map((c) => `x.${c}`).join(", ")}) = (${pk.map((c) => `k.${c}`).join(", ")})`,
    [jsonArray(keys)],
  );
}

/**
 * Delete one row of `t` (a table without a key) equal to the old row `old` in every
 * column the copy moves, compared as text (json and point have no equality). One, as the
 * source deleted one of its duplicates; none found means the target diverged.
 */
async function deleteOneRow(target: Client, t: TableInfo, old: string): Promise<void> {
  const same = copiedColumns(t).map((c) => `x.${quoteIdent(c.name)}::text IS NOT DISTINCT FROM k.${quoteIdent(c.name)}::text`).join(" AND ");
  const { rowCount } = await target.query(
    `DELETE FROM ONLY ${nameOf(t)} WHERE ctid = (SELECT x.ctid FROM ONLY ${nameOf(t)} AS x, pg_catalog.json_populate_record(NULL::${nameOf(t)}, $1::json) AS k WHERE ${same} LIMIT 1)`,
    [old],
  );
  if (!rowCount) throw new FerryError(`capture: a row the source changed in ${displayName(t)} (a table without a primary key) is not on the target: the target diverged; run ferry pg verify`, 1);
}

/** One page of a batch, folded: tables truncated, each keyed table's last change per key, keyless changes in order. */
interface Folded {
  truncated: Set<number>;
  keyed: Map<number, Map<string, string | null>>;
  keyless: LogRow[];
}

function fold(rows: LogRow[], tables: Map<number, TableInfo>): Folded {
  const f: Folded = { truncated: new Set(), keyed: new Map(), keyless: [] };
  for (const r of rows) {
    const oid = Number(r.rel);
    const t = tables.get(oid);
    if (!t) throw new FerryError(`capture: the change log names a table (oid ${oid}) the source did not have when apply started: DDL during capture; roll back and replicate again`, 1);
    if (r.op === "T") {
      // What came before a TRUNCATE of the table is gone with it.
      f.truncated.add(oid);
      f.keyed.delete(oid);
      f.keyless = f.keyless.filter((k) => Number(k.rel) !== oid);
      continue;
    }
    if (!t.primaryKey.length) {
      f.keyless.push(r);
      continue;
    }
    const last = f.keyed.get(oid) ?? new Map<string, string | null>();
    f.keyed.set(oid, last);
    if (r.old !== null) last.set(r.old, null);
    if (r.new !== null) last.set(r.newkey!, r.new);
  }
  return f;
}

/**
 * Apply one folded page. Per keyed table every key the page touched is deleted, then
 * the rows that exist at its end are inserted: no intermediate state is written, so a
 * unique column two rows swapped cannot collide.
 */
async function applyFolded(target: Client, f: Folded, tables: Map<number, TableInfo>): Promise<void> {
  // In one statement: the target refuses to truncate a table another references unless both
  // go together. CASCADE: one source TRUNCATE's log rows may straddle two pages, and every
  // table it reaches the source truncated in the same statement (or refused it), whose
  // rows follow in this batch; a change this page holds for one of them is older than the
  // TRUNCATE, and its own truncate row, on a later page, clears it again.
  if (f.truncated.size) await target.query(`TRUNCATE ONLY ${[...f.truncated].map((oid) => nameOf(tables.get(oid)!)).join(", ")} CASCADE`);
  for (const [oid, last] of f.keyed) {
    const t = tables.get(oid)!;
    await deleteKeys(target, t, [...last.keys()]);
    await insertRows(target, t, [...last.values()].filter((v): v is string => v !== null));
  }
  const pending = new Map<number, string[]>();
  const flush = async (oid: number) => {
    await insertRows(target, tables.get(oid)!, pending.get(oid) ?? []);
    pending.delete(oid);
  };
  for (const r of f.keyless) {
    const oid = Number(r.rel);
    if (r.old !== null) {
      await flush(oid);
      await deleteOneRow(target, tables.get(oid)!, r.old);
    }
    if (r.new !== null) pending.set(oid, [...(pending.get(oid) ?? []), r.new]);
  }
  for (const oid of [...pending.keys()]) await flush(oid);
}

/**
 * What one applied page wrote on the target: per keyed table the keys it deleted or
 * inserted (jsonb text, the log's form), and the tables it truncated or changed without
 * a key (their rows are not named by a key). The cutover's in-window verify compares
 * exactly these (capture/verify-changed.ts).
 */
export interface Touched {
  keyed: Map<number, string[]>;
  whole: Set<number>;
}

function touchedBy(f: Folded): Touched {
  const whole = new Set([...f.truncated, ...f.keyless.map((r) => Number(r.rel))]);
  return { keyed: new Map([...f.keyed].map(([oid, last]) => [oid, [...last.keys()]])), whole };
}

/** The key columns of each keyed table, by oid: what the fetch builds `newkey` from. */
const keyColumns = (tables: Map<number, TableInfo>) =>
  JSON.stringify(Object.fromEntries([...tables].filter(([, t]) => t.primaryKey.length).map(([oid, t]) => [String(oid), t.primaryKey.map((c) => c.name)])));

/** Delete the log rows whose changes are on the target (visible in the recorded snapshot). */
export async function trimLog(source: Client, recorded: string): Promise<number> {
  const { rowCount } = await source.query(
    `DELETE FROM ${CAPTURE_LOG} WHERE xid < pg_snapshot_xmax($1::pg_snapshot) AND pg_visible_in_snapshot(xid, $1::pg_snapshot)`, [recorded]);
  return rowCount ?? 0;
}

export interface BatchResult {
  changes: number;
  progress: CaptureProgress;
}

/**
 * Apply the next batch: every change committed after the recorded snapshot and by a new
 * reading. An empty batch records nothing (the recorded snapshot stays correct).
 */
export async function applyBatch(source: Client, target: Client, tables: Map<number, TableInfo>, progress: CaptureProgress, onTouched?: (t: Touched) => void): Promise<BatchResult> {
  const prev = progress.snapshot;
  if (!prev) throw new FerryError("capture: no snapshot recorded on the target: the initial copy has not finished; run ferry pg replicate --strategy capture", 1);
  const { rows: [{ cur }] } = await source.query<{ cur: string }>("SELECT pg_current_snapshot()::text AS cur");
  const keys = keyColumns(tables);
  let changes = 0;
  let after = "0";
  await target.query("BEGIN");
  let next = progress;
  try {
    for (;;) {
      const { rows } = await source.query<LogRow>(FETCH_SQL, [prev, cur, after, keys, PAGE_ROWS]);
      if (!rows.length) break;
      const folded = fold(rows, tables);
      await applyFolded(target, folded, tables);
      onTouched?.(touchedBy(folded));
      changes += rows.length;
      after = rows[rows.length - 1].id;
      crashPoint("capture:page-applied");
      if (rows.length < PAGE_ROWS) break;
    }
    if (changes === 0) {
      await target.query("ROLLBACK");
      return { changes, progress };
    }
    next = { ...progress, snapshot: cur, batches: (progress.batches ?? 0) + 1, appliedChanges: (progress.appliedChanges ?? 0) + changes };
    await saveRecordInTransaction(target, CAPTURE_KEY, next);
    crashPoint("capture:batch-recorded");
    await target.query("COMMIT");
  } catch (err) {
    await target.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  crashPoint("capture:batch-committed");
  await trimLog(source, cur);
  return { changes, progress: next };
}

/** Refuse to go on once the source's schema differs from the one the triggers were installed on. */
export async function requireSameSchema(source: Client, progress: CaptureProgress): Promise<void> {
  if ((await schemaHash(source)) !== progress.schemaHash) {
    throw new FerryError("the source's schema changed since capture began (DDL during capture: a new table has no trigger, a new column is not on the target): roll back (ferry pg rollback --strategy capture) and replicate again", 1);
  }
}

export interface CaptureLag {
  /** Committed changes on the source not yet on the target. */
  rows: number;
  /** Age of the oldest of them (0 when none). */
  seconds: number;
  /** Their size in the log. */
  bytes: number;
}

/** The lag behind the recorded snapshot (uncommitted changes are invisible here, and not lag yet). */
export async function captureLag(source: Client, recorded: string): Promise<CaptureLag> {
  const { rows } = await source.query<{ n: string; s: number; b: string }>(`
    SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(at)), 0)::float8 AS s, coalesce(sum(pg_column_size(l.*)), 0)::int8 AS b
    FROM ${CAPTURE_LOG} l WHERE l.xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(l.xid, $1::pg_snapshot)`, [recorded]);
  return { rows: Number(rows[0].n), seconds: Math.max(0, rows[0].s), bytes: Number(rows[0].b) };
}

export interface ApplyLoopOptions {
  /**
   * Return after one batch: every change committed before the loop started is then on the
   * target (the batch's snapshot is read after), so this returns under a steady load too.
   */
  untilCaughtUp?: boolean;
  /** Stop (after the batch in flight) when aborted. */
  signal?: AbortSignal;
  /** Wait between empty batches (default 100 ms). */
  idleMs?: number;
  onBatch?: (b: { changes: number; progress: CaptureProgress }) => void;
  /** Each applied page's rows, as it is applied (before its batch commits). */
  onTouched?: (t: Touched) => void;
}

const APPLIER_LOCK = "hashtext('ferry.capture.apply')";

/**
 * One applier at a time (a second replicate, or a cutover while replicate runs): two would
 * both apply a batch read from the same recorded snapshot, and a keyless table would get
 * its rows twice. A session lock: it goes with the connection, a killed ferry included.
 */
async function tryApplierLock(target: Client): Promise<boolean> {
  const { rows } = await target.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${APPLIER_LOCK}) AS ok`);
  return rows[0].ok;
}

async function holdApplierLock(target: Client): Promise<void> {
  if (!(await tryApplierLock(target))) throw new FerryError("another ferry is applying this capture to the target (ferry pg replicate --strategy capture still running?): stop it first", 1);
}

/** Who holds the applier lock (pg_locks shows a one-key advisory lock's low 32 bits as objid, objsubid 1), for the refusal. */
async function applierLockHolder(target: Client): Promise<string> {
  const { rows } = await target.query<{ pid: number; app: string | null; addr: string | null; since: string | null }>(`
    SELECT a.pid, a.application_name AS app, host(a.client_addr) AS addr, to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS since
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.objsubid = 1 AND l.objid = ((${APPLIER_LOCK})::int8 & 4294967295)::oid AND l.pid <> pg_backend_pid() LIMIT 1`);
  const h = rows[0];
  return h ? `session ${h.pid} (${h.app || "no application_name"}${h.addr ? ` from ${h.addr}` : ""}, connected ${h.since} UTC)` : "a session that has just ended";
}

/**
 * Take the applier lock, waiting up to `timeoutMs`: a ferry killed a moment ago may still
 * hold it until the server notices its connection is gone. Still held then (a `ferry pg
 * replicate --strategy capture` that applies until stopped): refused, naming the holder.
 */
export async function waitForApplierLock(target: Client, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await tryApplierLock(target))) {
    if (Date.now() > deadline) {
      throw new FerryError(`another ferry applies this capture to the target: the apply lock is held by ${await applierLockHolder(target)} after ${Math.round(timeoutMs / 1000)} s; stop that ferry pg replicate --strategy capture (SIGTERM: it finishes its batch) and rerun`, 1);
    }
    await sleep(100);
  }
}

/** How often the loop compares the source's schema hash (a catalog scan) while it runs. */
const SCHEMA_CHECK_MS = 2000;

/**
 * Apply batches until caught up with the loop's start (untilCaughtUp) or aborted; returns
 * the last progress. The schema is compared at the start, every SCHEMA_CHECK_MS and at the
 * end, so a run that returns saw no DDL; one made in between stops the next check.
 */
export async function applyLoop(source: Client, target: Client, tables: Map<number, TableInfo>, start: CaptureProgress, opts: ApplyLoopOptions): Promise<CaptureProgress> {
  await holdApplierLock(target);
  await prepareApplySession(target);
  return applyWithLock(source, target, tables, start, opts);
}

/** applyLoop on a target session that already holds the applier lock and is prepared (prepareApplySession): the cutover's. */
export async function applyWithLock(source: Client, target: Client, tables: Map<number, TableInfo>, start: CaptureProgress, opts: ApplyLoopOptions): Promise<CaptureProgress> {
  let progress = start;
  await requireSameSchema(source, progress);
  let checked = Date.now();
  await trimLog(source, progress.snapshot!);
  while (!opts.signal?.aborted) {
    if (Date.now() - checked > SCHEMA_CHECK_MS) {
      await requireSameSchema(source, progress);
      checked = Date.now();
    }
    const batch = await applyBatch(source, target, tables, progress, opts.onTouched);
    progress = batch.progress;
    opts.onBatch?.(batch);
    if (opts.untilCaughtUp) break;
    if (batch.changes === 0) await sleep(opts.idleMs ?? 100);
  }
  await requireSameSchema(source, progress);
  return progress;
}
