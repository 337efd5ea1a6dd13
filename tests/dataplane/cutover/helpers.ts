// A whole stack to cut over: a Postgres database pair replicating logically (the
// helpers of the Postgres cutover tests) and a Redis pair replicating by REPLICAOF (as
// the Redis tests start it), with the app's writers on both and its job workers.
import Redis from "ioredis";
import { Client } from "pg";
import { LocalPostgres, LocalRedis, startRedis } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { replicateLogical } from "../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../dataplane/postgres/preflight";
import { GRANT_APP, seededPair } from "../postgres/helpers";
import { ferry } from "../redis/helpers";

export interface Stack {
  pg: Awaited<ReturnType<typeof seededPair>>;
  redisSource: LocalRedis;
  redisTarget: LocalRedis;
  /** Every URL in the environment, as the Pulumi stage passes them. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Database `db` replicating logically, and a fresh Redis pair replicating by REPLICAOF. */
export async function replicatingStack(source: LocalPostgres, target: LocalPostgres, db: string): Promise<Stack> {
  const pg = await seededPair(source, target, db);
  const ready = await preflight({ sourceUrl: pg.src, targetUrl: pg.tgt, strategy: "logical", fixReplicaIdentity: true });
  if (!ready.ok) throw new Error(`preflight: ${JSON.stringify(ready.checks.filter((c) => !c.ok))}`);
  await replicateLogical({ sourceUrl: pg.src, targetUrl: pg.tgt, syncTimeoutMs: 30_000 });
  await withClient(pg.tgt, (c) => c.query(GRANT_APP));
  const redisSource = await startRedis({ password: "box-password", settings: { "repl-diskless-sync-delay": "0" } });
  const redisTarget = await startRedis();
  const env = { ...pg.env, FERRY_SOURCE_REDIS_URL: redisSource.url(), FERRY_TARGET_REDIS_URL: redisTarget.url() };
  const started = await ferry(["--json", "redis", "replicate", "--strategy", "replicaof"], env);
  if (started.code !== 0) throw new Error(`redis replicate: ${started.stderr}`);
  return { pg, redisSource, redisTarget, env, stop: async () => void (await Promise.all([redisSource.stop(), redisTarget.stop()])) };
}

/** The app's Redis writer: SETs one key after another, remembering the ones Redis acknowledged. */
export function redisWriter(url: string) {
  const redis = new Redis(url, { maxRetriesPerRequest: 0 });
  redis.on("error", () => undefined);
  const acked: string[] = [];
  const refused: string[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await redis.set(`w:${i}`, String(i));
        acked.push(`w:${i}`);
      } catch (e) {
        refused.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { acked, refused, stop: async () => { running = false; await loop; redis.disconnect(); } };
}

/** The acknowledged keys missing from `url` (empty when none was lost). */
export async function missingKeys(url: string, keys: string[]): Promise<string[]> {
  const redis = new Redis(url);
  try {
    const found = keys.length ? await redis.mget(...keys) : [];
    return keys.filter((_, i) => found[i] === null);
  } finally {
    redis.disconnect();
  }
}

/** Does the target Redis carry ferry's cutover mark (a function library, read here with plain commands)? */
export async function redisMarked(url: string): Promise<boolean> {
  const redis = new Redis(url);
  try {
    return ((await redis.call("FUNCTION", "LIST", "LIBRARYNAME", "ferry_cutover")) as unknown[]).length === 1;
  } finally {
    redis.disconnect();
  }
}

/** Can the app (the URL's user) write on this Redis? */
export async function redisCanWrite(url: string): Promise<boolean> {
  const redis = new Redis(url, { maxRetriesPerRequest: 0 });
  try {
    await redis.set("probe:write", "1");
    return true;
  } catch (e) {
    if (/NOPERM|READONLY/.test((e as Error).message)) return false;
    throw e;
  } finally {
    redis.disconnect();
  }
}

/**
 * A Sidekiq-shaped worker whose jobs write Postgres, as Mastodon's do: `jobs` jobs in
 * queue:default (named in `queues`); the worker takes one at a time, shows it in progress
 * as Sidekiq 7 does (`processes`, the `<identity>` heartbeat hash, `<identity>:work`)
 * for `jobMs` (the first one until `holdFirst` resolves), then INSERTs a row for it into
 * `events` on `pgUrl`. A job whose INSERT fails (a fenced Postgres) goes to the `retry`
 * set, due in an hour, as Sidekiq retries. Its heartbeat (every 100 ms) takes the signals
 * Sidekiq takes through Redis: TSTP quiets it (no new job; `quiet` is "true" from the next
 * beat), TERM stops it.
 */
export async function sidekiqWithWorker(redisUrl: string, pgUrl: string, jobs: number, opts: { jobMs?: number; holdFirst?: Promise<void> } = {}) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 0 });
  redis.on("error", () => undefined);
  const db = new Client({ connectionString: pgUrl });
  db.on("error", () => undefined);
  await db.connect();
  const identity = "worker-1:4242:0a1b2c";
  await redis.sadd("queues", "default");
  await redis.rpush("queue:default", ...Array.from({ length: jobs }, (_, i) => JSON.stringify({ class: "InsertWorker", queue: "default", jid: `j${i}`, args: [i] })));
  const done: string[] = [];
  const retried: string[] = [];
  const state = { running: true, quiet: false, stopped: false };
  const beat = async () => {
    const signal = await redis.rpop(`${identity}-signals`).catch(() => null);
    if (signal === "TERM") state.stopped = true;
    await redis.multi().sadd("processes", identity).hset(identity, "beat", String(Date.now() / 1000), "quiet", String(state.quiet)).expire(identity, 60).exec().catch(() => null);
    if (signal === "TSTP") state.quiet = true;
  };
  await beat();
  const heartbeat = setInterval(() => void beat(), 100);
  const loop = (async () => {
    while (state.running && !state.stopped) {
      const job = state.quiet ? null : await redis.lpop("queue:default").catch(() => null);
      if (job) {
        const { jid } = JSON.parse(job) as { jid: string };
        await redis.hset(`${identity}:work`, "tid-1", JSON.stringify({ queue: "default", payload: job, run_at: Date.now() / 1000 })).catch(() => null);
        await (done.length + retried.length === 0 && opts.holdFirst ? opts.holdFirst : new Promise((r) => setTimeout(r, opts.jobMs ?? 20)));
        try {
          await db.query("INSERT INTO events (kind, payload) VALUES ('job', jsonb_build_object('jid', $1::text))", [jid]);
          done.push(jid);
        } catch {
          retried.push(jid);
          await redis.zadd("retry", String(Date.now() / 1000 + 3600), job).catch(() => null);
        }
        await redis.hdel(`${identity}:work`, "tid-1").catch(() => null);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    done,
    retried,
    quiet: () => state.quiet,
    stop: async () => {
      state.running = false;
      clearInterval(heartbeat);
      await loop;
      redis.disconnect();
      await db.end();
    },
  };
}

/** Is a ferry process reading Sidekiq's queues on this Redis right now (the cutover's drain)? */
export async function ferryReadingQueues(url: string): Promise<boolean> {
  const redis = new Redis(url);
  try {
    const clients = String(await redis.call("CLIENT", "LIST")).split("\n");
    return clients.some((c) => / name=ferry /.test(c) && / cmd=(smembers|llen|hlen|zcard) /.test(c));
  } finally {
    redis.disconnect();
  }
}
