// Test helpers: real redis-server instances, data of every type, a writer that keeps
// changing the source, and an independent comparison (plain type-specific reads, none
// of ferry's code) of two servers.
import { ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import Redis from "ioredis";
import { LocalRedis } from "../../../rehearsal/servers";
import { Endpoint } from "../../../dataplane/redis/connection";

export function endpoint(server: LocalRedis, flag: "--source" | "--target"): Endpoint {
  return { url: server.url(), flag, trust: server.caCert ? { insecure: true } : {} };
}

const opened: Redis[] = [];

/** A plain ioredis client (not ferry's code), closed by closeClients(). */
export function client(server: LocalRedis, db = 0): Redis {
  const c = new Redis(server.url(db), { ...(server.caCert ? { tls: { ca: server.caCert } } : {}), retryStrategy: () => null });
  c.on("error", () => undefined); // servers stop at the end of a file
  opened.push(c);
  return c;
}

export function closeClients(): void {
  for (const c of opened.splice(0)) c.disconnect();
}

/** Every type, with and without TTLs, `n` of each, in database `db`. */
export async function seed(c: Redis, n: number, prefix = "k"): Promise<void> {
  const p = c.pipeline();
  for (let i = 0; i < n; i++) {
    p.set(`${prefix}:str:${i}`, `value-${i}`);
    p.hset(`${prefix}:hash:${i}`, { a: String(i), b: "x".repeat(i % 50) });
    p.rpush(`${prefix}:list:${i}`, "a", "b", String(i));
    p.sadd(`${prefix}:set:${i}`, "m1", "m2", String(i));
    p.zadd(`${prefix}:zset:${i}`, 1, "one", i, `m${i}`);
    p.xadd(`${prefix}:stream:${i}`, "*", "f", String(i));
    if (i % 3 === 0) {
      for (const t of ["str", "hash", "list", "set", "zset", "stream"]) p.pexpire(`${prefix}:${t}:${i}`, 600_000);
    }
  }
  p.set(Buffer.from([0xff, 0x00, 0x41]), Buffer.from([0x00, 0xfe])); // binary key and value
  await p.exec();
}

/** Big keys (more elements than the test's big-key limit) of every collection type. */
export async function seedBig(c: Redis, members: number): Promise<void> {
  const p = c.pipeline();
  for (let i = 0; i < members; i++) {
    p.sadd("big:set", `member-${i}`);
    p.hset("big:hash", `f${i}`, `v${i}`);
    p.zadd("big:zset", i, `z${i}`);
    p.rpush("big:list", `l${i}`);
    p.xadd("big:stream", `${i + 1}-0`, "n", String(i));
  }
  p.xgroup("CREATE", "big:stream", "workers", "5-0");
  p.pexpire("big:set", 900_000);
  await p.exec();
}

/** The whole content of one database, read with plain commands, keyed by key (hex). */
export async function contents(c: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = "0";
  do {
    const [next, keys] = await c.scanBuffer(cursor, "COUNT", 500);
    cursor = next.toString();
    for (const key of keys) {
      if (key.toString().startsWith("ferry:state:")) continue;
      const type = await c.type(key);
      let value: unknown;
      if (type === "string") value = (await c.getBuffer(key))?.toString("hex");
      else if (type === "hash") value = Object.entries(await c.hgetall(key)).sort();
      else if (type === "list") value = await c.lrange(key, 0, -1);
      else if (type === "set") value = (await c.smembers(key)).sort();
      else if (type === "zset") value = await c.call("ZRANGE", key, "0", "-1", "WITHSCORES");
      else if (type === "stream") value = [await c.xrange(key, "-", "+"), await c.call("XINFO", "GROUPS", key)];
      else if (type === "none") continue;
      const ttl = await c.pttl(key);
      out.set(key.toString("hex"), JSON.stringify({ type, value, ttl: ttl > 0 ? "expiring" : ttl }));
    }
  } while (cursor !== "0");
  return out;
}

/** Compare every database of two servers; returns a list of differences (empty = equal). */
export async function differences(a: LocalRedis, b: LocalRedis, dbs: number[]): Promise<string[]> {
  const diffs: string[] = [];
  for (const db of dbs) {
    const ca = client(a, db);
    const cb = client(b, db);
    const [x, y] = [await contents(ca), await contents(cb)];
    for (const [k, v] of x) if (y.get(k) !== v) diffs.push(`db${db} ${Buffer.from(k, "hex")}: ${v} != ${y.get(k)}`);
    for (const k of y.keys()) if (!x.has(k)) diffs.push(`db${db} ${Buffer.from(k, "hex")}: only on target`);
    ca.disconnect();
    cb.disconnect();
  }
  return diffs;
}

/** Keeps writing, deleting and expiring keys in `dbs` until stopped. */
export function startWriter(server: LocalRedis, dbs: number[]): { ops(): number; stop(): Promise<number> } {
  let running = true;
  let ops = 0;
  const clients = dbs.map((db) => client(server, db));
  const loop = (async () => {
    let i = 0;
    while (running) {
      const c = clients[i % clients.length];
      const p = c.pipeline();
      p.set(`k:str:${i % 40}`, `changed-${i}`);
      p.hset(`k:hash:${i % 40}`, "a", `changed-${i}`);
      p.rpush(`k:list:${i % 40}`, `pushed-${i}`);
      p.srem(`k:set:${i % 40}`, "m1");
      p.zincrby(`k:zset:${i % 40}`, 1, "one");
      p.xadd(`k:stream:${i % 40}`, "*", "w", String(i));
      p.del(`k:str:${(i + 20) % 40}`);
      p.set(`live:new:${i}`, "fresh", "PX", 30 + (i % 50)); // expires during the copy
      p.set(`live:kept:${i}`, String(i));
      p.sadd("big:set", `late-${i}`);
      await p.exec();
      ops += 10;
      i++;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    ops: () => ops,
    async stop() {
      running = false;
      await loop;
      for (const c of clients) c.disconnect();
      return ops;
    },
  };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

/** Run `ferry <args>` as a separate process (URLs through the environment, like the stages do). */
export function ferry(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return spawnFerry(args, env).result;
}

export function spawnFerry(args: string[], env: Record<string, string> = {}): { child: ChildProcess; result: Promise<CliRun> } {
  const child = spawn(process.execPath, [join(__dirname, "../../../bin/ferry.js"), ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = new Promise<CliRun>((resolve) => {
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
  return { child, result };
}

export function urls(source: LocalRedis, target: LocalRedis): Record<string, string> {
  return { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() };
}
