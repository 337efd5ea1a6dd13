// The app's own feed rebuild script (Mastodon's `tootctl feeds build`), run by
// `ferry redis rebuild --command "..."` after a cutover that did not copy feeds.
// Reads DATABASE_URL and REDIS_URL (or ferry's FERRY_TARGET_URL / FERRY_TARGET_REDIS_URL).
import { Client } from "pg";
import Redis from "ioredis";
import { rebuildFeeds } from "./feeds";

async function main(): Promise<void> {
  const dbUrl = process.env.DATABASE_URL ?? process.env.FERRY_TARGET_URL;
  const redisUrl = process.env.REDIS_URL ?? process.env.FERRY_TARGET_REDIS_URL;
  if (!dbUrl || !redisUrl) throw new Error("set DATABASE_URL and REDIS_URL (or FERRY_TARGET_URL and FERRY_TARGET_REDIS_URL)");
  const db = new Client({ connectionString: dbUrl });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  await db.connect();
  try {
    const started = Date.now();
    const result = await rebuildFeeds(db, redis, process.env.APP_SCHEMA ?? "public");
    process.stdout.write(JSON.stringify({ ...result, ms: Date.now() - started }) + "\n");
  } finally {
    await db.end();
    redis.disconnect();
  }
}

main().catch((err) => {
  process.stderr.write(`rebuild-feeds: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
