import Redis from "ioredis";
import { startRedis } from "../rehearsal/servers";
import { copyBigKey } from "../migrations/redis/big-key";
(async () => {
  const s = await startRedis(); const t = await startRedis();
  const c = new Redis(s.port, { protocol: 2 }); const d = new Redis(t.port, { protocol: 2 });
  const N = 100000;
  for (let start = 0; start < N; start += 10000) {
    const m = Array.from({ length: 10000 }, (_, j) => `member-${start + j}`);
    const p = c.pipeline();
    p.sadd("set", ...m); p.hset("hash", ...m.flatMap((x) => [x, "v"])); p.zadd("zset", ...m.flatMap((x, j) => [j, x])); p.rpush("list", ...m);
    for (const x of m) p.xadd("stream", "*", "m", x);
    await p.exec();
  }
  for (const type of ["set", "hash", "zset", "list", "stream"]) {
    const a = Date.now(); const cpu = process.cpuUsage();
    await copyBigKey(c, d, Buffer.from(type), type);
    const u = process.cpuUsage(cpu);
    console.log(type, Date.now() - a, "ms wall", Math.round((u.user + u.system) / 1000), "ms node cpu");
  }
  c.disconnect(); d.disconnect(); await s.stop(); await t.stop(); process.exit(0);
})();
