// Verification after a copy or a cutover: "silent non-apply" is the failure every
// migration tool's users report, so every table is counted and checksummed inside
// both databases, in key-range chunks spread over `jobs` connection pairs, each side
// reading one exported snapshot. A differing chunk is halved down to the first
// differing key. Tables without a primary key are compared whole (count + an
// order-independent hash sum). `fast` (right after a cutover) counts every table
// and checksums only the first, the last and a few random chunks (first and last
// only for non-integer keys, whose chunk boundaries would cost a scan of the key).
// Small tables are hashed whole, many to one statement (`tableSums`), in both modes.
import { createHash } from "node:crypto";
import os from "node:os";
import { Client } from "pg";
import { displayName, listSequences, listTables, SequenceInfo, TableInfo } from "../copy-catalog";
import { defaultJobs, runPool } from "../copy-pool";
import { connectInSnapshot, exportSnapshot, SharedSnapshot } from "../copy-snapshot";
import { DifferenceKind, LocatedDifference, locateDifference } from "./verify-narrow";
import { PrivilegeReport, verifyPrivileges } from "../privileges";
import { ChunkSum, chunkSum, countRows, tableSums, edgeRanges, hasIntegerKey, IntegerSplit, integerSplit, KeyRange, keyGrowsAtEnd, keyRanges, normalizeSession, openComparingSession, splitRanges } from "./verify-sql";
import { hashSide, HashPlan, Side, sumsAt } from "./verify-scan";

export interface VerifyOptions {
  sourceUrl: string;
  targetUrl: string;
  /** Connection pairs (one to each side) hashing chunks in parallel. */
  jobs?: number;
  /** Rows per checksummed key range (default 50,000). */
  chunkRows?: number;
  /** Counts for every table, checksums for sampled chunks only. */
  fast?: boolean;
  /** A differing chunk is halved until at most this many rows remain, then compared row by row (default 10,000). */
  narrowRows?: number;
  /** In fast mode, random chunks checksummed per table besides the first and last (default 2). */
  sampleChunks?: number;
  /**
   * Fast mode: key ranges computed earlier on the source (`planFastVerify`, before a
   * cutover's fence), reused instead of being computed again. Tables the plan does not
   * know are split as without a plan.
   */
  plan?: FastVerifyPlan;
  /**
   * Fast mode with a plan: a table with a primary key bigger than this (heap + TOAST,
   * bytes) is not counted with count(*); its first chunk, its newest rows (everything
   * from the plan's last bound on) and the sampled chunks are counted and hashed
   * instead. Tables without a key are always counted. Default: every table counted.
   */
  countMaxBytes?: number;
  /**
   * The target as the caller holds it: a snapshot it exported earlier and keeps open until
   * the comparison returns (a cutover's target at the moment it opened, before the app's
   * first write there). Without it, both sides are read as they are now.
   */
  targetSnapshot?: SharedSnapshot;
  /**
   * Print the differing key's value (and the ranges' bounds). Off by default: a key is
   * data (an email, a user id), and verify's output lands in logs and Pulumi's state.
   * Without it a difference is named by its table, its key range's position and a hash.
   */
  showKeys?: boolean;
  /** Full verify: a table keyed by an integer (or without a key) bigger than this (heap bytes) is hashed in slices of it (verify-scan.ts). */
  sliceBytes?: number;
}

/** Key ranges per table (by name), computed on the source before the window. */
export interface FastVerifyPlan {
  chunkRows: number;
  ranges: Map<string, KeyRange[]>;
  /** Heap + TOAST bytes per table on the source, a partitioned table's with all its partitions. */
  bytes: Map<string, number>;
  durationMs: number;
}

export interface TableDifference {
  /** showKeys only: first key of the differing range ("(start)" when open). */
  from?: string;
  /** showKeys only: the differing key itself once narrowed, else the range's exclusive upper bound ("(end)" when open). */
  to?: string;
  kind?: DifferenceKind | "whole table" | "columns differ" | "table missing on target" | "table missing on source";
  detail?: string;
  /** Which of the table's key ranges (1-based, in key order) holds the difference. */
  range?: { index: number; of: number };
  /** The differing key, hashed (SHA-256 of the table's name and the key's text, 12 hex digits): comparable, not readable. */
  keyHash?: string;
}

