// Reading a batch of keys from the source in ONE round trip: a read-only Lua script
// returns each key's expiry and DUMP payload (type and size for a big key). One command per batch instead
// of three per key is what makes a client-side copy keep up with replication. Keys too
// big to DUMP without blocking the server come back without a payload and are copied
// in chunks (big-key.ts).
// The expiry is read as an absolute time (PEXPIRETIME, Redis >= 7.0; before that the
// source's clock plus PTTL), so the target gets the same expiry however long the batch
// waits before it is written (RESTORE ... ABSTTL): a relative TTL read before a pause
// (a busy machine, a frozen copier) would lengthen every key's life by the pause.
// Inside a script expiry is judged at the script's start, so a key cannot vanish
// between its OBJECT ENCODING, expiry and DUMP; but Redis 7.0 reads the clock for real,
// so a key whose TTL runs out meanwhile comes back with a payload and a remaining TTL
// of 0: treat that as expired (copy-keys.ts), never as "no TTL".
import Redis from "ioredis";
import { LUA_FIELD_READER, packFields } from "./pack";

export interface KeySnapshot {
  key: Buffer;
  /** Redis type name; "none" when the key no longer exists. */
  type: string;
  /** Milliseconds to live (as of the read), -1 for no expiry, -2 when gone. */
  pttl: number;
  /** When it expires: Unix time in ms on the source's clock; -1 for no expiry, -2 when gone. */
  expiresAtMs: number;
  /** Big keys: elements (collections) or bytes (strings); DUMPed keys: the payload's length. */
  size: number;
  /** DUMP payload; absent for a big key (copy it in chunks) or a missing one. */
  dump?: Buffer;
}

export interface BigKeyLimits {
  /** Collections with more elements than this are copied in chunks. */
  maxElements: number;
  /** Values estimated larger than this (bytes) are copied in chunks. */
  maxBytes: number;
}

export const DEFAULT_BIG_KEY_LIMITS: BigKeyLimits = { maxElements: 10_000, maxBytes: 8 * 1024 * 1024 };

/** A key name the read script asks PEXPIRETIME about to learn whether it may call it. */
const EXPIRY_PROBE_KEY = "ferry:probe:expiretime";

// ARGV[1]: the keys, packed (pack.ts); ARGV[2], ARGV[3]: the big-key limits.
// Returns a flat array, two entries per key: the expiry (Unix ms, -1 none, -2 gone), then
// the DUMP payload ("" = gone) or, for a big key, {type, size}; last, the source's clock
// (Unix ms) when the script ran. PEXPIRETIME (https://redis.io/commands/pexpiretime/,
// since 7.0.0) gives the expiry itself; an older source (or a user an ACL denies it to:
// one probe per batch, caught by pcall) gets TIME + PTTL, exact up to the script's run time. Each redis.call from Lua costs about as much as the DUMP
// itself, so the common case is kept to three: OBJECT ENCODING (which does not touch the
// key's idle time) tells a missing key (nil) and a small string ("embstr" up to 44 bytes,
// "int") apart from everything else, and only the rest pays for TYPE and a size check.
// The client takes the type from the payload's first byte (the RDB type), not from TYPE.
// A flat array is cheaper for the server to produce than a packed string built with
// struct.pack, and costs the client about the same to read.
const READ_KEYS_SCRIPT = `${LUA_FIELD_READER}
local blob = ARGV[1]
local maxN = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[3])
local sizeOf = { string = 'STRLEN', list = 'LLEN', set = 'SCARD', zset = 'ZCARD', hash = 'HLEN', stream = 'XLEN' }
local out = {}
local n = 0
local pos = 1
local clock = redis.call('TIME')
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local hasExpireTime = pcall(redis.call, 'PEXPIRETIME', '${EXPIRY_PROBE_KEY}')
local function expiresAt(k)
  if hasExpireTime then return redis.call('PEXPIRETIME', k) end
  local ttl = redis.call('PTTL', k)
  if ttl < 0 then return ttl end
  return nowMs + ttl
end
while pos <= #blob do
  local k
  k, pos = field(blob, pos)
  local enc = redis.call('OBJECT', 'ENCODING', k)
  local big
  if enc and enc ~= 'embstr' and enc ~= 'int' then
    local t = redis.call('TYPE', k)['ok']
    local size = 0
    if sizeOf[t] then size = redis.call(sizeOf[t], k) end
    if t == 'string' then
      if size > maxBytes then big = { t, size } end
    elseif size > maxN then
      big = { t, size }
    elseif size > 128 then
      local ok, bytes = pcall(redis.call, 'MEMORY', 'USAGE', k)
      if ok and type(bytes) == 'number' and bytes > maxBytes then big = { t, size } end
    end
  end
  out[n + 1] = expiresAt(k)
  if not enc then out[n + 2] = ''
  elseif big then out[n + 2] = big
  else out[n + 2] = redis.call('DUMP', k) end
  n = n + 2
end
out[n + 1] = nowMs
return out
`;

