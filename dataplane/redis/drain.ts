// `drain`: the queue gate of an app cutover. Wait until no job is left that would be
// lost, or run twice, if the old Redis stopped being the app's now.
// Sidekiq (--sidekiq): its processes are quieted first (sidekiq.ts), then waited for until
// none has a job in progress: a worker left running would take jobs until the fences and
// lose the one in progress at them. Its queues need not be empty: with every worker quiet,
// a ready job stays where it is and travels with the copy, as the `schedule`, `retry` and
// `dead` sorted sets do (a job scheduled for next week, or retried in an hour, would block
// every cutover); all of them are reported (count, next due) as what travels with the
// data. Sidekiq's layout (../shared/FACTS.md "Sidekiq's data in Redis"; Sidekiq 6.4's
// launcher.rb and api.rb): a `queues` set naming `queue:<name>` lists; `processes`, a set
// of process identities, each with a heartbeat hash `<identity>` (60 s TTL) and its jobs
// in progress in `<identity>:work` (Sidekiq 7) or `<identity>:workers` (Sidekiq 6). All
// under an optional namespace prefix (redis-namespace: "<ns>:").
// Other apps pass --pattern: keys that must be empty (their workers consume them).
import Redis from "ioredis";
import { sleep } from "../cli/common";
import { connect, Endpoint } from "./connection";
import { SidekiqQuiet, wakeQuieted } from "./sidekiq";

export interface DrainOptions {
  endpoint: Endpoint;
  sidekiq: boolean;
  namespace?: string;
  patterns: string[];
  timeoutMs: number;
  intervalMs: number;
}

export interface Leftover {
  /** The key (a busy hash, a pattern), or for `quieting`, the Sidekiq process's identity. */
  key: string;
  /** busy: jobs in progress; quieting: a Sidekiq process not yet quiet (or not yet seen quiet at a later heartbeat). */
  kind: "busy" | "quieting" | "pattern";
  count: number;
}

/** Jobs kept as data (Sidekiq's ready queues with every worker quiet, its schedule, retry and dead sets): they travel with the copy. */
export interface Travelling {
  key: string;
  kind: "queue" | "schedule" | "retry" | "dead";
  count: number;
  /** When the earliest is due (ISO); for `dead`, when the oldest died; none for a ready queue. */
  nextDueAt?: string;
}

export interface DrainResult {
  ok: boolean;
  seconds: number;
  remaining: number;
  left: Leftover[];
  travelling: Travelling[];
  /** Not drained: the Sidekiq processes it had quieted were stopped for their platform to start again (sidekiq.ts). */
  woken?: number;
}

async function earliestDue(client: Redis, key: string): Promise<string | undefined> {
  const first = (await client.call("ZRANGE", key, "0", "0", "WITHSCORES")) as string[];
  return first.length === 2 ? new Date(Number(first[1]) * 1000).toISOString() : undefined;
}

/** What keeps Sidekiq from being idle: each process with jobs in progress, or not yet seen quiet at a heartbeat after it went quiet. */
async function sidekiqLeftovers(quiet: SidekiqQuiet): Promise<Leftover[]> {
  return (await quiet.poll()).flatMap((p): Leftover[] =>
    p.busyKey ? [{ key: p.busyKey, kind: "busy", count: p.busy }] : p.state !== "idle" ? [{ key: p.identity, kind: "quieting", count: 1 }] : []);
}

/** Sidekiq's ready queues, schedule, retry and dead sets: what travels with the copy instead of draining. */
export async function sidekiqTravelling(client: Redis, namespace?: string): Promise<Travelling[]> {
  const ns = namespace ? `${namespace}:` : "";
  const out: Travelling[] = [];
  for (const name of (await client.smembers(`${ns}queues`)).sort()) {
    const key = `${ns}queue:${name}`;
    const count = await client.llen(key);
    if (count > 0) out.push({ key, kind: "queue", count });
  }
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
  const quiet = opts.sidekiq ? new SidekiqQuiet(client, opts.namespace) : undefined;
  const started = Date.now();
  try {
    for (;;) {
      const left: Leftover[] = [];
      if (quiet) left.push(...(await sidekiqLeftovers(quiet)));
      for (const p of opts.patterns) left.push(...(await patternLeftovers(client, p)));
      const remaining = left.reduce((a, l) => a + l.count, 0);
      const seconds = (Date.now() - started) / 1000;
      if (remaining === 0 || Date.now() - started >= opts.timeoutMs) {
        const travelling = opts.sidekiq ? await sidekiqTravelling(client, opts.namespace) : [];
        // Not drained: the gate is not met, and the source goes back as it was (its workers woken).
        const woken = remaining > 0 && quiet ? { woken: await wakeQuieted(opts.endpoint) } : {};
        return { ok: remaining === 0, seconds, remaining, left: left.filter((l) => l.count > 0), travelling, ...woken };
      }
      await sleep(opts.intervalMs);
    }
  } finally {
    client.disconnect();
  }
}
