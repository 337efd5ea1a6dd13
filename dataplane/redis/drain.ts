// `drain`: the queue gate of an app cutover. Wait until no job is left that would be
// lost, or run twice, if the old Redis stopped being the app's now: jobs ready to run and
// jobs in progress. Everything else a job system keeps is data and travels with the copy.
// Sidekiq's layout (../shared/FACTS.md "Sidekiq's data in Redis"; Sidekiq 6.4's
// launcher.rb and api.rb): a `queues` set naming `queue:<name>` lists (ready now);
// `processes`, a set of process identities, each with a heartbeat hash `<identity>`
// (60 s TTL) and its jobs in progress in `<identity>:work` (Sidekiq 7) or
// `<identity>:workers` (Sidekiq 6); the `schedule`, `retry` and `dead` sorted sets,
// scored by when a job is due. Those three are not waited for: a job scheduled for next
// week, or retried in an hour, would block every cutover; they are reported (count, next
// due) as what travels with the data. All under an optional namespace prefix
// (redis-namespace: "<ns>:"). Other apps pass --pattern.
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
  kind: "queue" | "busy" | "pattern";
  count: number;
}

/** Jobs kept as data (Sidekiq's schedule, retry and dead sets): they travel with the copy. */
export interface Travelling {
  key: string;
  kind: "schedule" | "retry" | "dead";
  count: number;
  /** When the earliest is due (ISO); for `dead`, when the oldest died. */
  nextDueAt?: string;
}

export interface DrainResult {
  ok: boolean;
  seconds: number;
  remaining: number;
  left: Leftover[];
  travelling: Travelling[];
}

async function earliestDue(client: Redis, key: string): Promise<string | undefined> {
  const first = (await client.call("ZRANGE", key, "0", "0", "WITHSCORES")) as string[];
  return first.length === 2 ? new Date(Number(first[1]) * 1000).toISOString() : undefined;
}

/** Sidekiq's ready queues and the jobs its live processes are working on. */
export async function sidekiqLeftovers(client: Redis, namespace?: string): Promise<Leftover[]> {
  const ns = namespace ? `${namespace}:` : "";
  const left: Leftover[] = [];
  for (const name of (await client.smembers(`${ns}queues`)).sort()) {
    const key = `${ns}queue:${name}`;
    left.push({ key, kind: "queue", count: await client.llen(key) });
  }
  for (const identity of (await client.smembers(`${ns}processes`)).sort()) {
    // Sidekiq 7 names it `:work`, Sidekiq 6 `:workers`.
    for (const key of [`${ns}${identity}:work`, `${ns}${identity}:workers`]) left.push({ key, kind: "busy", count: await client.hlen(key) });
  }
  return left;
}

/** Sidekiq's schedule, retry and dead sets: what travels with the copy instead of draining. */
export async function sidekiqTravelling(client: Redis, namespace?: string): Promise<Travelling[]> {
  const ns = namespace ? `${namespace}:` : "";
  const out: Travelling[] = [];
  for (const kind of ["schedule", "retry", "dead"] as const) {
    const key = `${ns}${kind}`;
    const count = await client.zcard(key);
    if (count > 0) out.push({ key, kind, count, nextDueAt: await earliestDue(client, key) });
  }
  return out;
}

const LENGTH_OF: Record<string, string> = { list: "LLEN", set: "SCARD", zset: "ZCARD", hash: "HLEN", stream: "XLEN" };

/**
 * The elements left in the keys a pattern matches, as one line under the pattern's own
 * name: the matching keys' names may be data (key-label.ts), the pattern is the user's.
 */
export async function patternLeftovers(client: Redis, pattern: string): Promise<Leftover[]> {
  let count = 0;
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    for (const key of keys) {
      const type = await client.type(key);
      count += LENGTH_OF[type] ? Number(await client.call(LENGTH_OF[type], key)) : type === "none" ? 0 : 1;
    }
  } while (cursor !== "0");
  return [{ key: pattern, kind: "pattern", count }];
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
        const travelling = opts.sidekiq ? await sidekiqTravelling(client, opts.namespace) : [];
        return { ok: remaining === 0, seconds, remaining, left: left.filter((l) => l.count > 0), travelling };
      }
      await sleep(opts.intervalMs);
    }
  } finally {
    client.disconnect();
  }
}
