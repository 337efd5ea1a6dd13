// Copying a key too big for one DUMP (a million-member set, a long stream) without
// blocking either server: read it in chunks with the cursor commands (SSCAN, HSCAN, ZSCAN,
// XRANGE, LRANGE, GETRANGE; a short script on each side packs and unpacks a chunk), write
// each chunk to a temporary key on the target, and let
// the caller RENAME the finished key into place atomically with the batch it belongs to.
// If the key changes while we read it, the tail marks it dirty and it is copied again.
// Every write that can create the temporary key checks the copier's fencing token
// (owner.ts): a copier that stalled while a cutover took over and handed the target to
// the app must not leave a half-assembled ferry key in the app's database.
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { TMP_PREFIX } from "./state";
import { LUA_FIELD_READER } from "./pack";
import { evalReadOnly } from "./read-keys";
import { LUA_OWNER_CHECK, OwnedDb, ownedReply } from "./owner";

const CHUNK = 5000;
/** Chunk writes in flight while the next chunk is read (ordered on one connection). */
const WRITES_AHEAD = 8;

type Chunker = (source: Redis, target: Redis, key: Buffer, tmp: string, type: string, owned: OwnedDb) => Promise<void>;

/** Write chunks without waiting for each reply, but never more than WRITES_AHEAD at once. */
class WriteBehind {
  private readonly pending: Array<Promise<unknown>> = [];

  async add(write: Promise<unknown>): Promise<void> {
    write.catch(() => undefined); // surfaced by flush() or the next add()
    this.pending.push(write);
    if (this.pending.length >= WRITES_AHEAD) await this.pending.shift();
  }

  async flush(): Promise<void> {
    while (this.pending.length) await this.pending.shift();
  }
}

/**
 * Read one chunk of a collection on the source, packed into one string (pack.ts) so the
 * client never decodes or re-encodes element by element. KEYS[1]: the key; ARGV: type,
 * where to start (SCAN cursor, list index, or stream ID bound), chunk size. Returns the
 * next position ("0" at the end) and the packed elements (streams: id, field count, fields).
 */
const READ_CHUNK_SCRIPT = `
local function put(out, s)
  out[#out + 1] = struct.pack('>I4', #s)
  out[#out + 1] = s
end
local t, from, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
local nextPos = '0'
if t == 'set' or t == 'hash' or t == 'zset' then
  local scan = ({ set = 'SSCAN', hash = 'HSCAN', zset = 'ZSCAN' })[t]
  local r = redis.call(scan, KEYS[1], from, 'COUNT', n)
  nextPos = r[1]
  for _, v in ipairs(r[2]) do put(out, v) end
elseif t == 'list' then
  local start = tonumber(from)
  local items = redis.call('LRANGE', KEYS[1], start, start + n - 1)
  for _, v in ipairs(items) do put(out, v) end
  if #items == n then nextPos = tostring(start + n) end
elseif t == 'stream' then
  local entries = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', n)
  for _, e in ipairs(entries) do
    put(out, e[1])
    put(out, tostring(#e[2]))
    for _, f in ipairs(e[2]) do put(out, f) end
  end
  if #entries == n then nextPos = '(' .. entries[#entries][1] end
end
return { nextPos, table.concat(out) }
`;

/**
 * Append one packed chunk to the temporary key on the target. KEYS[1]: it; ARGV: type,
 * chunk, the copier's fencing token. Nil, having written nothing, when the token no
 * longer owns the database.
 */
const WRITE_CHUNK_SCRIPT = `${LUA_FIELD_READER}${LUA_OWNER_CHECK}
if not owned(ARGV[3]) then return false end
local t, blob = ARGV[1], ARGV[2]
local pos = 1
if t == 'stream' then
  while pos <= #blob do
    local id, count
    id, pos = field(blob, pos)
    count, pos = field(blob, pos)
    local args = {}
    for j = 1, tonumber(count) do args[j], pos = field(blob, pos) end
    redis.call('XADD', KEYS[1], id, unpack(args))
  end
  return 1
end
local write = ({ set = 'SADD', hash = 'HSET', zset = 'ZADD', list = 'RPUSH' })[t]
local args = {}
local function flush()
  if #args > 0 then redis.call(write, KEYS[1], unpack(args)) end
  args = {}
end
while pos <= #blob do
  local a, b
  a, pos = field(blob, pos)
  if t == 'hash' then
    b, pos = field(blob, pos)
    args[#args + 1] = a
    args[#args + 1] = b
  elseif t == 'zset' then
    b, pos = field(blob, pos) -- ZSCAN gives member, score; ZADD wants score, member
    args[#args + 1] = b
    args[#args + 1] = a
  else
    args[#args + 1] = a
  end
  if #args >= 1000 then flush() end -- Lua's unpack() has a stack limit
end
flush()
return 1
`;

