import Redis from "ioredis";
import { startRedis } from "../rehearsal/servers";
import { runCopy } from "../migrations/redis/copy";
import * as ck from "../migrations/redis/copy-keys";
(async () => {
  const s = await startRedis({ settings: { "notify-keyspace-events": "KEA" } }); const t = await startRedis();
  const c = new Redis(s.port);
  const p = c.pipeline(); for (let i = 0; i < 50000; i++) p.set(`k${i}`, `v${i}`); await p.exec();
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const a = now();
  const r = await runCopy({ source: { url: s.url(), flag: "--source", trust: {} }, target: { url: t.url(), flag: "--target", trust: {} }, follow: false, batchSize: 1000 });
  console.log("total", now() - a, r.seconds);
  c.disconnect(); await s.stop(); await t.stop(); process.exit(0);
})();
