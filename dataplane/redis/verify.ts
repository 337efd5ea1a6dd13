// `verify`: is the target equal to the source? Per database key counts first, then for
// every key (or a sampled percentage, chosen by a hash of the key so reruns check the
// same keys): type, TTL within a tolerance, and value. Values compare by DUMP payload
// when both sides return one and they match, otherwise by a chunked digest (digest.ts).
// Reads only; ferry's own state keys on the target are ignored.
import { createHash } from "node:crypto";
import Redis from "ioredis";
import { DbClients, Endpoint } from "./connection";
import { info } from "./info";
import { valueDigest } from "./digest";
import { KeySnapshot, readKeys } from "./read-keys";
import { isStateKey } from "./state";
import { dataKeyCounts } from "./data-keys";
import { keyLabel } from "./key-label";

export interface VerifyOptions {
  source: Endpoint;
  target: Endpoint;
  /** Percentage of keys whose values are compared (0-100). */
  samplePct: number;
  ttlToleranceMs: number;
  batchSize: number;
  /** How many differing keys to list (all are counted). */
  maxListed?: number;
  /** Print whole key names (a terminal, on purpose); otherwise namespace + fingerprint (key-label.ts). */
  showKeys?: boolean;
  /** Told every differing key by its whole name (the cutover compares them again inside its window). */
  onDifferent?: (db: number, key: Buffer) => void;
}

export interface KeyDifference {
  db: number;
  /** keyLabel(): `session:…#3f9a1c2b7d4e`, the whole name only with showKeys. */
  key: string;
  /** Never a value: what differs (type, TTL, "value differs", presence). */
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  dbs: Array<{ db: number; sourceKeys: number; targetKeys: number }>;
  checked: number;
  differingCount: number;
  differing: KeyDifference[];
}

/** Deterministic sample: the same keys are picked on every run. */
export function inSample(key: Buffer, pct: number): boolean {
  if (pct >= 100) return true;
  if (pct <= 0) return false;
  return createHash("md5").update(key).digest().readUInt32BE(0) % 10_000 < pct * 100;
}

export function verify(opts: VerifyOptions): Promise<VerifyResult> {
  return eachDatabase(opts, [], async (source, target, db, note) => {
    // Equal counts can hide a key missing here and another one extra there.
    await listTargetOnlyKeys(source, target, db, opts, note);
    return compareDb(source, target, db, opts, note);
  });
}

/**
 * Each database either side has (and `moreDbs`): `compare` notes its key differences and
 * returns how many keys it checked; then a key count that differs is noted when no key
 * difference in that database explains it, nor the keys with a TTL (explainedByExpiry).
 */
async function eachDatabase(
  opts: VerifyOptions,
  moreDbs: number[],
  compare: (source: Redis, target: Redis, db: number, note: (d: KeyDifference) => void) => Promise<number>,
): Promise<VerifyResult> {
  const source = new DbClients(opts.source);
  const target = new DbClients(opts.target);
  const { result, note } = tally(opts);
  try {
    const sourceCounts = await dataKeyCounts(source);
    const targetCounts = await dataKeyCounts(target);
    const expires = await Promise.all([volatileCounts(await source.db(0)), volatileCounts(await target.db(0))]);
    const dbs = [...new Set([...sourceCounts.keys(), ...targetCounts.keys(), ...moreDbs])].sort((a, b) => a - b);
    for (const db of dbs) {
      const counts = { db, sourceKeys: sourceCounts.get(db) ?? 0, targetKeys: targetCounts.get(db) ?? 0 };
      result.dbs.push(counts);
      const before = result.differingCount;
      result.checked += await compare(await source.db(db), await target.db(db), db, note);
      if (counts.sourceKeys !== counts.targetKeys && result.differingCount === before && !explainedByExpiry(counts, expires, db)) {
        note({ db, key: "*", reason: `key count differs: source ${counts.sourceKeys}, target ${counts.targetKeys}` });
      }
    }
  } finally {
    await source.close();
    await target.close();
  }
  result.ok = result.differingCount === 0;
  return result;
}

/** A result to fill, and how a difference is noted in it: every one counted, the first maxListed listed. */
function tally(opts: VerifyOptions): { result: VerifyResult; note: (d: KeyDifference) => void } {
  const result: VerifyResult = { ok: true, dbs: [], checked: 0, differingCount: 0, differing: [] };
  const maxListed = opts.maxListed ?? 50;
  const note = (d: KeyDifference) => {
    result.differingCount++;
    if (result.differing.length < maxListed) result.differing.push(d);
  };
  return { result, note };
}

async function compareDb(
  source: Redis,
  target: Redis,
  db: number,
  opts: VerifyOptions,
  note: (d: KeyDifference) => void,
): Promise<number> {
  let checked = 0;
  let cursor = "0";
  do {
    const [next, found] = (await source.callBuffer("SCAN", cursor, "COUNT", opts.batchSize)) as [Buffer, Buffer[]];
    cursor = next.toString();
    const keys = found.filter((k) => inSample(k, opts.samplePct) && !isStateKey(k));
    if (keys.length === 0) continue;
    checked += await compareKeys(source, target, db, keys, opts, note);
  } while (cursor !== "0");
  return checked;
}