export interface TableReport {
  table: string;
  sourceRows: number;
  targetRows: number;
  ok: boolean;
  firstDifference?: TableDifference;
  /** Key-range chunks compared (1 for a table without a primary key). */
  chunks: number;
  /**
   * false (fast mode, big tables): the table was not counted; sourceRows/targetRows are
   * the rows of the compared chunks (first, newest, sampled), not the table's.
   */
  counted?: boolean;
  differingChunks: number;
}

export interface SequenceReport {
  sequence: string;
  source: number;
  target: number;
  ok: boolean;
}

export interface VerifyReport {
  ok: boolean;
  durationMs: number;
  fast: boolean;
  tables: TableReport[];
  sequences: SequenceReport[];
  /** Privileges (ACLs) of schemas, tables, sequences and functions, extension members included (privileges.ts). */
  privileges: PrivilegeReport;
  /** One line naming the first difference (table and key range, sequence, or privilege). */
  firstDifference?: string;
}

const DEFAULT_CHUNK_ROWS = 50_000;

interface Pair {
  source: Client;
  target: Client;
}

interface ChunkTask {
  table: TableInfo;
  index: number;
  range: KeyRange;
  /** Only count rows (fast mode: the whole table's count). */
  countOnly: boolean;
}

/** Small tables hashed whole in one statement per side. */
interface BundleTask {
  bundle: TableInfo[];
}

type VerifyTask = ChunkTask | BundleTask;

/**
 * A plain table up to this size (heap + TOAST) that cannot hold more than one chunk of
 * rows is hashed whole in a bundle: its one chunk would be the whole table anyway, and
 * its own statements (key bounds, count, chunk) cost more round trips than hashing it.
 */
const BUNDLE_TABLE_BYTES = 1024 * 1024;
/** Fewest bytes a heap row takes (23-byte header, aligned, and its 4-byte line pointer): heap bytes / this bounds the rows. */
const MIN_HEAP_ROW_BYTES = 28;
/** A bundle stops at this many tables or bytes, so the jobs share the bundles. */
const BUNDLE_MAX_TABLES = 50;
const BUNDLE_MAX_BYTES = 8 * 1024 * 1024;

interface ChunkResult {
  index: number;
  range: KeyRange;
  source: ChunkSum;
  target: ChunkSum;
}

/** Compare every user table and sequence of source and target. */
export async function verifyDatabases(opts: VerifyOptions): Promise<VerifyReport> {
  return (await compareDatabases(opts)).report;
}

/**
 * A table whose rows differ, with what to copy again to repair it (verify/repair.ts): the
 * differing key ranges, or the whole table (no key, or only its count differed).
 */
export interface DifferingTable {
  table: TableInfo;
  /** undefined: the whole table. */
  ranges?: KeyRange[];
}

/** What differs where, beside the report: the repair needs the ranges, which the report does not print. */
export interface Comparison {
  report: VerifyReport;
  differing: DifferingTable[];
}

