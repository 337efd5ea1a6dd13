// Locating a difference inside a chunk whose sums disagree: halve the key range at
// the median key until at most `rowLimit` rows remain, then compare row by row
// (key and row hash) to name the first differing key and what happened to it.
import { Client } from "pg";
import { TableInfo } from "../copy-catalog";
import { ChunkSum, chunkSum, fromTable, hashingQuery, keyColumnsText, KeyRange, keyOf, orderByKey, rangeWhere, rowHash } from "./verify-sql";

export type DifferenceKind = "changed" | "missing on target" | "extra on target" | "order differs";

export interface LocatedDifference {
  range: KeyRange;
  /** The first differing key, when the row-by-row comparison found one. */
  key?: string[];
  kind?: DifferenceKind;
}

interface Sides {
  source: Client;
  target: Client;
}

const ROW_LIMIT = 10_000;
const MAX_HALVINGS = 64;

/** Narrow a differing `range` of `table` down to the first differing key. */
export async function locateDifference(sides: Sides, table: TableInfo, range: KeyRange, rowLimit = ROW_LIMIT): Promise<LocatedDifference> {
  let current = range;
  let [src, tgt] = await Promise.all([chunkSum(sides.source, table, current), chunkSum(sides.target, table, current)]);
  for (let i = 0; i < MAX_HALVINGS && Math.max(src.rows, tgt.rows) > rowLimit; i++) {
    const bigger = src.rows >= tgt.rows ? sides.source : sides.target;
    const mid = await medianKey(bigger, table, current, Math.floor(Math.max(src.rows, tgt.rows) / 2));
    if (!mid) break;
    const left: KeyRange = { lower: current.lower, upper: mid };
    const [ls, lt] = await Promise.all([chunkSum(sides.source, table, left), chunkSum(sides.target, table, left)]);
    if (ls.rows !== lt.rows || ls.sum !== lt.sum) {
      current = left;
      [src, tgt] = [ls, lt];
    } else {
      // The right half's sums follow from the whole's minus the left's: no second scan.
      current = { lower: mid, upper: current.upper };
      [src, tgt] = [minus(src, ls), minus(tgt, lt)];
    }
  }
  const found = await firstDifferingRow(sides, table, current);
  return { range: current, ...found };
}

const minus = (whole: ChunkSum, part: ChunkSum): ChunkSum => ({ rows: whole.rows - part.rows, sum: (BigInt(whole.sum) - BigInt(part.sum)).toString() });

async function medianKey(c: Client, table: TableInfo, range: KeyRange, offset: number): Promise<string[] | undefined> {
  const pk = table.primaryKey;
  const where = rangeWhere(pk, range);
  const { rows } = await c.query(
    `SELECT ${keyColumnsText(pk)} FROM ${fromTable(table)}${where.sql} ORDER BY ${orderByKey(pk)} OFFSET ${offset} LIMIT 1`,
    where.params,
  );
  return rows.length ? keyOf(rows[0], table.primaryKey) : undefined;
}

/**
 * Walk both sides' rows of a small range in key order. Membership sets decide
 * which side a key is missing from, so no comparator has to match the database's
 * collation.
 */
async function firstDifferingRow(sides: Sides, table: TableInfo, range: KeyRange): Promise<{ key?: string[]; kind?: DifferenceKind }> {
  const pk = table.primaryKey;
  const where = rangeWhere(pk, range);
  const sql = `SELECT ${keyColumnsText(pk)}, ${rowHash(table)}::text AS h FROM ${fromTable(table)}${where.sql} ORDER BY ${orderByKey(pk)}`;
  const read = (c: Client) => hashingQuery(c, table, () => c.query(sql, where.params));
  const [s, t] = await Promise.all([read(sides.source), read(sides.target)]);
  const id = (r: Record<string, unknown>) => JSON.stringify(keyOf(r, pk));
  const inSource = new Set(s.rows.map(id));
  const inTarget = new Set(t.rows.map(id));
  let i = 0;
  let j = 0;
  while (i < s.rows.length || j < t.rows.length) {
    const a = s.rows[i];
    const b = t.rows[j];
    if (a && b && id(a) === id(b)) {
      if (a.h !== b.h) return { key: keyOf(a, pk), kind: "changed" };
      i++;
      j++;
    } else if (a && !inTarget.has(id(a))) {
      return { key: keyOf(a, pk), kind: "missing on target" };
    } else if (b && !inSource.has(id(b))) {
      return { key: keyOf(b, pk), kind: "extra on target" };
    } else {
      // Both keys exist on both sides yet come in a different order: the collations differ.
      return { key: keyOf(a ?? b, pk), kind: "order differs" };
    }
  }
  return {};
}
