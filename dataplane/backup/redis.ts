// The source Redis's final backup, as a file ferry restores into any Redis it can reach
// by URL. Heroku Key-Value Store blocks CONFIG and documents no SYNC/PSYNC for outside
// clients, so `redis-cli --rdb` cannot take an RDB there; and an RDB is restored by
// placing it in a server's data directory and restarting it, which ElastiCache does not
// allow. So every source gets the same portable file: each key's DUMP payload (the RDB
// encoding of its value) with its database and absolute expiry, read with plain read
// commands (SCAN, DUMP, PEXPIRETIME), which a source whose writes are paused still
// answers. A restore RESTOREs each key with that expiry (ABSTTL): a key lives exactly as
// long as it would have on the source.
//
// The file: "FERRY-REDIS-BACKUP 1\n", then one record per key: "K", the database (u16),
// the key's length (u32) and bytes, the expiry (i64, Unix ms; -1 for none), the
// payload's length (u32) and bytes; last "E" and the number of records (u64), so a
// file cut short is refused even before its checksum is.
import { open, FileHandle } from "node:fs/promises";
import { join } from "node:path";
import Redis from "ioredis";
import { FerryError } from "../cli/common";
import { DbClients, Endpoint, describeEndpoint, explainLostConnection } from "../redis/connection";
import { dbKeyCounts } from "../redis/info";
import { STATE_PREFIX } from "../redis/state";
import { BackupObject, StoredBackup, describeObject, downloadVerified, inTempDir, uploadVerified } from "./bucket";

const MAGIC = Buffer.from("FERRY-REDIS-BACKUP 1\n");
const SCAN_COUNT = 500;
const RESTORE_BATCH = 200;

export interface RedisRecord {
  db: number;
  key: Buffer;
  /** Unix ms; -1 for no expiry. */
  expiresAtMs: number;
  payload: Buffer;
}

export function encodeRecord(r: RedisRecord): Buffer {
  const head = Buffer.alloc(1 + 2 + 4);
  head.write("K", 0);
  head.writeUInt16BE(r.db, 1);
  head.writeUInt32BE(r.key.length, 3);
  const mid = Buffer.alloc(8 + 4);
  mid.writeBigInt64BE(BigInt(r.expiresAtMs), 0);
  mid.writeUInt32BE(r.payload.length, 8);
  return Buffer.concat([head, r.key, mid, r.payload]);
}

function encodeEnd(count: number): Buffer {
  const end = Buffer.alloc(9);
  end.write("E", 0);
  end.writeBigUInt64BE(BigInt(count), 1);
  return end;
}

/** How a key's expiry is read: PEXPIRETIME (Redis 7+), else the server's clock plus PTTL. */
async function expiryReader(c: Redis): Promise<"pexpiretime" | "pttl"> {
  try {
    await c.call("PEXPIRETIME", `${STATE_PREFIX}probe`);
    return "pexpiretime";
  } catch (err) {
    if (/unknown command/i.test((err as Error).message)) return "pttl";
    throw err;
  }
}

