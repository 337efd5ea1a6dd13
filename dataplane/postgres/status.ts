// Where a migration stands, in one look: per-table state of the initial sync, lag in
// bytes and seconds, copy progress with a time-left estimate (two samples a second
// apart give the rate), and whether a cutover fenced the source or finished.
// Users of other tools cannot tell "copying" from "stuck": this is the answer.
import { Client } from "pg";
import { sleep } from "../cli/common";
import { withClient } from "./connection";
import { inRecovery } from "./catalog";
import { fenceInPlace, readFence } from "./cutover/fence";
import { TableSyncState, logicalLag, tableStates } from "./replication/logical";
import { Strategy } from "./names";
import { physicalLag } from "./replication/physical";
import { CutoverState, loadCutover } from "./state";
import { recordedStrategy } from "./recorded";
import { captureStatus } from "./capture/replicate";

export interface CopyProgress {
  tablesDone: number;
  tablesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Estimated seconds left at the measured rate; null when done or not moving. */
  etaSeconds: number | null;
  bytesPerSecond: number | null;
}

export interface StatusReport {
  strategy: Strategy;
  tables: TableSyncState[];
  /** rows: the capture strategy's committed changes not yet applied. */
  lag: { bytes: number; seconds: number | null; rows?: number } | null;
  copy: CopyProgress | null;
  /** "streaming", "initial copy", "not started", "fenced", "cut over", ... */
  phase: string;
  cutover: { fenced: boolean; done: boolean; steps: string[] } | null;
}

export interface StatusOptions {
  sourceUrl: string;
  targetUrl: string;
  strategy?: Strategy;
  /** Wait between the two samples that give the copy rate (default 1000 ms). */
  sampleMs?: number;
}

/**
 * The strategy in use, from what replicate and cutover recorded (the cutover reads the same
 * facts): the live replication alone does not say, a logical cutover drops the subscription,
 * and the gate before the source is released would then look for a dump's cutover record.
 */
async function detectStrategy(source: Client, target: Client): Promise<Strategy> {
  return (await recordedStrategy(source, target)) ?? "dump";
}

/** Source bytes of each subscribed table (a partitioned root counts its partitions; pg_partition_tree is empty for a plain table). */
async function sourceSizes(source: Client, tables: string[]): Promise<Map<string, number>> {
  const { rows } = await source.query<{ t: string; bytes: string }>(`
    SELECT t, coalesce((SELECT sum(pg_table_size(relid)) FROM pg_partition_tree(t::regclass)), pg_table_size(t::regclass))::int8 AS bytes
    FROM unnest($1::text[]) AS t`, [tables]);
  return new Map(rows.map((r) => [r.t, Number(r.bytes)]));
}

