// Redis writes of the app's own, not tied to a database commit: a worker records a tick
// every few hundred milliseconds (as Sidekiq's scheduler, counters and caches do), and
// remembers each one Redis acknowledged in a JSON-lines file. A tick acknowledged by a
// Redis that is no longer the primary is a lost write: the end check looks for every
// acknowledged tick in the Redis the app ends up on.
import { appendFileSync } from "node:fs";
import type Redis from "ioredis";

export const TICKS_KEY = "stat:ticks";

export function startTicker(redis: Redis, name: string, ackFile: string, intervalMs = 250): () => Promise<void> {
  let running = true;
  let seq = 0;
  const loop = (async () => {
    while (running) {
      const member = `${name}:${++seq}`;
      try {
        await redis.zadd(TICKS_KEY, Date.now(), member);
        appendFileSync(ackFile, JSON.stringify({ member, at: Date.now() }) + "\n");
      } catch {
        // refused (read-only replica, fenced, down): not acknowledged, nothing to find later
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
