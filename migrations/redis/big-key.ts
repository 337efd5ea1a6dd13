// Copying a key too big for one DUMP (a million-member set, a long stream) without
// blocking either server: read it in chunks with the cursor commands (SSCAN, HSCAN, ZSCAN,
// XRANGE, LRANGE, GETRANGE), write each chunk to a temporary key on the target, and let
// the caller RENAME the finished key into place atomically with the batch it belongs to.
// If the key changes while we read it, the tail marks it dirty and it is copied again.
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { TMP_PREFIX } from "./state";
import { LUA_FIELD_READER, packFields } from "./pack";

const CHUNK = 5000;
/** Chunk writes in flight while the next chunk is read (ordered on one connection). */
const WRITES_AHEAD = 8;

type Chunker = (source: Redis, target: Redis, key: Buffer, tmp: string) => Promise<void>;

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

function scanInto(
  scanCommand: "SSCAN" | "HSCAN" | "ZSCAN",
  write: (target: Redis, tmp: string, items: Buffer[]) => Promise<unknown>,
): Chunker {
  return async (source, target, key, tmp) => {
    const writes = new WriteBehind();
    let cursor = "0";
    do {
      const [next, items] = (await source.callBuffer(scanCommand, key, cursor, "COUNT", CHUNK)) as [Buffer, Buffer[]];
      cursor = next.toString();
      if (items.length) await writes.add(write(target, tmp, items));
    } while (cursor !== "0");
    await writes.flush();
  };
}

/** ZSCAN yields member, score; ZADD wants score, member. */
function scoreFirst(items: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < items.length; i += 2) out.push(items[i + 1], items[i]);
  return out;
}

const copyList: Chunker = async (source, target, key, tmp) => {
  const writes = new WriteBehind();
  for (let start = 0; ; start += CHUNK) {
    const items = (await source.callBuffer("LRANGE", key, start, start + CHUNK - 1)) as Buffer[];
    if (items.length) await writes.add(target.callBuffer("RPUSH", tmp, ...items));
    if (items.length < CHUNK) break;
  }
  await writes.flush();
};

const copyString: Chunker = async (source, target, key, tmp) => {
  const bytes = 1024 * 1024;
  for (let start = 0; ; start += bytes) {
    const part = (await source.callBuffer("GETRANGE", key, start, start + bytes - 1)) as Buffer;
    if (part.length) await target.callBuffer("APPEND", tmp, part);
    if (part.length < bytes) return;
  }
};

/** XADD a chunk of entries packed as id, field count, fields... (one command per chunk). */
const XADD_CHUNK_SCRIPT = `${LUA_FIELD_READER}
local blob = ARGV[1]
local pos = 1
while pos <= #blob do
  local id, count
  id, pos = field(blob, pos)
  count, pos = field(blob, pos)
  local args = {}
  for j = 1, tonumber(count) do args[j], pos = field(blob, pos) end
  redis.call('XADD', KEYS[1], id, unpack(args))
end
return 1
`;

function packEntries(entries: Array<[Buffer, Buffer[]]>): Buffer {
  const fields: Array<Buffer | string> = [];
  for (const [id, kv] of entries) fields.push(id, String(kv.length), ...kv);
  return packFields(fields);
}

/** Stream entries in ID order, then its last ID, counters and consumer groups. */
const copyStream: Chunker = async (source, target, key, tmp) => {
  const writes = new WriteBehind();
  let start = "-";
  for (;;) {
    const entries = (await source.callBuffer("XRANGE", key, start, "+", "COUNT", CHUNK)) as Array<[Buffer, Buffer[]]>;
    if (entries.length) {
      await writes.add(target.callBuffer("EVAL", XADD_CHUNK_SCRIPT, 1, tmp, packEntries(entries)));
      start = `(${entries[entries.length - 1][0].toString()}`;
    }
    if (entries.length < CHUNK) break;
  }
  await writes.flush();
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
  set: scanInto("SSCAN", (t, tmp, items) => t.callBuffer("SADD", tmp, ...items)),
  hash: scanInto("HSCAN", (t, tmp, items) => t.callBuffer("HSET", tmp, ...items)),
  zset: scanInto("ZSCAN", (t, tmp, items) => t.callBuffer("ZADD", tmp, ...scoreFirst(items))),
  list: copyList,
  string: copyString,
  stream: copyStream,
};

/**
 * Assemble `key` (of `type`) from `source` into a fresh temporary key on `target`
 * (same database), with the source's TTL. Returns the temporary key's name.
 */
export async function copyBigKey(source: Redis, target: Redis, key: Buffer, type: string): Promise<string> {
  const chunker = CHUNKERS[type];
  if (!chunker) throw new Error(`cannot copy key of type ${type} in chunks`);
  const tmp = `${TMP_PREFIX}${randomBytes(8).toString("hex")}`;
  await target.del(tmp);
  await chunker(source, target, key, tmp);
  const pttl = await source.pttl(key);
  if (pttl > 0) await target.pexpire(tmp, pttl);
  return tmp;
}