/** Sets, hashes, sorted sets, lists and stream entries, chunk by chunk, server to server. */
const copyCollection: Chunker = async (source, target, key, tmp, type, owned) => {
  const writes = new WriteBehind();
  let from = type === "stream" ? "-" : "0";
  do {
    const [next, chunk] = (await evalReadOnly(source, READ_CHUNK_SCRIPT, 1, key, type, from, CHUNK)) as [Buffer, Buffer];
    from = next.toString();
    if (chunk.length) {
      const written = target.callBuffer("EVAL", WRITE_CHUNK_SCRIPT, 1, tmp, type, chunk, owned.owner) as Promise<number | null>;
      await writes.add(written.then((reply) => ownedReply(reply, owned.db)));
    }
  } while (from !== "0");
  await writes.flush();
};

/** APPEND, by the copier that owns the database only. KEYS[1]: the temporary key; ARGV: bytes, token. */
const APPEND_SCRIPT = `${LUA_OWNER_CHECK}
if not owned(ARGV[2]) then return false end
return redis.call('APPEND', KEYS[1], ARGV[1])
`;

const copyString: Chunker = async (source, target, key, tmp, _type, owned) => {
  const bytes = 1024 * 1024;
  for (let start = 0; ; start += bytes) {
    const part = (await source.callBuffer("GETRANGE", key, start, start + bytes - 1)) as Buffer;
    if (part.length) ownedReply(await target.callBuffer("EVAL", APPEND_SCRIPT, 1, tmp, part, owned.owner) as number | null, owned.db);
    if (part.length < bytes) return;
  }
};

/** Stream entries in ID order, then its last ID, counters and consumer groups. */
const copyStream: Chunker = async (source, target, key, tmp, _type, owned) => {
  await copyCollection(source, target, key, tmp, "stream", owned);
  const info = flatToMap((await source.call("XINFO", "STREAM", key)) as unknown[]);
  const setId = [tmp, String(info["last-generated-id"])];
  // Redis 7 also tracks how many entries were ever added and the largest deleted ID.
  if (info["entries-added"] !== undefined) {
    setId.push("ENTRIESADDED", String(info["entries-added"]), "MAXDELETEDID", String(info["max-deleted-entry-id"]));
  }
  await target.call("XSETID", ...setId);
  const groups = (await source.call("XINFO", "GROUPS", key)) as unknown[][];
  for (const g of groups.map(flatToMap)) {
    // Pending entry lists cannot be recreated through commands; the group resumes from
    // its last delivered ID. (Small streams travel by DUMP with their PELs intact.)
    const args = ["XGROUP", "CREATE", tmp, String(g.name), String(g["last-delivered-id"])];
    if (g["entries-read"] !== null && g["entries-read"] !== undefined) args.push("ENTRIESREAD", String(g["entries-read"]));
    await target.call(args[0], ...args.slice(1));
  }
};

function flatToMap(flat: unknown[]): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) m[String(flat[i])] = flat[i + 1];
  return m;
}

const CHUNKERS: Record<string, Chunker> = {
  set: copyCollection,
  hash: copyCollection,
  zset: copyCollection,
  list: copyCollection,
  string: copyString,
  stream: copyStream,
};

/**
 * Assemble `key` (of `type`) from `source` into a fresh temporary key on `target`
 * (same database, `owned.db`), with the source's TTL. Returns the temporary key's name.
 */
export async function copyBigKey(source: Redis, target: Redis, key: Buffer, type: string, owned: OwnedDb): Promise<string> {
  const chunker = CHUNKERS[type];
  if (!chunker) throw new Error(`cannot copy key of type ${type} in chunks`);
  const tmp = `${TMP_PREFIX}${randomBytes(8).toString("hex")}`;
  await target.del(tmp);
  await chunker(source, target, key, tmp, type, owned);
  const pttl = await source.pttl(key);
  if (pttl > 0) await target.pexpire(tmp, pttl);
  return tmp;
}
