// Logical replication does not carry sequences: without this step the first insert on
// the target after cutover collides with an existing id. Every sequence (serial-owned,
// identity, and free-standing ones used through a default) is set on the target to the
// source's state (last_value and is_called, as pg_dump restores it) or further: owned
// ones at least to the largest value in their column (smallest when descending; rows
// inserted with explicit ids never moved the sequence).
import { Client } from "pg";
import { qualified, quoteIdent } from "./connection";
import { displayName, listSequences, SequenceInfo } from "./copy-catalog";
import { crashPoint } from "./cutover/crash-points";

export interface SequenceSync {
  sequence: string;
  /** The source's last_value. */
  source: string;
  /** The target's last_value after the sync. */
  target: string;
}

/**
 * The furthest value of each owned/identity column on the target, by sequence name: the
 * largest, or for a descending sequence the smallest.
 */
async function ownedColumnMax(target: Client): Promise<Map<string, string>> {
  const { rows } = await target.query<{ seq_schema: string; seq: string; tbl_schema: string; tbl: string; col: string; descending: boolean }>(`
    SELECT sn.nspname AS seq_schema, s.relname AS seq, tn.nspname AS tbl_schema, t.relname AS tbl, a.attname AS col,
           sq.seqincrement < 0 AS descending
    FROM pg_depend d
    JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
    JOIN pg_sequence sq ON sq.seqrelid = s.oid
    JOIN pg_namespace sn ON sn.oid = s.relnamespace
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      AND t.relkind IN ('r', 'p')`);
  const result = new Map<string, string>();
  for (const r of rows) {
    const { rows: m } = await target.query<{ max: string | null }>(`SELECT ${r.descending ? "min" : "max"}(${quoteIdent(r.col)})::text AS max FROM ${qualified(r.tbl_schema, r.tbl)}`);
    if (m[0].max !== null) result.set(displayName({ schema: r.seq_schema, name: r.seq }), m[0].max);
  }
  return result;
}

/** A state setval can put a sequence in, and the value nextval returns after it. */
interface SequenceState {
  value: bigint;
  isCalled: boolean;
}

const nextOf = (s: SequenceState, increment: bigint): bigint => (s.isCalled ? s.value + increment : s.value);
const stateOf = (s: SequenceInfo): SequenceState => ({ value: BigInt(s.lastValue), isCalled: s.isCalled });

/**
 * The state whose next value is furthest along (highest, or lowest for a descending
 * sequence): the source's exactly as it is (so `setval(s, 500, false)` stays "500
 * next", as pg_dump restores it), unless the target or the column is already past it.
 */
export function furthestState(candidates: SequenceState[], increment: bigint): SequenceState {
  const ahead = (a: SequenceState, b: SequenceState) => (increment < 0n ? nextOf(a, increment) < nextOf(b, increment) : nextOf(a, increment) > nextOf(b, increment));
  return candidates.reduce((best, c) => (ahead(c, best) ? c : best));
}

/**
 * setval every sequence on the target to the furthest of: the source's state, the
 * target's, and (owned ones) the column's max. Descending sequences go the other way.
 */
export async function syncSequences(source: Client, target: Client): Promise<SequenceSync[]> {
  const sourceSeqs = await listSequences(source);
  const targetSeqs = new Map((await listSequences(target)).map((s) => [displayName(s), s]));
  const columnMax = await ownedColumnMax(target);
  const missing = sourceSeqs.filter((s) => !targetSeqs.has(displayName(s))).map(displayName);
  if (missing.length) throw new Error(`sequence(s) missing on the target: ${missing.join(", ")}`);
  const result: SequenceSync[] = [];
  for (const s of sourceSeqs) {
    const key = displayName(s);
    const max = columnMax.get(key);
    const candidates = [stateOf(s), stateOf(targetSeqs.get(key)!), ...(max === undefined ? [] : [{ value: BigInt(max), isCalled: true }])];
    const chosen = furthestState(candidates, BigInt(s.increment));
    await target.query("SELECT pg_catalog.setval($1::regclass, $2::int8, $3)", [qualified(s.schema, s.name), chosen.value.toString(), chosen.isCalled]);
    crashPoint("sequences:setval");
    result.push({ sequence: key, source: s.lastValue, target: chosen.value.toString() });
  }
  return result;
}