/** Redis type by the first byte of a DUMP payload (the RDB object type, rdb.h). */
const RDB_TYPES: Record<number, string> = {
  0: "string",
  1: "list", 10: "list", 14: "list", 18: "list",
  2: "set", 11: "set", 20: "set",
  3: "zset", 5: "zset", 12: "zset", 17: "zset",
  4: "hash", 9: "hash", 13: "hash", 16: "hash", 22: "hash", 23: "hash", 24: "hash", 25: "hash",
  15: "stream", 19: "stream", 21: "stream",
};

/** Per connection: whether it takes EVAL_RO. */
const takesEvalRo = new WeakMap<Redis, boolean>();

/**
 * Run one of the copy's read-only scripts on the source: EVAL_RO where the server has it
 * (Redis 7+), which a source whose writes are paused still runs (CLIENT PAUSE WRITE holds
 * plain EVAL: clients.ts, --fence dynos-stopped); EVAL before 7.
 */
export async function evalReadOnly(source: Redis, script: string, ...args: Array<string | number | Buffer>): Promise<unknown> {
  if (takesEvalRo.get(source) !== false) {
    try {
      const reply = await source.callBuffer("EVAL_RO", script, ...args);
      takesEvalRo.set(source, true);
      return reply;
    } catch (err) {
      if (!/unknown command/i.test((err as Error).message)) throw err;
      takesEvalRo.set(source, false);
    }
  }
  return source.callBuffer("EVAL", script, ...args);
}

/** Snapshot `keys` of the client's current database. */
export async function readKeys(source: Redis, keys: Buffer[], limits: BigKeyLimits = DEFAULT_BIG_KEY_LIMITS): Promise<KeySnapshot[]> {
  if (keys.length === 0) return [];
  const reply = (await evalReadOnly(
    source, READ_KEYS_SCRIPT, 0, packFields(keys), limits.maxElements, limits.maxBytes,
  )) as Array<number | Buffer | [Buffer, number]>;
  const nowMs = reply[2 * keys.length] as number;
  const snapshots: KeySnapshot[] = new Array(keys.length);
  const unknown: number[] = [];
  for (let i = 0; i < keys.length; i++) {
    const expiresAtMs = reply[2 * i] as number;
    // An expiry already past (the key ran out during the script) reads as 0 ms left: expired.
    const pttl = expiresAtMs < 0 ? expiresAtMs : Math.max(0, expiresAtMs - nowMs);
    const v = reply[2 * i + 1];
    if (Array.isArray(v)) {
      snapshots[i] = { key: keys[i], type: v[0].toString(), pttl, expiresAtMs, size: Number(v[1]) };
    } else if ((v as Buffer).length === 0) {
      snapshots[i] = { key: keys[i], type: "none", pttl: -2, expiresAtMs: -2, size: 0 };
    } else {
      const dump = v as Buffer;
      const type = RDB_TYPES[dump[0]];
      if (type === undefined) unknown.push(i);
      snapshots[i] = { key: keys[i], type: type ?? "unknown", pttl, expiresAtMs, size: dump.length, dump };
    }
  }
  if (unknown.length) {
    // Module types (and RDB types newer than this table): ask for the name.
    const p = source.pipeline();
    for (const i of unknown) p.type(keys[i]);
    const types = (await p.exec()) ?? [];
    unknown.forEach((i, j) => (snapshots[i].type = String(types[j]?.[1] ?? "unknown")));
  }
  return snapshots;
}

/** Can the source run our read-only script? (Some hosts rename EVAL away.) */
export async function canReadWithScript(source: Redis): Promise<boolean> {
  try {
    await readKeys(source, [Buffer.from("ferry:probe:none")]);
    return true;
  } catch {
    return false;
  }
}