async function logicalCopySample(source: Client, target: Client): Promise<{ tables: TableSyncState[]; progress: Omit<CopyProgress, "etaSeconds" | "bytesPerSecond"> }> {
  const tables = await tableStates(target);
  const sizes = await sourceSizes(source, tables.map((t) => t.table));
  const { rows } = await target.query<{ t: string; bytes: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS t, p.bytes_processed::int8 AS bytes
    FROM pg_stat_progress_copy p JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace`);
  const copying = new Map(rows.map((r) => [r.t, Number(r.bytes)]));
  let bytesDone = 0;
  let tablesDone = 0;
  for (const t of tables) {
    const size = sizes.get(t.table) ?? 0;
    if (t.state === "init") continue;
    if (t.state === "copying") {
      bytesDone += Math.min(size, copying.get(t.table) ?? 0);
      continue;
    }
    tablesDone++;
    bytesDone += size;
  }
  const bytesTotal = [...sizes.values()].reduce((a, b) => a + b, 0);
  return { tables, progress: { tablesDone, tablesTotal: tables.length, bytesDone, bytesTotal } };
}

async function basebackupSample(source: Client): Promise<Omit<CopyProgress, "etaSeconds" | "bytesPerSecond"> | null> {
  const { rows } = await source.query<{ done: string; total: string | null }>(
    "SELECT backup_streamed::int8 AS done, backup_total::int8 AS total FROM pg_stat_progress_basebackup LIMIT 1",
  );
  if (!rows.length) return null;
  const total = Number(rows[0].total ?? rows[0].done);
  return { tablesDone: 0, tablesTotal: 0, bytesDone: Number(rows[0].done), bytesTotal: total };
}

function withEstimate(first: Omit<CopyProgress, "etaSeconds" | "bytesPerSecond">, second: Omit<CopyProgress, "etaSeconds" | "bytesPerSecond">, ms: number): CopyProgress {
  const rate = ((second.bytesDone - first.bytesDone) * 1000) / ms;
  const left = second.bytesTotal - second.bytesDone;
  return { ...second, bytesPerSecond: rate > 0 ? Math.round(rate) : null, etaSeconds: left <= 0 ? 0 : rate > 0 ? Math.ceil(left / rate) : null };
}

const complete = (p: { bytesDone: number; bytesTotal: number; tablesDone: number; tablesTotal: number }) =>
  p.tablesDone === p.tablesTotal && p.bytesDone >= p.bytesTotal;

async function cutoverSummary(source: Client, target: Client | null, strategy: Strategy) {
  const state: CutoverState | null = target ? await loadCutover(target, strategy) : null;
  // The record is on the source, or only on the target where the source refused it.
  const record = (await readFence(source)) ?? state?.fence ?? null;
  const fenced = record !== null && (await fenceInPlace(source, record));
  if (!fenced && !state) return null;
  return { fenced, done: state?.done === true, steps: state?.steps.map((s) => s.name) ?? [] };
}

export async function status(opts: StatusOptions): Promise<StatusReport> {
  const sampleMs = opts.sampleMs ?? 1000;
  return withClient(opts.sourceUrl, (source) =>
    withClient(opts.targetUrl, async (target) => {
      const strategy = opts.strategy ?? (await detectStrategy(source, target));
      const standby = await inRecovery(target);
      let tables: TableSyncState[] = [];
      let copy: CopyProgress | null = null;
      let lag: StatusReport["lag"] = null;
      let copying = false;
      if (strategy === "logical") {
        const first = await logicalCopySample(source, target);
        tables = first.tables;
        if (tables.length && !complete(first.progress)) {
          await sleep(sampleMs);
          const second = await logicalCopySample(source, target);
          tables = second.tables;
          copy = withEstimate(first.progress, second.progress, sampleMs);
        } else if (tables.length) {
          copy = { ...first.progress, etaSeconds: 0, bytesPerSecond: null };
        }
        const l = await logicalLag(source);
        lag = l && { bytes: l.bytes, seconds: l.seconds };
      } else if (strategy === "physical") {
        const first = await basebackupSample(source);
        if (first) {
          await sleep(sampleMs);
          const second = await basebackupSample(source);
          copy = withEstimate(first, second ?? { ...first, bytesDone: first.bytesTotal }, sampleMs);
        }
        if (standby) lag = await physicalLag(source, target).then((l) => ({ bytes: l.bytes, seconds: l.seconds }));
      } else if (strategy === "capture") {
        const c = await captureStatus(source, target);
        lag = c.lag && { bytes: c.lag.bytes, seconds: c.lag.seconds, rows: c.lag.rows };
        copying = !!c.progress?.schemaHash && !c.progress.copyDone;
      }
      const cut = await cutoverSummary(source, standby ? null : target, strategy);
      const phase = cut?.done ? "cut over" : cut?.fenced ? "fenced (cutover in progress)"
        : (copy && !complete(copy)) || copying ? "initial copy" : lag ? "streaming" : strategy === "dump" ? "no replication (dump)" : "not started";
      return { strategy, tables, lag, copy, phase, cutover: cut };
    }),
  );
}
