// Reading a batch of keys from the source in ONE round trip: a read-only Lua script
// returns each key's type, PTTL, size and DUMP payload. One command per batch instead
// of three per key is what makes a client-side copy keep up with replication. Keys too
// big to DUMP without blocking the server come back without a payload and are copied
// in chunks (big-key.ts). Inside a script time stands still, so a key cannot expire
// between its TYPE, PTTL and DUMP.
import Redis from "ioredis";
import { LUA_FIELD_READER, packFields, unpackFields } from "./pack";

export interface KeySnapshot {
  key: Buffer;
  /** Redis type name; "none" when the key no longer exists. */
  type: string;
  /** Milliseconds to live, -1 for no expiry, -2 when gone. */
  pttl: number;
  /** Elements (collections) or bytes (strings). */
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

// ARGV[1]: the keys, packed (pack.ts); ARGV[2], ARGV[3]: the big-key limits.
// Returns one packed string: per key type, pttl, size, payload ("" = none).
const READ_KEYS_SCRIPT = `${LUA_FIELD_READER}
local function put(out, s)
  out[#out + 1] = struct.pack('>I4', #s)
  out[#out + 1] = s
end
local blob = ARGV[1]
local maxN = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[3])
local sizeOf = { string = 'STRLEN', list = 'LLEN', set = 'SCARD', zset = 'ZCARD', hash = 'HLEN', stream = 'XLEN' }
local out = {}
local pos = 1
while pos <= #blob do
  local k
  k, pos = field(blob, pos)
  local t = redis.call('TYPE', k)['ok']
  local pttl = redis.call('PTTL', k)
  local size = 0
  local dump = ''
  if t ~= 'none' then
    if sizeOf[t] then size = redis.call(sizeOf[t], k) end
    local big
    if t == 'string' then
      big = size > maxBytes
    else
      big = size > maxN
      if not big and size > 128 then
        local ok, bytes = pcall(redis.call, 'MEMORY', 'USAGE', k)
        if ok and type(bytes) == 'number' and bytes > maxBytes then big = true end
      end
    end
    if not big then dump = redis.call('DUMP', k) end
  end
  put(out, t)
  put(out, tostring(pttl))
  put(out, tostring(size))
  put(out, dump)
end
return table.concat(out)
`;

/** Snapshot `keys` of the client's current database. */
export async function readKeys(source: Redis, keys: Buffer[], limits: BigKeyLimits = DEFAULT_BIG_KEY_LIMITS): Promise<KeySnapshot[]> {
  if (keys.length === 0) return [];
  const reply = (await source.callBuffer(
    "EVAL", READ_KEYS_SCRIPT, 0, packFields(keys), limits.maxElements, limits.maxBytes,
  )) as Buffer;
  const f = unpackFields(reply);
  return keys.map((key, i) => ({
    key,
    type: f[4 * i].toString(),
    pttl: Number(f[4 * i + 1].toString()),
    size: Number(f[4 * i + 2].toString()),
    dump: f[4 * i + 3].length ? f[4 * i + 3] : undefined,
  }));
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
