// How the rows are cut into jobs. Each table is COPYed on its own; a table bigger
// than `splitBytes` is cut into ranges of heap blocks (ctid ranges, answered by a
// TID range scan since PostgreSQL 14) so one huge table keeps several connections
// busy. Jobs are ordered biggest first so the last job to finish is a small one.
import { qualified, quoteIdent } from "../connection";
import { Column, TableInfo } from "../copy-catalog";

export interface CopyChunk {
  table: TableInfo;
  /** The columns COPY moves: all but generated ones, which the target computes. */
  columns: Column[];
  /** A ctid range predicate, or undefined for the whole table. */
  where?: string;
  part: number;
  parts: number;
  /** Share of the table's bytes this chunk is expected to move. */
  estimatedBytes: number;
  binary: boolean;
}

export interface PlanOptions {
  splitBytes: number;
  maxPartsPerTable: number;
  blockSize: number;
  /** TID range scans exist (PostgreSQL 14+); without them a ctid range reads the whole table. */
  canSplitByCtid: boolean;
  /** Source and target share a major version, so binary COPY is safe for built-in types. */
  sameMajorVersion: boolean;
}

/** ctid predicates covering every block of a table in `parts` ranges; open at both ends. */
export function ctidRanges(blocks: number, parts: number): string[] {
  const step = Math.ceil(blocks / parts);
  const ranges: string[] = [];
  for (let i = 0; i < parts; i++) {
    const from = i * step;
    const to = (i + 1) * step;
    const lower = i === 0 ? "" : `ctid >= '(${from},0)'::tid`;
    // The last range is open: rows in blocks past the size read at planning time are still copied.
    const upper = i === parts - 1 ? "" : `ctid < '(${to},0)'::tid`;
    ranges.push([lower, upper].filter(Boolean).join(" AND "));
  }
  return ranges;
}

/** The copy jobs for `tables` (partitioned roots hold no rows: their partitions are copied). */
export function planChunks(tables: TableInfo[], opts: PlanOptions): CopyChunk[] {
  const chunks: CopyChunk[] = [];
  for (const table of tables) {
    if (table.kind !== "r") continue;
    const columns = table.columns.filter((c) => !c.generated);
    const binary = opts.sameMajorVersion && columns.every((c) => c.binarySafe);
    const blocks = Math.ceil(table.heapBytes / opts.blockSize);
    const parts = opts.canSplitByCtid ? Math.min(opts.maxPartsPerTable, Math.max(1, Math.ceil(table.heapBytes / opts.splitBytes)), Math.max(1, blocks)) : 1;
    const wheres = parts > 1 ? ctidRanges(blocks, parts) : [undefined];
    wheres.forEach((where, part) => {
      chunks.push({ table, columns, where, part, parts, estimatedBytes: Math.round(table.totalBytes / parts), binary });
    });
  }
  return chunks.sort((a, b) => b.estimatedBytes - a.estimatedBytes);
}

export function copyOutSql(chunk: CopyChunk): string {
  const cols = chunk.columns.map((c) => quoteIdent(c.name)).join(", ");
  const where = chunk.where ? ` WHERE ${chunk.where}` : "";
  return `COPY (SELECT ${cols} FROM ONLY ${qualified(chunk.table.schema, chunk.table.name)}${where}) TO STDOUT${chunk.binary ? " (FORMAT binary)" : ""}`;
}

/** A whole-table chunk is loaded right after a TRUNCATE in its transaction, so COPY can FREEZE the rows (no later rewrite for hint bits). */
export function copyInSql(chunk: CopyChunk): string {
  const cols = chunk.columns.length ? ` (${chunk.columns.map((c) => quoteIdent(c.name)).join(", ")})` : "";
  const options = [chunk.binary ? "FORMAT binary" : "", chunk.parts === 1 ? "FREEZE" : ""].filter(Boolean).join(", ");
  return `COPY ${qualified(chunk.table.schema, chunk.table.name)}${cols} FROM STDIN${options ? ` (${options})` : ""}`;
}