async function compareKeys(source: Redis, target: Redis, db: number, keys: Buffer[], opts: VerifyOptions, note: (d: KeyDifference) => void): Promise<number> {
  const [a, b] = await Promise.all([readKeys(source, keys), readKeys(target, keys)]);
  for (let i = 0; i < keys.length; i++) {
    const reason = await compareKey(source, target, a[i], b[i], opts.ttlToleranceMs);
    if (!reason) continue;
    note({ db, key: keyLabel(keys[i], opts.showKeys), reason });
    opts.onDifferent?.(db, keys[i]);
  }
  return keys.length;
}

/**
 * Inside a cutover's window, after a full verify before it: only `keys` compared (the
 * ones that differed then, and every one changed on the source since), and each
 * database's key count. A key outside them was equal then and has not changed since.
 */
export function verifyKeys(opts: VerifyOptions, keys: Map<number, Buffer[]>): Promise<VerifyResult> {
  return eachDatabase(opts, [...keys.keys()], async (source, target, db, note) => {
    const listed = (keys.get(db) ?? []).filter((k) => inSample(k, opts.samplePct) && !isStateKey(k));
    let checked = 0;
    for (let i = 0; i < listed.length; i += opts.batchSize) {
      checked += await compareKeys(source, target, db, listed.slice(i, i + opts.batchSize), opts, note);
    }
    return checked;
  });
}

/** Why two snapshots of a key differ, or undefined when they agree. */
async function compareKey(source: Redis, target: Redis, a: KeySnapshot, b: KeySnapshot, toleranceMs: number): Promise<string | undefined> {
  const aboutToExpire = (s: KeySnapshot) => s.pttl >= 0 && s.pttl <= toleranceMs;
  if (a.type === "none" || b.type === "none") {
    if (a.type === b.type) return undefined; // expired/deleted on both sides meanwhile
    const present = a.type === "none" ? b : a;
    if (aboutToExpire(present)) return undefined;
    return a.type === "none" ? "exists only on the target" : "missing on the target";
  }
  if (a.type !== b.type) return `type differs: source ${a.type}, target ${b.type}`;
  if ((a.pttl < 0) !== (b.pttl < 0)) return `TTL differs: source ${a.pttl} ms, target ${b.pttl} ms`;
  if (a.pttl >= 0 && Math.abs(a.pttl - b.pttl) > toleranceMs) {
    return `TTL differs by more than ${toleranceMs} ms: source ${a.pttl} ms, target ${b.pttl} ms`;
  }
  if (a.dump && b.dump && a.dump.equals(b.dump)) return undefined;
  const [da, dbDigest] = await Promise.all([valueDigest(source, a.key, a.type), valueDigest(target, b.key, b.type)]);
  return da === dbDigest ? undefined : "value differs";
}

/** Keys with a TTL per database (INFO keyspace `expires=`). */
async function volatileCounts(client: Redis): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const [name, value] of Object.entries(await info(client, "keyspace"))) {
    const m = /^db(\d+)$/.exec(name);
    const n = /expires=(\d+)/.exec(value);
    if (m && n) counts.set(Number(m[1]), Number(n[1]));
  }
  return counts;
}

/**
 * DBSIZE still counts keys that expired but were not reclaimed yet, on either side. A
 * count gap no larger than the keys with a TTL, with every key compared equal, is that.
 */
function explainedByExpiry(counts: { db: number; sourceKeys: number; targetKeys: number }, expires: Map<number, number>[], db: number): boolean {
  const volatile = Math.max(expires[0].get(db) ?? 0, expires[1].get(db) ?? 0);
  return Math.abs(counts.sourceKeys - counts.targetKeys) <= volatile;
}

async function listTargetOnlyKeys(
  source: Redis,
  target: Redis,
  db: number,
  opts: VerifyOptions,
  note: (d: KeyDifference) => void,
): Promise<void> {
  let cursor = "0";
  do {
    const [next, found] = (await target.callBuffer("SCAN", cursor, "COUNT", opts.batchSize)) as [Buffer, Buffer[]];
    cursor = next.toString();
    const keys = found.filter((k) => !isStateKey(k) && inSample(k, opts.samplePct));
    const onSource = source.pipeline();
    for (const k of keys) onSource.callBuffer("EXISTS", k);
    const exists = ((await onSource.exec()) ?? []).map(([, n]) => n === 1);
    const onTarget = target.pipeline();
    for (const k of keys) onTarget.callBuffer("PTTL", k);
    const ttls = ((await onTarget.exec()) ?? []).map(([, t]) => Number(t));
    keys.forEach((k, i) => {
      const expiringAnyway = ttls[i] === -2 || (ttls[i] >= 0 && ttls[i] <= opts.ttlToleranceMs);
      if (exists[i] || expiringAnyway) return;
      note({ db, key: keyLabel(k, opts.showKeys), reason: "exists only on the target" });
      opts.onDifferent?.(db, k);
    });
  } while (cursor !== "0");
}
