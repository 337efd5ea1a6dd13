// Redis copy benchmark, side by side on one generated source: ferry's client-side copy
// (SCAN + batched DUMP/RESTORE, with the keyspace-notification tail subscribed as in real
// use) vs REPLICAOF full sync vs `redis-cli --rdb` + loading that file into a fresh server.
//   npm run bench:redis                         # 1,000,000 small keys + big keys
//   npm run bench:redis -- --keys 50000 --big 20000   # quick smoke run
// --rounds rounds (default 3), the order alternating; the median is quoted.
// Goals (issue 13): ferry >= 200k keys/s on loopback, and within 2x of the REPLICAOF full sync.
import { join } from "node:path";
import Redis from "ioredis";
import { run, startRedis, tempDir, LocalRedis } from "../rehearsal/servers";
import { runCopy } from "../dataplane/redis/copy";
import { Endpoint } from "../dataplane/redis/connection";
import { Contender, loadLine, median, roundsTable, runRounds } from "./lib/rounds";

function option(name: string, fallback: number): number {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(name);
  const raw = i >= 0 ? argv[i + 1] : undefined;
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, got ${raw}`);
  return n;
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

/** `keys` small keys of mixed types (10% with a TTL), plus five big collections. */
async function generate(source: LocalRedis, keys: number, big: number): Promise<number> {
  const c = new Redis(source.port);
  const batch = 10_000;
  for (let start = 0; start < keys; start += batch) {
    const p = c.pipeline();
    for (let i = start; i < Math.min(keys, start + batch); i++) {
      const kind = i % 10;
      const key = `small:${i}`;
      if (kind < 7) p.set(key, `value-${i}-${"x".repeat(i % 40)}`);
      else if (kind === 7) p.hset(key, "id", String(i), "name", `user ${i}`);
      else if (kind === 8) p.sadd(key, "a", "b", String(i));
      else p.zadd(key, i, `m${i}`, 1, "one");
      if (i % 10 === 3) p.pexpire(key, 3_600_000);
    }
    await p.exec();
  }
  const chunk = 10_000;
  for (let start = 0; start < big; start += chunk) {
    const p = c.pipeline();
    const n = Math.min(chunk, big - start);
    const members = Array.from({ length: n }, (_, j) => `member-${start + j}`);
    p.sadd("big:set", ...members);
    if (start < big / 2) {
      p.hset("big:hash", ...members.flatMap((m) => [m, "v"]));
      p.zadd("big:zset", ...members.flatMap((m, j) => [start + j, m]));
      p.rpush("big:list", ...members);
    }
    if (start < big / 5) for (const m of members) p.xadd("big:stream", "*", "m", m);
    await p.exec();
  }
  const total = await c.dbsize();
  c.disconnect();
  return total;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

async function keyCount(port: number): Promise<number> {
  const c = new Redis(port);
  const n = await c.dbsize();
  c.disconnect();
  return n;
}

async function stateKeyCount(port: number): Promise<number> {
  const c = new Redis(port);
  const n = (await c.keys("ferry:state:*")).length;
  c.disconnect();
  return n;
}

const NAMES = {
  ferryCopy: "ferry copy (SCAN + DUMP/RESTORE + tail)",
  replicaofSync: "REPLICAOF full sync",
  rdbDumpAndLoad: "redis-cli --rdb + load into a fresh server",
};

interface Row {
  name: string;
  seconds: number;
  keys: number;
}

/** CPU seconds a server has used so far (user + system). */
async function serverCpu(port: number): Promise<number> {
  const c = new Redis(port);
  const info = await c.info("cpu");
  c.disconnect();
  return Number(/used_cpu_user:(\S+)/.exec(info)?.[1]) + Number(/used_cpu_sys:(\S+)/.exec(info)?.[1]);
}

async function ferryCopy(source: LocalRedis): Promise<Row> {
  const target = await startRedis();
  const ep = (s: LocalRedis, flag: "--source" | "--target"): Endpoint => ({ url: s.url(), flag, trust: {} });
  const [source0, target0, client0] = [await serverCpu(source.port), await serverCpu(target.port), process.cpuUsage()];
  const started = process.hrtime.bigint();
  await runCopy({ source: ep(source, "--source"), target: ep(target, "--target"), follow: false, batchSize: 1000 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const client = process.cpuUsage(client0);
  // Where the CPU went: on a shared machine this says more than the wall time.
  log(`ferry copy CPU seconds: source ${((await serverCpu(source.port)) - source0).toFixed(2)}, target ${((await serverCpu(target.port)) - target0).toFixed(2)}, client ${((client.user + client.system) / 1e6).toFixed(2)}`);
  // ferry's own state keys (meta, progress, the owner token) are not data.
  const keys = (await keyCount(target.port)) - (await stateKeyCount(target.port));
  await target.stop();
  return { name: NAMES.ferryCopy, seconds, keys };
}

async function replicaofSync(source: LocalRedis): Promise<Row> {
  const target = await startRedis();
  const c = new Redis(target.port);
  const started = process.hrtime.bigint();
  await c.replicaof("127.0.0.1", source.port);
  await until(async () => {
    const info = await c.info("replication");
    return info.includes("master_link_status:up") && !info.includes("master_sync_in_progress:1");
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await c.replicaof("NO", "ONE");
  const keys = await c.dbsize();
  c.disconnect();
  await target.stop();
  return { name: NAMES.replicaofSync, seconds, keys };
}

async function rdbDumpAndLoad(source: LocalRedis): Promise<Row> {
  const dir = tempDir("rdb");
  const started = process.hrtime.bigint();
  await run("redis-cli", ["-p", String(source.port), "--rdb", join(dir, "dump.rdb")]);
  const target = await startRedis({ settings: { dir, dbfilename: "dump.rdb" } });
  const c = new Redis(target.port);
  await until(async () => (await c.info("persistence").catch(() => "loading:1")).includes("loading:0"));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const keys = await c.dbsize();
  c.disconnect();
  await target.stop();
  return { name: NAMES.rdbDumpAndLoad, seconds, keys };
}

async function main(): Promise<void> {
  const keys = option("--keys", 1_000_000);
  const rounds = option("--rounds", 3);
  const big = option("--big", 1_000_000);
  // Notifications on (ferry's tail needs them); no 5 s wait before a diskless full sync.
  const source = await startRedis({ settings: { "notify-keyspace-events": "KEA", "repl-diskless-sync-delay": "0" } });
  log(`generating ${keys} small keys and 5 big keys (set of ${big} members, hash/zset/list of ${Math.ceil(big / 2)}, stream of ${Math.ceil(big / 5)})...`);
  const total = await generate(source, keys, big);
  const memory = /used_memory_human:(\S+)/.exec(await new Redis(source.port).info("memory"))?.[1];
  log(`source: ${total} keys, ${memory}`);

  const contenders: Contender[] = [ferryCopy, replicaofSync, rdbDumpAndLoad].map((method) => ({
    name: NAMES[method.name as keyof typeof NAMES],
    run: async () => {
      const row = await method(source);
      if (row.keys !== total) throw new Error(`${row.name} ended with ${row.keys} keys, expected ${total}`);
      return { ms: row.seconds * 1000 };
    },
  }));
  const result = await runRounds(contenders, rounds);
  await source.stop();

  const [ferry, replica] = [0, 1];
  const ms = (i: number) => result.timings[i].map((t) => t.ms);
  const keysPerSecond = Math.round(median(ms(ferry).map((m) => total / (m / 1000))));
  const timesReplicaof = median(ms(ferry).map((m, r) => m / ms(replica)[r]));
  console.log(`\n${total} keys (${keys} small + 5 big), source ${memory}, loopback, redis-server ${(await run("redis-server", ["--version"])).stdout.split(" ")[2]}, ${rounds} rounds in alternating order`);
  console.log(roundsTable(contenders, result, { ours: ferry }));
  console.log(loadLine());
  console.log(`\nferry copy: ${keysPerSecond.toLocaleString("en-US")} keys/s (median), ${timesReplicaof.toFixed(2)}x the time of a REPLICAOF full sync (median of the rounds' ratios)`);
  console.log(`goal >= 200,000 keys/s: ${keysPerSecond >= 200_000 ? "met" : "NOT met"}; goal within 2x of REPLICAOF: ${timesReplicaof <= 2 ? "met" : "NOT met"}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
