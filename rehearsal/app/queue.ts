// A Sidekiq-shaped queue: jobs are JSON pushed on the list `queue:<name>`, the
// queue's name is kept in the set `queues`, and workers BRPOP from the other end
// and count processed jobs in `stat:processed`, as Sidekiq does. `ferry redis drain
// --sidekiq` reads exactly these keys.
import type Redis from "ioredis";
import { randomBytes } from "node:crypto";

export const QUEUE = "default";
export const queueKey = (name: string): string => `queue:${name}`;

export function enqueue(multi: ReturnType<Redis["multi"]>, klass: string, args: unknown[], queue = QUEUE): void {
  const now = Date.now() / 1000;
  const job = { class: klass, args, queue, jid: randomBytes(12).toString("hex"), created_at: now, enqueued_at: now, retry: true };
  multi.sadd("queues", queue);
  multi.lpush(queueKey(queue), JSON.stringify(job));
}

/**
 * Consume jobs until `stop()`; a failed BRPOP (Redis gone, or a read-only replica)
 * backs off instead of spinning. Returns a stop function that resolves when the
 * loop has exited.
 */
export function startWorker(redis: Redis, queue = QUEUE): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const popped = await redis.brpop(queueKey(queue), 1);
        if (popped) await redis.incr("stat:processed");
      } catch {
        if (running) await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
