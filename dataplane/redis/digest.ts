// A value's fingerprint, read in chunks so a huge key never blocks the server: used by
// verify when DUMP payloads cannot be compared (big keys; a target of another version,
// whose payloads differ byte-wise for equal values). The *SCAN commands may return an
// element twice while a table rehashes, so members are de-duplicated before hashing.
import { createHash } from "node:crypto";
import Redis from "ioredis";

const CHUNK = 1000;

async function scanPairs(client: Redis, command: "HSCAN" | "ZSCAN", key: Buffer): Promise<Map<string, string>> {
  const pairs = new Map<string, string>();
  let cursor = "0";
  do {
    const [next, items] = (await client.callBuffer(command, key, cursor, "COUNT", CHUNK)) as [Buffer, Buffer[]];
    cursor = next.toString();
    for (let i = 0; i < items.length; i += 2) pairs.set(items[i].toString("hex"), items[i + 1].toString("hex"));
  } while (cursor !== "0");
  return pairs;
}

async function scanMembers(client: Redis, key: Buffer): Promise<Set<string>> {
  const members = new Set<string>();
  let cursor = "0";
  do {
    const [next, items] = (await client.callBuffer("SSCAN", key, cursor, "COUNT", CHUNK)) as [Buffer, Buffer[]];
    cursor = next.toString();
    for (const m of items) members.add(m.toString("hex"));
  } while (cursor !== "0");
  return members;
}

async function listItems(client: Redis, key: Buffer, hash: ReturnType<typeof createHash>): Promise<void> {
  for (let start = 0; ; start += CHUNK) {
    const items = (await client.callBuffer("LRANGE", key, start, start + CHUNK - 1)) as Buffer[];
    for (const item of items) hash.update(`${item.length}:`).update(item);
    if (items.length < CHUNK) return;
  }
}

async function streamEntries(client: Redis, key: Buffer, hash: ReturnType<typeof createHash>): Promise<void> {
  let start = "-";
  for (;;) {
    const entries = (await client.callBuffer("XRANGE", key, start, "+", "COUNT", CHUNK)) as Array<[Buffer, Buffer[]]>;
    for (const [id, fields] of entries) {
      hash.update(id).update(`#${fields.length}`);
      for (const f of fields) hash.update(`${f.length}:`).update(f);
    }
    if (entries.length < CHUNK) break;
    start = `(${entries[entries.length - 1][0].toString()}`;
  }
  const groups = (await client.call("XINFO", "GROUPS", key)) as unknown[][];
  for (const g of groups) hash.update(`group:${g[1]}@${g[7]}`); // name, last-delivered-id
}

export async function valueDigest(client: Redis, key: Buffer, type: string): Promise<string> {
  const hash = createHash("sha256").update(type);
  if (type === "string") {
    hash.update((await client.getBuffer(key)) ?? Buffer.alloc(0));
  } else if (type === "list") {
    await listItems(client, key, hash);
  } else if (type === "stream") {
    await streamEntries(client, key, hash);
  } else if (type === "set") {
    for (const m of [...(await scanMembers(client, key))].sort()) hash.update(m).update(",");
  } else if (type === "hash" || type === "zset") {
    const pairs = await scanPairs(client, type === "hash" ? "HSCAN" : "ZSCAN", key);
    for (const k of [...pairs.keys()].sort()) hash.update(`${k}=${pairs.get(k)},`);
  } else {
    hash.update((await client.callBuffer("DUMP", key)) as Buffer); // module types: best effort
  }
  return hash.digest("hex");
}