/** verifyDatabases, also returning the differing tables and ranges; `only` limits it to some tables (by name). */
export async function compareDatabases(opts: VerifyOptions & { only?: string[] }): Promise<Comparison> {
  const started = Date.now();
  const jobs = Math.max(1, opts.jobs ?? defaultJobs(os.cpus().length));
  const chunkRows = Math.max(1, opts.chunkRows ?? DEFAULT_CHUNK_ROWS);
  const fast = opts.fast === true;
  const snapshots = await exportBoth(opts);
  // With a plan every hashed range is small and read through the key's index. A target
  // that was never analyzed (a logical subscriber after its initial sync) may otherwise
  // plan a scan of a whole table (or partition) for a 5,000-row range.
  const pairs = keptPairs(() => openPairIn(opts, snapshots, fast && opts.plan !== undefined));
  try {
    const [source, target] = snapshots;
    const [sourceTables, targetTables] = await Promise.all([listTables(source.client), listTables(target.client)]);
    // On the snapshot holders, which the chunk work below does not use: read meanwhile (a catalog read, 30-100 ms under load).
    const privilegesRead = verifyPrivileges(source.client, target.client);
    privilegesRead.catch(() => undefined); // awaited below; not an unhandled rejection if a chunk fails first
    const wanted = (t: TableInfo) => !opts.only || opts.only.includes(displayName(t));
    const { tables, mismatched } = matchTables(sourceTables.filter(wanted), targetTables.filter(wanted));

    const small = new Set(tables.filter((t) => bundled(t, chunkRows)));
    const chunked = tables.filter((t) => !small.has(t));
    const planned = fast ? opts.plan?.ranges : undefined;
    const { ranges, splits } = await splitKeys(chunked, planned, fast, chunkRows, jobs, pairs.at);

    // Left uncounted only: a table bigger than countMaxBytes whose key grows at its end
    // (integer or timestamp first) and whose ranges come from a plan read before the
    // window: the plan's open last range holds every row inserted since, so the newest
    // rows are all counted and hashed. Without a plan every table is counted.
    const plannedBytes = (t: TableInfo) => opts.plan?.bytes.get(displayName(t));
    const uncounted = (t: TableInfo) =>
      fast && opts.countMaxBytes !== undefined && keyGrowsAtEnd(t) && ranges.get(t.oid) === planned?.get(displayName(t)) &&
      (plannedBytes(t) ?? 0) > opts.countMaxBytes;
    const results = fast
      ? await hashSampled([...chunkTasks(chunked, ranges, opts.sampleChunks ?? 2, uncounted), ...bundles([...small], jobs)], jobs, pairs.at)
      : await hashAll(fullPlan(chunked, [...small], ranges, splits, jobs), await Promise.all([
        sideOf(sourceTables, tables, { jobs, sliceBytes: opts.sliceBytes, connection: (i) => pairs.at(i).then((p) => p.source) }),
        sideOf(targetTables, tables, { jobs, sliceBytes: opts.sliceBytes, connection: (i) => pairs.at(i).then((p) => p.target) }),
      ]));

    const rangeCount = (t: TableInfo) => ranges.get(t.oid)?.length ?? 1;
    const reports = await tableReports(tables, results, fast, uncounted, jobs, (p, t, range) => locateDifference(p, t, range, opts.narrowRows), pairs.at, rangeCount);
    reports.push(...mismatched);
    reports.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));

    // The privileges read is on the same clients: done before they list the sequences
    // (one query at a time per connection).
    const privileges = await privilegesRead;
    const sequences = compareSequences(...(await Promise.all([listSequences(source.client), listSequences(target.client)])));
    const ok = reports.every((r) => r.ok) && sequences.every((s) => s.ok) && privileges.ok;
    if (!opts.showKeys) for (const r of reports) hideBounds(r);
    const report = { ok, durationMs: Date.now() - started, fast, tables: reports, sequences, privileges, firstDifference: ok ? undefined : describeFirst(reports, sequences, privileges) };
    return { report, differing: differingTables(tables, results) };
  } finally {
    await pairs.close();
    await Promise.all(snapshots.map((s) => s.release()));
  }
}

/** Both sides' snapshots, exported at once; on a failure neither is left open. */
async function exportBoth(opts: VerifyOptions): Promise<SharedSnapshot[]> {
  const target = opts.targetSnapshot ? Promise.resolve(keptByCaller(opts.targetSnapshot)) : exportSnapshot(opts.targetUrl, "ferry-verify");
  const exported = await Promise.allSettled([exportSnapshot(opts.sourceUrl, "ferry-verify"), target]);
  const failed = exported.find((e): e is PromiseRejectedResult => e.status === "rejected");
  if (failed) {
    await Promise.all(exported.map((e) => (e.status === "fulfilled" ? e.value.release() : undefined)));
    throw failed.reason;
  }
  return exported.map((e) => (e as PromiseFulfilledResult<SharedSnapshot>).value);
}

