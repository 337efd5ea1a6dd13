// The full verify's hashing, one side at a time and both sides at once: each server
// hashes its own rows on its own connections, and only a count and a hash sum per
// key range come back. Nothing pairs a source query with a target query, so neither
// side waits for the other.
//
// A table keyed by one integer column, or without a key, is read by a sequential scan
// that sums its rows into the key ranges they fall in (`sliceSums`): no index is
// walked. A very big one is read in slices of heap blocks (ctid ranges, a TID range
// scan since PostgreSQL 14); the sums of a side's slices add up to its ranges' sums
// whatever its physical layout, so each side slices its own heap. Other keys are
// hashed range by range through their index; small tables whole, many to a statement
// (`tableSums`).
import { Client } from "pg";
import { TableInfo } from "../copy-catalog";
import { ctidRanges } from "../copy/copy-plan";
import { runPool } from "../copy-pool";
import { ChunkSum, chunkSum, IntegerSplit, KeyRange, sliceSums, tableSums } from "./verify-sql";

/** What one side hashes: its connections, and its own table sizes and heap layout. */
export interface Side {
  /** Up to `jobs` connections in the side's snapshot, opened on first use and kept. */
  connection: (index: number) => Promise<Client>;
  jobs: number;
  /** Heap bytes per table (by the source's oid: both sides' tables are named by the source's TableInfo). */
  heapBytes: Map<number, number>;
  blockSize: number;
  /** TID range scans exist (PostgreSQL 14+); without them a ctid range reads the whole table. */
  canSplitByCtid: boolean;
  /** Heaps bigger than this are hashed in slices of it (default SLICE_BYTES). */
  sliceBytes?: number;
}

/** How each table is hashed: by slices of the heap (split: an integer key's ranges), by key range, or whole in a bundle. */
export interface HashPlan {
  sliced: { table: TableInfo; split?: IntegerSplit }[];
  ranged: { table: TableInfo; ranges: KeyRange[] }[];
  bundles: TableInfo[][];
}

type SideTask =
  | { table: TableInfo; split?: IntegerSplit; where?: string; bytes: number }
  | { table: TableInfo; index: number; range: KeyRange; bytes: number }
  | { bundle: TableInfo[]; bytes: number };

/** Sums per table (oid) and key range (index in key order). */
export type RangeSums = Map<number, Map<number, ChunkSum>>;

/**
 * A heap is read whole by one statement up to this size, and beyond it in slices of it.
 * A whole-table sequential scan of a table bigger than a quarter of shared_buffers reads
 * through a small ring of buffers: it neither evicts the app's cached pages (the source
 * still serves the app) nor maps the table's pages into the backend. A TID range scan
 * (a slice) does both. Here (a VM whose page faults are costly) a fresh backend's first
 * read of 130 MB of cached pages cost 0.4 CPU seconds more than its second. Slices
 * serve a table so big that one statement per side would be the verify's critical path.
 */
export const SLICE_BYTES = 4 * 1024 * 1024 * 1024;

/** Hash every table of `plan` on `side`; resolves with the sums per table and key range. */
export async function hashSide(side: Side, plan: HashPlan): Promise<RangeSums> {
  const sums: RangeSums = new Map();
  const add = (table: TableInfo, index: number, s: ChunkSum) => {
    const ranges = sums.get(table.oid) ?? new Map<number, ChunkSum>();
    const before = ranges.get(index);
    // Through BigInt also when alone: one range's sum text compares with another's added up.
    ranges.set(index, { rows: (before?.rows ?? 0) + s.rows, sum: (BigInt(before?.sum ?? 0) + BigInt(s.sum)).toString() });
    sums.set(table.oid, ranges);
  };
  const tasks = sideTasks(side, plan).sort((a, b) => b.bytes - a.bytes);
  await runPool(tasks, side.jobs, side.connection, async (c, task) => {
    if ("bundle" in task) {
      (await tableSums(c, task.bundle)).forEach((s, i) => add(task.bundle[i], 0, s));
    } else if ("range" in task) {
      add(task.table, task.index, await chunkSum(c, task.table, task.range));
    } else {
      for (const [index, s] of await sliceSums(c, task.table, task.split, task.where)) add(task.table, index, s);
    }
  }, async () => undefined);
  return sums;
}

/** The side's statements: its own slices of each sliced table's heap, every key range of the others, the bundles. */
export function sideTasks(side: Side, plan: HashPlan): SideTask[] {
  const tasks: SideTask[] = [];
  for (const { table, split } of plan.sliced) {
    const bytes = side.heapBytes.get(table.oid) ?? 0;
    const blocks = Math.ceil(bytes / side.blockSize);
    const parts = side.canSplitByCtid ? Math.max(1, Math.min(blocks, Math.ceil(bytes / (side.sliceBytes ?? SLICE_BYTES)))) : 1;
    const wheres = parts > 1 ? ctidRanges(blocks, parts) : [undefined];
    for (const where of wheres) tasks.push({ table, split, where, bytes: bytes / parts });
  }
  for (const { table, ranges } of plan.ranged) {
    ranges.forEach((range, index) => tasks.push({ table, index, range, bytes: table.totalBytes / ranges.length }));
  }
  for (const bundle of plan.bundles) tasks.push({ bundle, bytes: bundle.reduce((n, t) => n + t.totalBytes, 0) });
  return tasks;
}

/** A range's sums on one side; a range without rows there has none. */
export const sumsAt = (sums: RangeSums, table: TableInfo, index: number): ChunkSum => sums.get(table.oid)?.get(index) ?? { rows: 0, sum: "0" };