/** One SCAN batch's keys as records; keys gone or expired meanwhile are left out. */
async function readBatch(c: Redis, db: number, keys: Buffer[], mode: "pexpiretime" | "pttl"): Promise<RedisRecord[]> {
  const p = c.pipeline();
  if (mode === "pttl") p.time();
  for (const key of keys) {
    p.call(mode === "pexpiretime" ? "PEXPIRETIME" : "PTTL", key);
    p.dumpBuffer(key);
  }
  const replies = (await p.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
  const values = replies.map(([, v]) => v);
  const clock = mode === "pttl" ? (values.shift() as string[]) : undefined;
  const nowMs = clock ? Number(clock[0]) * 1000 + Math.floor(Number(clock[1]) / 1000) : 0;
  const records: RedisRecord[] = [];
  keys.forEach((key, i) => {
    const expiry = Number(values[2 * i]);
    const payload = values[2 * i + 1] as Buffer | null;
    if (!payload || expiry === -2) return;
    const expiresAtMs = expiry === -1 ? -1 : mode === "pexpiretime" ? expiry : nowMs + expiry;
    records.push({ db, key, expiresAtMs, payload });
  });
  return records;
}

/** Write every key of every database of `source` into `file`; returns the number of keys. */
export async function dumpRedis(source: Endpoint, file: string): Promise<number> {
  const server = new DbClients(source);
  const out = await open(file, "wx", 0o600);
  let count = 0;
  try {
    await out.write(MAGIC);
    const first = await server.db(0);
    const mode = await expiryReader(first);
    for (const db of [...(await dbKeyCounts(first)).keys()].sort((a, b) => a - b)) {
      const c = await server.db(db);
      let cursor = "0";
      do {
        const [next, found] = await c.scanBuffer(cursor, "COUNT", SCAN_COUNT);
        cursor = next.toString();
        const keys = found.filter((k) => !k.toString("latin1").startsWith(STATE_PREFIX));
        const records = keys.length ? await readBatch(c, db, keys, mode) : [];
        if (records.length) await out.write(Buffer.concat(records.map(encodeRecord)));
        count += records.length;
      } while (cursor !== "0");
    }
    await out.write(encodeEnd(count));
    return count;
  } catch (err) {
    throw explainLostConnection(err, [server]);
  } finally {
    await out.close();
    await server.close();
  }
}

/** Reads a backup file front to back in chunks. */
class Reader {
  private buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly fh: FileHandle, private readonly what: string) {}

  private async fill(atLeast: number): Promise<void> {
    const chunk = Buffer.alloc(Math.max(1 << 20, atLeast));
    const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) this.done = true;
    this.buffer = Buffer.concat([this.buffer, chunk.subarray(0, bytesRead)]);
  }

  async take(n: number): Promise<Buffer> {
    while (this.buffer.length < n && !this.done) await this.fill(n - this.buffer.length);
    if (this.buffer.length < n) throw new FerryError(`${this.what} ends in the middle of a record: not a complete ferry Redis backup`, 1);
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  async atEnd(): Promise<boolean> {
    while (this.buffer.length === 0 && !this.done) await this.fill(1);
    return this.buffer.length === 0;
  }
}

/** Every record of a backup file, then its count as the file's end states it. */
export async function* readRecords(file: string, what: string): AsyncGenerator<RedisRecord> {
  const fh = await open(file, "r");
  try {
    const r = new Reader(fh, what);
    if (!(await r.take(MAGIC.length)).equals(MAGIC)) throw new FerryError(`${what} is not a ferry Redis backup (no FERRY-REDIS-BACKUP 1 header)`, 1);
    let count = 0;
    for (;;) {
      const tag = (await r.take(1)).toString("latin1");
      if (tag === "E") {
        const stated = Number((await r.take(8)).readBigUInt64BE(0));
        if (stated !== count) throw new FerryError(`${what} states ${stated} key(s) but holds ${count}: not a complete ferry Redis backup`, 1);
        if (!(await r.atEnd())) throw new FerryError(`${what} has bytes after its end record: not a ferry Redis backup`, 1);
        return;
      }
      if (tag !== "K") throw new FerryError(`${what} holds an unknown record type ${JSON.stringify(tag)}`, 1);
      const head = await r.take(6);
      const key = Buffer.from(await r.take(head.readUInt32BE(2)));
      const mid = await r.take(12);
      const payload = Buffer.from(await r.take(mid.readUInt32BE(8)));
      count++;
      yield { db: head.readUInt16BE(0), key, expiresAtMs: Number(mid.readBigInt64BE(0)), payload };
    }
  } finally {
    await fh.close();
  }
}

/** RESTORE a batch of one database's records, each with its absolute expiry (0: none). */
async function restoreBatch(c: Redis, records: RedisRecord[]): Promise<void> {
  const p = c.pipeline();
  for (const r of records) {
    if (r.expiresAtMs === -1) p.call("RESTORE", r.key, "0", r.payload);
    else p.call("RESTORE", r.key, String(r.expiresAtMs), r.payload, "ABSTTL");
  }
  const replies = (await p.exec()) ?? [];
  const failed = replies.findIndex(([err]) => err);
  if (failed >= 0) throw new FerryError(`--target: RESTORE of a key failed: ${(replies[failed][0] as Error).message}`, 1, "target");
}