/** The caller's snapshot, used here and released by the caller (it outlives this comparison). */
const keptByCaller = (snapshot: SharedSnapshot): SharedSnapshot => ({ ...snapshot, release: async () => undefined });

/**
 * Up to `jobs` connection pairs, each opened when a pool first asks for it and kept for
 * every phase after (key ranges, hashing, narrowing): a connection costs the servers
 * about as much CPU as hashing 40,000 rows (authentication, a fresh backend's caches).
 */
function keptPairs(open: () => Promise<Pair>): { at: (index: number) => Promise<Pair>; close: () => Promise<void> } {
  const opened = new Map<number, Promise<Pair>>();
  const at = (index: number): Promise<Pair> => {
    if (!opened.has(index)) opened.set(index, open());
    return opened.get(index)!;
  };
  const close = async () => {
    await Promise.all([...opened.values()].map((p) => p.then(closePair, () => undefined)));
  };
  return { at, close };
}

/**
 * Each keyed table's key ranges, read on the source (fast mode: a plan's where it has
 * them, and only the edges of a non-integer key). In a full verify an integer key's
 * ranges come with their arithmetic (`splits`), which lets a sequential scan sum rows
 * into them.
 */
async function splitKeys(
  chunked: TableInfo[], planned: Map<string, KeyRange[]> | undefined, fast: boolean, chunkRows: number, jobs: number, pairAt: (index: number) => Promise<Pair>,
): Promise<{ ranges: Map<number, KeyRange[]>; splits: Map<number, IntegerSplit | undefined> }> {
  const ranges = new Map<number, KeyRange[]>();
  const splits = new Map<number, IntegerSplit | undefined>();
  for (const t of chunked) {
    const known = planned?.get(displayName(t));
    if (known && t.primaryKey.length) ranges.set(t.oid, known);
  }
  await runPool(chunked.filter((t) => t.primaryKey.length && !ranges.has(t.oid)), jobs, pairAt, async (p, t) => {
    if (!fast && hasIntegerKey(t)) {
      const split = await integerSplit(p.source, t, chunkRows);
      splits.set(t.oid, split);
      ranges.set(t.oid, splitRanges(split));
      return;
    }
    const edgesOnly = fast && !hasIntegerKey(t);
    ranges.set(t.oid, await (edgesOnly ? edgeRanges(p.source, t, chunkRows) : keyRanges(p.source, t, chunkRows)));
  }, keep);
  return { ranges, splits };
}

const keep = async (): Promise<void> => undefined;

/** Hashed by slices of its heap in a full verify: a plain table keyed by one integer column, or without a key. */
const sliceable = (t: TableInfo): boolean => t.kind === "r" && (!t.primaryKey.length || hasIntegerKey(t));

/** A full verify's plan: sliceable tables by heap slices, other keys range by range, small tables in bundles. */
function fullPlan(chunked: TableInfo[], small: TableInfo[], ranges: Map<number, KeyRange[]>, splits: Map<number, IntegerSplit | undefined>, jobs: number): HashPlan {
  return {
    sliced: chunked.filter(sliceable).map((table) => ({ table, split: splits.get(table.oid) })),
    ranged: chunked.filter((t) => !sliceable(t)).map((table) => ({ table, ranges: ranges.get(table.oid) ?? [{}] })),
    bundles: bundles(small, jobs).map((b) => b.bundle),
  };
}

/**
 * A side as hashSide reads it: its connections, its own heap sizes (under the source's oids), block size and
 * version, read on its first job's connection (the snapshot holder is busy reading privileges meanwhile).
 */
