// Logical replication does not carry sequences: without this step the first insert on
// the target after cutover collides with an existing id. Every sequence (serial-owned,
// identity, and free-standing ones used through a default) is set on the target to at
// least the source's value, and owned ones also to at least the largest value in their
// column (rows inserted with explicit ids never moved the sequence).
import { Client } from "pg";
import { qualified, quoteIdent } from "./connection";
import { listSequences } from "./copy-catalog";

export interface SequenceSync {
  sequence: string;
  source: string | null;
  /** The target's value after the sync. */
  target: string | null;
}

/** Largest value of each owned/identity column on the target, by `schema.sequence`. */
async function ownedColumnMax(target: Client): Promise<Map<string, string>> {
  const { rows } = await target.query<{ seq_schema: string; seq: string; tbl_schema: string; tbl: string; col: string }>(`
    SELECT sn.nspname AS seq_schema, s.relname AS seq, tn.nspname AS tbl_schema, t.relname AS tbl, a.attname AS col
    FROM pg_depend d
    JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
    JOIN pg_namespace sn ON sn.oid = s.relnamespace
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      AND t.relkind IN ('r', 'p')`);
  const result = new Map<string, string>();
  for (const r of rows) {
    const { rows: m } = await target.query<{ max: string | null }>(`SELECT max(${quoteIdent(r.col)})::text AS max FROM ${qualified(r.tbl_schema, r.tbl)}`);
    if (m[0].max !== null) result.set(`${r.seq_schema}.${r.seq}`, m[0].max);
  }
  return result;
}

const big = (v: string | null | undefined) => (v === null || v === undefined ? null : BigInt(v));

/**
 * setval every sequence on the target to max(source value, target value, column max).
 * Descending sequences (negative increment) get the minimum instead.
 */
export async function syncSequences(source: Client, target: Client): Promise<SequenceSync[]> {
  const sourceSeqs = await listSequences(source);
  const targetSeqs = new Map((await listSequences(target)).map((s) => [`${s.schema}.${s.name}`, s]));
  const columnMax = await ownedColumnMax(target);
  const missing = sourceSeqs.filter((s) => !targetSeqs.has(`${s.schema}.${s.name}`)).map((s) => `${s.schema}.${s.name}`);
  if (missing.length) throw new Error(`sequence(s) missing on the target: ${missing.join(", ")}`);
  const result: SequenceSync[] = [];
  for (const s of sourceSeqs) {
    const key = `${s.schema}.${s.name}`;
    const descending = BigInt(s.increment) < 0n;
    const candidates = [big(s.lastValue), big(targetSeqs.get(key)!.lastValue), big(columnMax.get(key))].filter((v): v is bigint => v !== null);
    if (!candidates.length) {
      result.push({ sequence: key, source: null, target: null });
      continue;
    }
    const value = candidates.reduce((a, b) => (descending ? (b < a ? b : a) : b > a ? b : a));
    await target.query("SELECT setval($1::regclass, $2::int8, true)", [qualified(s.schema, s.name), value.toString()]);
    result.push({ sequence: key, source: s.lastValue, target: value.toString() });
  }
  return result;
}