/**
 * The RDB format a DUMP payload is written in: its footer is the format (u16, little
 * endian) and a CRC64. A Redis reads its own format and older ones only.
 */
export function payloadRdbVersion(payload: Buffer): number {
  return payload.length >= 10 ? payload.readUInt16LE(payload.length - 10) : 0;
}

/** Of `file`'s records, one written in the newest RDB format (undefined for an empty backup). */
async function newestRecord(file: string, what: string): Promise<RedisRecord | undefined> {
  let newest: RedisRecord | undefined;
  for await (const r of readRecords(file, what)) {
    if (!newest || payloadRdbVersion(r.payload) > payloadRdbVersion(newest.payload)) newest = r;
  }
  return newest;
}

/**
 * Whether the target can read the backup's newest payloads, asked before anything is
 * written: a Redis older than the source refuses them ("DUMP payload version or checksum
 * are wrong"), and found on the way the restore would stop half done. The probe key is
 * restored and deleted in one MULTI, so the target holds nothing of it either way.
 */
async function assertTargetReads(c: Redis, newest: RedisRecord, target: Endpoint): Promise<void> {
  const probe = `${STATE_PREFIX}restore-probe`;
  const replies = (await c.multi().call("RESTORE", probe, "0", newest.payload, "REPLACE").del(probe).exec()) ?? [];
  const [err] = replies[0] ?? [];
  if (!err) return;
  const version = /redis_version:(\S+)/.exec(await c.info("server"))?.[1] ?? "unknown";
  throw new FerryError(
    `--target ${describeEndpoint(target)}: Redis ${version} cannot read this backup's keys (RDB format ${payloadRdbVersion(newest.payload)}; RESTORE answered: ${(err as Error).message}): restore into a Redis at least as new as the source's`,
    1,
    "target",
  );
}

/** Restore every record of `file` into the empty Redis at `target`; returns the number of keys written. */
export async function restoreRedisFile(file: string, target: Endpoint, what: string): Promise<number> {
  const server = new DbClients(target);
  try {
    const existing = await dbKeyCounts(await server.db(0));
    const held = [...existing].map(([db, n]) => `${n} in db${db}`);
    if (held.length) throw new FerryError(`--target ${describeEndpoint(target)}: already holds keys (${held.join(", ")}): restore into an empty Redis`, 1, "target");
    const newest = await newestRecord(file, what);
    if (newest) await assertTargetReads(await server.db(0), newest, target);
    let batch: RedisRecord[] = [];
    let count = 0;
    const flush = async () => {
      if (!batch.length) return;
      await restoreBatch(await server.db(batch[0].db), batch);
      count += batch.length;
      batch = [];
    };
    for await (const r of readRecords(file, what)) {
      if (batch.length && (batch[0].db !== r.db || batch.length >= RESTORE_BATCH)) await flush();
      batch.push(r);
    }
    await flush();
    return count;
  } catch (err) {
    throw explainLostConnection(err, [server]);
  } finally {
    await server.close();
  }
}

/** Back up `source` into `o`, checksummed and read back. */
export function backupRedis(source: Endpoint, o: BackupObject): Promise<StoredBackup & { keys: number }> {
  return inTempDir("ferry-redis-backup-", async (dir) => {
    const file = join(dir, "redis.backup");
    const keys = await dumpRedis(source, file);
    return { ...(await uploadVerified(file, o)), keys };
  });
}

/** Restore `o` into the empty Redis at `target`: the checksum first, so a damaged object writes nothing. */
export function restoreRedis(o: BackupObject, target: Endpoint): Promise<StoredBackup & { keys: number }> {
  return inTempDir("ferry-redis-restore-", async (dir) => {
    const file = join(dir, "redis.backup");
    const stored = await downloadVerified(o, file);
    // restoreRedisFile reads it once through (newestRecord) before writing anything: a file that is not whole is refused untouched.
    return { ...stored, keys: await restoreRedisFile(file, target, describeObject(o)) };
  });
}