async function sideOf(sideTables: TableInfo[], tables: TableInfo[], use: Pick<Side, "jobs" | "sliceBytes" | "connection">): Promise<Side> {
  const c = await use.connection(0);
  const { rows } = await c.query<{ b: string; v: string }>("SELECT current_setting('block_size') AS b, current_setting('server_version_num') AS v");
  const byName = new Map(sideTables.map((t) => [displayName(t), t]));
  const heapBytes = new Map(tables.map((t) => [t.oid, byName.get(displayName(t))?.heapBytes ?? 0]));
  return { ...use, heapBytes, blockSize: Number(rows[0].b), canSplitByCtid: Number(rows[0].v) >= 140000 };
}

/** Full verify: both sides hash every row at once, each on its own connections; their sums per key range side by side. */
async function hashAll(plan: HashPlan, [source, target]: Side[]): Promise<Map<number, ChunkResult[]>> {
  const [s, t] = await Promise.all([hashSide(source, plan), hashSide(target, plan)]);
  const results = new Map<number, ChunkResult[]>();
  const compared: { table: TableInfo; ranges: KeyRange[] }[] = [
    ...plan.sliced.map(({ table, split }) => ({ table, ranges: splitRanges(split) })),
    ...plan.ranged,
    ...plan.bundles.flat().map((table) => ({ table, ranges: [{}] })),
  ];
  for (const { table, ranges } of compared) {
    results.set(table.oid, ranges.map((range, index) => ({ index, range, source: sumsAt(s, table, index), target: sumsAt(t, table, index) })));
  }
  return results;
}

/** Fast verify: the sampled chunks and counts, each statement run on both sides of a pair at once. */
async function hashSampled(tasks: VerifyTask[], jobs: number, pairAt: (index: number) => Promise<Pair>): Promise<Map<number, ChunkResult[]>> {
  const results = new Map<number, ChunkResult[]>();
  const record = (table: TableInfo, result: ChunkResult) => {
    const list = results.get(table.oid) ?? [];
    list.push(result);
    results.set(table.oid, list);
  };
  await runPool(tasks, jobs, pairAt, async (p, task) => {
    if ("bundle" in task) {
      const [s, t] = await Promise.all([tableSums(p.source, task.bundle), tableSums(p.target, task.bundle)]);
      task.bundle.forEach((table, i) => record(table, { index: 0, range: {}, source: s[i], target: t[i] }));
      return;
    }
    const run = (c: Client): Promise<ChunkSum> =>
      task.countOnly ? countRows(c, task.table).then((rows) => ({ rows, sum: "" })) : chunkSum(c, task.table, task.range);
    const [s, t] = await Promise.all([run(p.source), run(p.target)]);
    record(task.table, { index: task.index, range: task.range, source: s, target: t });
  }, keep);
  return results;
}

/**
 * Before a cutover's fence: the source's key ranges for the in-window fast verify,
 * read outside the window (a composite or non-integer key costs a scan of its index
 * here). While replicating, new rows land at the end of most keys: the plan's last
 * range is open, so every row written after the plan is in it and is hashed.
 */
export async function planFastVerify(sourceUrl: string, chunkRows: number, jobs?: number): Promise<FastVerifyPlan> {
  const started = Date.now();
  const open = () => openComparingSession(sourceUrl, "ferry-verify");
  const first = await open();
  let tables: TableInfo[];
  try {
    tables = comparable(await listTables(first)).filter((t) => t.primaryKey.length);
  } finally {
    await first.end().catch(() => undefined);
  }
  const ranges = new Map<string, KeyRange[]>();
  const bytes = new Map<string, number>();
  await runPool([...tables].sort((a, b) => b.totalBytes - a.totalBytes), Math.max(1, jobs ?? 2), open, async (c, t) => {
    ranges.set(displayName(t), await keyRanges(c, t, chunkRows));
    const { rows } = await c.query<{ b: string }>("SELECT coalesce(sum(pg_total_relation_size(r)), 0)::text AS b FROM (SELECT relid AS r FROM pg_partition_tree($1::oid) UNION SELECT $1::oid::regclass) s", [t.oid]);
    bytes.set(displayName(t), Number(rows[0].b));
  }, (c) => c.end().catch(() => undefined));
  return { chunkRows, ranges, bytes, durationMs: Date.now() - started };
}

