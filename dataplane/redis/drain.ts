// `drain`: the queue gate of an app cutover. Wait until the job queues are empty so no
// job is left behind on the old Redis (or run twice on the new one), with a timeout and a
// report of what is left. Sidekiq's layout: a `queues` set naming `queue:<name>` lists,
// `schedule` and `retry` sorted sets (scored by when the job is due), and jobs being worked
// on in `<process identity>:work` hashes of the processes in the `processes` set; all
// under an optional namespace prefix (redis-namespace: "<ns>:"). Other apps pass --pattern.
import Redis from "ioredis";
import { sleep } from "../cli/common";
import { connect, Endpoint } from "./connection";

export interface DrainOptions {
  endpoint: Endpoint;
  sidekiq: boolean;
  namespace?: string;
  patterns: string[];
  timeoutMs: number;
  intervalMs: number;
}

export interface Leftover {
  key: string;
  kind: "queue" | "schedule" | "retry" | "busy" | "pattern";
  count: number;
  /** For schedule/retry: when the earliest job is due (ISO). */
  nextDueAt?: string;
}

export interface DrainResult {
  ok: boolean;
  seconds: number;
  remaining: number;
  left: Leftover[];
}

async function earliestDue(client: Redis, key: string): Promise<string | undefined> {
  const first = (await client.call("ZRANGE", key, "0", "0", "WITHSCORES")) as string[];
  return first.length === 2 ? new Date(Number(first[1]) * 1000).toISOString() : undefined;
}

export async function sidekiqLeftovers(client: Redis, namespace?: string): Promise<Leftover[]> {
  const ns = namespace ? `${namespace}:` : "";
  const left: Leftover[] = [];
  for (const name of (await client.smembers(`${ns}queues`)).sort()) {
    const key = `${ns}queue:${name}`;
    left.push({ key, kind: "queue", count: await client.llen(key) });
  }
  for (const kind of ["schedule", "retry"] as const) {
    const key = `${ns}${kind}`;
    left.push({ key, kind, count: await client.zcard(key), nextDueAt: await earliestDue(client, key) });
  }
  for (const identity of await client.smembers(`${ns}processes`)) {
    const key = `${ns}${identity}:work`;
    left.push({ key, kind: "busy", count: await client.hlen(key) });
  }
  return left;
}

const LENGTH_OF: Record<string, string> = { list: "LLEN", set: "SCARD", zset: "ZCARD", hash: "HLEN", stream: "XLEN" };

export async function patternLeftovers(client: Redis, pattern: string): Promise<Leftover[]> {
  const left: Leftover[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const type = await client.type(key);
      const count = LENGTH_OF[type] ? Number(await client.call(LENGTH_OF[type], key)) : type === "none" ? 0 : 1;
      left.push({ key, kind: "pattern", count });
    }
  } while (cursor !== "0");
  return left;
}

export async function drain(opts: DrainOptions): Promise<DrainResult> {
  const client = await connect(opts.endpoint);
  const started = Date.now();
  try {
    for (;;) {
      const left: Leftover[] = [];
      if (opts.sidekiq) left.push(...(await sidekiqLeftovers(client, opts.namespace)));
      for (const p of opts.patterns) left.push(...(await patternLeftovers(client, p)));
      const remaining = left.reduce((a, l) => a + l.count, 0);
      const seconds = (Date.now() - started) / 1000;
      if (remaining === 0 || Date.now() - started >= opts.timeoutMs) {
        return { ok: remaining === 0, seconds, remaining, left: left.filter((l) => l.count > 0) };
      }
      await sleep(opts.intervalMs);
    }
  } finally {
    client.disconnect();
  }
}