/** Tables compared as users see them: plain tables, and partitioned tables through their root. */
function comparable(tables: TableInfo[]): TableInfo[] {
  return tables.filter((t) => !t.isPartition);
}

/**
 * The tables both sides have with the same columns (to be hashed), and reports for
 * the rest: on one side only, or with different columns (DDL on one side).
 */
function matchTables(sourceTables: TableInfo[], targetTables: TableInfo[]): { tables: TableInfo[]; mismatched: TableReport[] } {
  const onSource = new Map(comparable(sourceTables).map((t) => [displayName(t), t]));
  const onTarget = new Map(comparable(targetTables).map((t) => [displayName(t), t]));
  const tables: TableInfo[] = [];
  const mismatched: TableReport[] = [];
  for (const [name, s] of onSource) {
    const t = onTarget.get(name);
    if (!t) mismatched.push(missingTable(name, "target"));
    else if (columnsOf(s) !== columnsOf(t)) mismatched.push(columnsDiffer(s, t));
    else tables.push(s);
  }
  for (const name of onTarget.keys()) if (!onSource.has(name)) mismatched.push(missingTable(name, "source"));
  return { tables, mismatched };
}

async function openPairIn(opts: VerifyOptions, [source, target]: SharedSnapshot[], preferIndex = false): Promise<Pair> {
  const [s, t] = await Promise.all([connectInSnapshot(opts.sourceUrl, source, "ferry-verify"), connectInSnapshot(opts.targetUrl, target, "ferry-verify")]);
  await Promise.all([normalizeSession(s), normalizeSession(t)]);
  // enable_seqscan = off works by adding a huge cost to every seq scan, and a plan that
  // costly crosses jit_above_cost: a keyless or whole-table hash would then spend 50-170 ms
  // compiling a few-millisecond query. JIT goes off with it.
  const indexOnly = "SET enable_seqscan = off; SET jit = off";
  if (preferIndex) await Promise.all([s.query(indexOnly), t.query(indexOnly)]);
  return { source: s, target: t };
}

async function closePair(p: Pair): Promise<void> {
  await Promise.all([p.source.end().catch(() => undefined), p.target.end().catch(() => undefined)]);
}

/**
 * Hashed whole in a bundle: a small plain table that cannot hold more than `chunkRows`
 * rows (whatever its possibly stale statistics say), hashed under the session's search_path.
 */
const bundled = (t: TableInfo, chunkRows: number): boolean =>
  t.kind === "r" && t.totalBytes <= BUNDLE_TABLE_BYTES && t.heapBytes / MIN_HEAP_ROW_BYTES <= chunkRows && !t.columns.some((c) => c.oidAlias);

/** Small tables in bundles of at most BUNDLE_MAX_TABLES tables and BUNDLE_MAX_BYTES, at least one per job while there are tables. */
export function bundles(tables: TableInfo[], jobs: number): BundleTask[] {
  const maxTables = Math.max(1, Math.min(BUNDLE_MAX_TABLES, Math.ceil(tables.length / jobs)));
  const out: BundleTask[] = [];
  let current: TableInfo[] = [];
  let bytes = 0;
  for (const t of tables) {
    if (current.length && (current.length >= maxTables || bytes + t.totalBytes > BUNDLE_MAX_BYTES)) {
      out.push({ bundle: current });
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += t.totalBytes;
  }
  if (current.length) out.push({ bundle: current });
  return out;
}

/** Fast verify's chunk jobs, biggest tables first: every table counted (but uncounted ones), sampled ranges hashed. */
function chunkTasks(tables: TableInfo[], ranges: Map<number, KeyRange[]>, samples: number, uncounted: (t: TableInfo) => boolean): ChunkTask[] {
  const tasks: ChunkTask[] = [];
  for (const table of [...tables].sort((a, b) => b.totalBytes - a.totalBytes)) {
    const all = ranges.get(table.oid) ?? [{}];
    if (!uncounted(table)) tasks.push({ table, index: -1, range: {}, countOnly: true });
    if (!table.primaryKey.length) continue;
    for (const index of sampleIndexes(all.length, samples)) tasks.push({ table, index, range: all[index], countOnly: false });
  }
  return tasks;
}

/** First and last chunk (the newest rows live at the end of most keys) plus `samples` random ones. */
export function sampleIndexes(count: number, samples: number): number[] {
  const picked = new Set([0, count - 1]);
  const middle = Math.max(0, count - 2);
  for (let i = 0; i < Math.min(samples, middle); i++) {
    let pick = 1 + Math.floor(Math.random() * middle);
    while (picked.has(pick)) pick = 1 + (pick % middle);
    picked.add(pick);
  }
  return [...picked].sort((a, b) => a - b);
}

const differs = (r: ChunkResult) => r.source.rows !== r.target.rows || r.source.sum !== r.target.sum;

/** Per table: totals, and for a differing table the first differing chunk narrowed to a key. */
async function tableReports(
  tables: TableInfo[],
  results: Map<number, ChunkResult[]>,
  fast: boolean,
  uncounted: (t: TableInfo) => boolean,
  jobs: number,
  locate: (p: Pair, table: TableInfo, range: KeyRange) => Promise<LocatedDifference>,
  pairAt: (index: number) => Promise<Pair>,
  rangeCount: (t: TableInfo) => number,
): Promise<TableReport[]> {
  const reports: TableReport[] = [];
  const toLocate: { table: TableInfo; report: TableReport; range: KeyRange; index: number }[] = [];
  for (const table of tables) {
    const list = (results.get(table.oid) ?? []).sort((a, b) => a.index - b.index);
    const counted = fast ? list.find((r) => r.index === -1) : undefined;
    const hashed = list.filter((r) => r.index >= 0);
    const sum = (side: "source" | "target") => (counted ? counted[side].rows : hashed.reduce((n, r) => n + r[side].rows, 0));
    const bad = list.filter(differs);
    const report: TableReport = {
      table: displayName(table), sourceRows: sum("source"), targetRows: sum("target"), ok: bad.length === 0,
      chunks: Math.max(1, hashed.length), differingChunks: bad.length, ...(uncounted(table) ? { counted: false } : {}),
    };
    reports.push(report);
    if (!bad.length) continue;
    const firstKeyed = bad.find((r) => r.index >= 0);
    if (!table.primaryKey.length || !firstKeyed) {
      report.firstDifference = { from: "(start)", to: "(end)", kind: "whole table" };
    } else {
      toLocate.push({ table, report, range: firstKeyed.range, index: firstKeyed.index });
    }
  }
  await runPool(toLocate, jobs, pairAt, async (p, item) => {
    const found = await locate(p, item.table, item.range);
    const range = { index: item.index + 1, of: rangeCount(item.table) };
    item.report.firstDifference = found.key
      ? { from: showKey(found.key), to: showKey(found.key), kind: found.kind, range, keyHash: keyHash(item.report.table, found.key) }
      : { from: found.range.lower ? showKey(found.range.lower) : "(start)", to: found.range.upper ? showKey(found.range.upper) : "(end)", range };
  }, keep);
  return reports;
}

/** The tables whose compared rows differ: their differing ranges, or the whole table. */
function differingTables(tables: TableInfo[], results: Map<number, ChunkResult[]>): DifferingTable[] {
  const out: DifferingTable[] = [];
  for (const table of tables) {
    const bad = (results.get(table.oid) ?? []).filter(differs);
    if (!bad.length) continue;
    const whole = !table.primaryKey.length || bad.some((r) => r.index < 0);
    out.push(whole ? { table } : { table, ranges: bad.map((r) => r.range) });
  }
  return out;
}

/** A key's hash, the same for the same key of the same table in every run (docs/postgres-copy-verify.md). */
export const keyHash = (table: string, key: string[]): string => createHash("sha256").update(`${table}\u0000${JSON.stringify(key)}`).digest("hex").slice(0, 12);

/** Without showKeys, no key value leaves verify: the bounds go, position and hash stay. */
function hideBounds(r: TableReport): void {
  if (!r.firstDifference) return;
  delete r.firstDifference.from;
  delete r.firstDifference.to;
}

const showKey = (key: string[]): string => (key.length === 1 ? key[0] : `(${key.join(", ")})`);

function missingTable(table: string, side: "source" | "target"): TableReport {
  return { table, sourceRows: 0, targetRows: 0, ok: false, chunks: 0, differingChunks: 0, firstDifference: { from: "(start)", to: "(end)", kind: `table missing on ${side}` } };
}

const columnsOf = (t: TableInfo): string => t.columns.map((c) => `${c.name} ${c.type}`).sort().join(", ");

function columnsDiffer(source: TableInfo, target: TableInfo): TableReport {
  const detail = `columns differ: source (${columnsOf(source)}), target (${columnsOf(target)})`;
  return { table: displayName(source), sourceRows: 0, targetRows: 0, ok: false, chunks: 0, differingChunks: 0, firstDifference: { from: "(start)", to: "(end)", kind: "columns differ", detail } };
}

/** The effective last value of a sequence: what nextval returned last, or one step before what it returns next. */
function sequenceValue(s: SequenceInfo): bigint {
  return s.isCalled ? BigInt(s.lastValue) : BigInt(s.lastValue) - BigInt(s.increment);
}

/** A target sequence may be ahead of the source (writes after cutover), never behind. */
export function compareSequences(source: SequenceInfo[], target: SequenceInfo[]): SequenceReport[] {
  const byName = new Map(target.map((s) => [displayName(s), s]));
  return source.map((s) => {
    const t = byName.get(displayName(s));
    const sv = sequenceValue(s);
    if (!t) return { sequence: displayName(s), source: Number(sv), target: NaN, ok: false };
    const tv = sequenceValue(t);
    const ascending = BigInt(s.increment) > 0n;
    return { sequence: displayName(s), source: Number(sv), target: Number(tv), ok: ascending ? tv >= sv : tv <= sv };
  });
}

/** One table's difference in words: with its key where the report holds one (showKeys), else its range and hash. */
export function describeDifference(t: TableReport): string {
  const d = t.firstDifference;
  const counts = `${t.sourceRows} rows on source, ${t.targetRows} on target`;
  if (!d) return `${t.table}: differs (${counts})`;
  if (d.kind?.startsWith("table missing")) return `${t.table}: ${d.kind}`;
  if (d.kind === "columns differ") return `${t.table}: ${d.detail}`;
  if (d.kind === "whole table") return `${t.table}: whole table differs (no key range to narrow to; ${counts})`;
  const where = d.range ? `key range ${d.range.index} of ${d.range.of}` : "a key range";
  if (d.keyHash) {
    return d.from !== undefined
      ? `${t.table}: row with key ${d.from} ${d.kind ?? "differs"} (${counts})`
      : `${t.table}: a row ${d.kind ?? "differs"} (key hash ${d.keyHash}, in ${where}; ${counts})`;
  }
  return d.from !== undefined
    ? `${t.table}: rows in key range [${d.from}, ${d.to}) differ (${counts})`
    : `${t.table}: rows in ${where} differ (${counts})`;
}

function describeFirst(tables: TableReport[], sequences: SequenceReport[], privileges: PrivilegeReport): string {
  const t = tables.find((r) => !r.ok);
  if (t) return describeDifference(t);
  if (!privileges.ok && sequences.every((r) => r.ok)) {
    return `privileges differ: ${privileges.differences[0]}${privileges.differences.length > 1 ? ` (and ${privileges.differences.length - 1} more)` : ""}`;
  }
  const s = sequences.find((r) => !r.ok)!;
  return Number.isNaN(s.target)
    ? `sequence ${s.sequence} is missing on target`
    : `sequence ${s.sequence}: target at ${s.target} is behind source at ${s.source}`;
}
