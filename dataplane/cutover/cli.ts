// `ferry cutover` and `ferry status`: every moving store at once. A store moves when its
// target URL is given, the same way the per-store commands take them: Postgres from
// FERRY_SOURCE_URL / FERRY_TARGET_URL, Redis from FERRY_SOURCE_REDIS_URL /
// FERRY_TARGET_REDIS_URL, or --source / --target as in `ferry pg` and `ferry redis` (once
// per store, told apart by the URL's scheme; a warning when they carry a password); a
// Heroku source's URLs are read from its add-ons at each run (../cli/source.ts). Each
// store's strategy is the one replicate recorded; a --strategy that disagrees (once per
// store, told apart by its value) is refused before anything changes. So a `ferry pg
// cutover` or `ferry redis cutover` command line is a `ferry cutover` one too.
// Exit codes: 0 ok, 1 a gate or check failed, 2 bad input.
import { Command, Option } from "commander";
import { action, emit, FerryError, GlobalOptions, integer, percentage, progressBar, reportTo, resolveUrl } from "../cli/common";
import { sourceGiven, sourceUrl } from "../cli/source";
import { STRATEGIES, Strategy } from "../postgres/names";
import { fenceFlags, fenceOptions, parseNumber, strategyToCut } from "../postgres/cli";
import { fenceOption } from "../redis/cli";
import { Endpoint, TlsTrust } from "../redis/connection";
import type { RedisFence } from "../redis/fence";
import { chooseMode, recordedMode, REDIS_MODES, RedisMode } from "../redis/recorded";
import { GateNotMet, QueueDrain, stackCutover, StackCutoverOptions, StackCutoverResult } from "./stack";
import { stackStatus, StoreStatus } from "./status";
import { accessOf, secretEnv } from "../pooler/cli";
import { ENV as CONTRACT_ENV } from "../cli/contract";

interface StackFlags extends GlobalOptions {
  source: string[];
  target: string[];
  tlsCa?: string;
  tlsInsecure?: boolean;
}

interface CutoverFlags extends StackFlags {
  strategy: string[];
  maxLagBytes?: string;
  timeout?: string;
  jobs?: string;
  sample: number;
  ttlTolerance: number;
  batch: number;
  fence: RedisFence;
  sidekiq?: boolean;
  namespace?: string;
  pattern: string[];
  unfencedRole?: string[];
  providerSuperusers?: boolean;
  pooler: string[];
  poolerCa?: string;
  poolerTimeout: number;
  poolerRedis?: boolean;
}

type Store = "pg" | "redis";
const STORE_NAME = { pg: "Postgres", redis: "Redis" } as const;

const ENV = {
  pg: { source: "FERRY_SOURCE_URL", target: "FERRY_TARGET_URL" },
  redis: { source: "FERRY_SOURCE_REDIS_URL", target: "FERRY_TARGET_REDIS_URL" },
} as const;

/** The store a --source/--target URL is for, by its scheme (only the scheme is ever echoed). */
function storeOfUrl(flag: string, url: string): Store {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1].toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") return "pg";
  if (scheme === "redis" || scheme === "rediss") return "redis";
  throw new FerryError(`${flag} takes a postgresql:// or redis(s):// URL (got ${scheme ? `${scheme}://` : "no scheme"})`, 2);
}

/** The one --source or --target URL given for `store`, if any. */
function flaggedUrl(flags: StackFlags, side: "source" | "target", store: Store): string | undefined {
  const given = flags[side].filter((url) => storeOfUrl(`--${side}`, url) === store);
  if (given.length > 1) throw new FerryError(`--${side} given twice for ${STORE_NAME[store]}: one ${STORE_NAME[store]} URL per side`, 2);
  return given[0];
}

/**
 * A store moves when its target is given; then its source must be given too (a URL, or
 * a Heroku add-on whose current URL is read now: ../cli/source.ts).
 */
async function storeUrls(flags: StackFlags, store: Store): Promise<{ source: string; target: string } | undefined> {
  const env = ENV[store];
  const sourceStore = store === "pg" ? "postgres" : "redis";
  const [source, target] = [flaggedUrl(flags, "source", store), flaggedUrl(flags, "target", store)];
  if (!target && !process.env[env.target]) {
    if (source || sourceGiven(sourceStore)) throw new FerryError(`missing --target: the ${STORE_NAME[store]} source is given but not its target (set ${env.target})`, 2);
    return undefined;
  }
  return { source: await sourceUrl(sourceStore, source, "--source", flags), target: resolveUrl(target, env.target, "--target") };
}

/** Each store's --strategy: its value names the store (Postgres: physical, logical, dump; Redis: replicaof, copy). */
function strategiesOf(values: string[]): { pg?: Strategy; redis?: RedisMode } {
  const chosen: { pg?: string; redis?: string } = {};
  for (const value of values) {
    const store = STRATEGIES.includes(value as Strategy) ? "pg" : REDIS_MODES.includes(value as RedisMode) ? "redis" : undefined;
    if (!store) throw new FerryError(`--strategy must be one of ${STRATEGIES.join(", ")} (Postgres) or ${REDIS_MODES.join(", ")} (Redis) (got "${value}")`, 2);
    if (chosen[store] && chosen[store] !== value) throw new FerryError(`--strategy given twice for ${STORE_NAME[store]} (${chosen[store]}, ${value}): one per store`, 2);
    chosen[store] = value;
  }
  return chosen as { pg?: Strategy; redis?: RedisMode };
}

async function redisEndpoints(flags: StackFlags): Promise<{ source: Endpoint; target: Endpoint } | undefined> {
  const urls = await storeUrls(flags, "redis");
  if (!urls) return undefined;
  const trust: TlsTrust = { caFile: flags.tlsCa, insecure: !!flags.tlsInsecure };
  return { source: { url: urls.source, flag: "--source", trust }, target: { url: urls.target, flag: "--target", trust } };
}

function nothingMoves(): FerryError {
  return new FerryError(`no store to move: set ${ENV.pg.source}/${ENV.pg.target} and/or ${ENV.redis.source}/${ENV.redis.target}`, 2);
}

const collect = (value: string, acc: string[]) => [...acc, value];

function connectionOptions(cmd: Command): Command {
  return cmd
    .option("--source <url>", "a store's source URL, postgresql:// or redis(s)://, once per store (prefer FERRY_SOURCE_URL and FERRY_SOURCE_REDIS_URL: argv is visible to other users)", collect, [] as string[])
    .option("--target <url>", "a store's target URL, once per store (prefer FERRY_TARGET_URL and FERRY_TARGET_REDIS_URL)", collect, [] as string[])
    .option("--tls-ca <file>", "Redis: PEM certificate to trust for rediss://")
    .option("--tls-insecure", "Redis: accept any TLS certificate (no verification); an explicit choice");
}

/** What moves and how, read and checked before anything is touched. */
async function cutoverPlan(flags: CutoverFlags): Promise<Parameters<typeof stackCutover>[0]> {
  const pg = await storeUrls(flags, "pg");
  const redis = await redisEndpoints(flags);
  if (!pg && !redis) throw nothingMoves();
  const flagged = strategiesOf(flags.strategy);
  if (!redis && (flagged.redis || flags.sidekiq || flags.pattern.length)) throw new FerryError(`${flagged.redis ? `--strategy ${flagged.redis}` : "--sidekiq/--pattern"} needs the Redis URLs (${ENV.redis.target})`, 2);
  if (!pg && (flagged.pg || flags.unfencedRole?.length || flags.providerSuperusers)) {
    throw new FerryError(`${flagged.pg ? `--strategy ${flagged.pg}` : flags.providerSuperusers ? "--provider-superusers" : "--unfenced-role"} needs the Postgres URLs (${ENV.pg.target})`, 2);
  }
  const { pooler, redisPooler } = await poolerHooks(flags, !!pg, !!redis);
  const timeoutSeconds = parseNumber("--timeout", flags.timeout, 1) ?? 60;
  const numbers = { maxLagBytes: parseNumber("--max-lag-bytes", flags.maxLagBytes, 0), jobs: parseNumber("--jobs", flags.jobs, 1) };
  const queues: QueueDrain | undefined = flags.sidekiq || flags.pattern.length
    ? { sidekiq: !!flags.sidekiq, namespace: flags.namespace, patterns: flags.pattern, timeoutMs: timeoutSeconds * 1000 }
    : undefined;
  const [strategy, mode] = await Promise.all([
    pg ? strategyToCut(flagged.pg, pg.source, pg.target) : undefined,
    redis ? recordedMode(redis.target).then((recorded) => chooseMode(flagged.redis, recorded)) : undefined,
  ]);
  return {
    pooler,
    redisPooler,
    postgres: pg && strategy ? {
      sourceUrl: pg.source, targetUrl: pg.target, strategy,
      ...numbers, timeoutSeconds, ...fenceOptions(flags),
      // Through the pooler the app writes until the pause, as it does up to the fence of a
      // `ferry pg cutover` run alone: capture verifies it all before the fence, and the
      // window only what changed since.
      verifyBeforeFence: pooler !== undefined,
    } : undefined,
    redis: redis && mode ? {
      ...redis, mode, timeoutMs: timeoutSeconds * 1000, samplePct: flags.sample, ttlToleranceMs: flags.ttlTolerance, batchSize: flags.batch,
      fence: flags.fence,
    } : undefined,
    queues,
    onStep: flags.json ? undefined : (s) => process.stderr.write(`  ${s.name} (${s.ms} ms)${s.detail ? `: ${s.detail}` : ""}\n`),
  };
}

/**
 * The pooler's halves the cutover drives: PgBouncer where Postgres moves, the Redis proxy
 * (--pooler-redis) where Redis does; both reached at the same --pooler replicas.
 */
async function poolerHooks(flags: CutoverFlags, pg: boolean, redis: boolean): Promise<Pick<StackCutoverOptions, "pooler" | "redisPooler">> {
  if (flags.poolerRedis && !flags.pooler.length) throw new FerryError("--pooler-redis needs the replicas: --pooler https://host:port, once per replica", 2);
  if (flags.poolerRedis && !redis) throw new FerryError(`--pooler-redis needs the Redis URLs (${ENV.redis.target})`, 2);
  if (!pg && flags.pooler.length && !flags.poolerRedis) throw new FerryError(`--pooler needs the Postgres URLs (${ENV.pg.target})`, 2);
  if (!flags.pooler.length) return {};
  const access = await accessOf(flags);
  const hook = (targetEnv: string) => ({ access, targetUrl: secretEnv(targetEnv), pauseTimeoutMs: flags.poolerTimeout * 1000 });
  return {
    pooler: pg ? hook(CONTRACT_ENV.poolerTargetUrl) : undefined,
    redisPooler: flags.poolerRedis ? hook(CONTRACT_ENV.poolerRedisTargetUrl) : undefined,
  };
}

function renderCutover(r: StackCutoverResult): string {
  if (!r.ok) return `cutover failed: ${r.error}`;
  const stores = [r.postgres && `Postgres (${r.postgres.strategy})`, r.redis && `Redis (${r.redis.mode})`].filter(Boolean).join(" and ");
  const repaired = r.postgres?.verify?.repaired;
  return `cut over ${stores}: writes unavailable for ${r.writeUnavailableMs} ms${r.resumed ? " (resumed)" : ""}${repaired ? `\nPostgres repaired before its target was released: ${repaired.join("; ")}` : ""}`;
}

function renderStatus(r: { stores: StoreStatus[] }): string {
  return r.stores.map((s) => `${s.store}${s.method ? ` (${s.method})` : ""}: ${s.stage}${s.lagBytes !== null ? `, lag ${s.lagBytes} bytes` : ""}\n  next: ${s.next}`).join("\n");
}

export function registerStackCommands(program: Command): void {
  fenceFlags(connectionOptions(program.command("cutover").description("every moving store at once, in one process: fence every writer, catch up, switch, verify, open (resumable)")))
    .option("--strategy <s>", "once per store: physical, logical, dump or capture for Postgres, replicaof or copy for Redis (default: the one replicate recorded; a different one is refused)", collect, [] as string[])
    .option("--max-lag-bytes <n>", "gate: Postgres lag must be under this before the fence", "204800")
    .option("--timeout <seconds>", "how long to wait for the gate, each catch-up and the queues", "60")
    .option("--jobs <n>", "Postgres dump/verify: parallel connections")
    .addOption(new Option("--sample <pct>", "Redis: percentage of keys whose values the verify compares").default(100).argParser(percentage))
    .addOption(new Option("--ttl-tolerance <ms>", "Redis: allowed TTL difference").default(2000).argParser(integer("--ttl-tolerance", 0)))
    .addOption(new Option("--batch <n>", "Redis: keys per SCAN batch").default(1000).argParser(integer("--batch", 1, 100_000)))
    .addOption(fenceOption())
    .option("--sidekiq", "before the fences: quiet every Sidekiq process on the source Redis (TSTP) and wait until none has a job in progress (ready queues, schedule, retry and dead travel with the data; a give-back stops the quieted processes, TERM, for their platform to start again)")
    .option("--namespace <ns>", "Sidekiq namespace prefix (redis-namespace)")
    .option("--pattern <glob>", "also drain keys matching this pattern (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--pooler <url>", "a Postgres pooler replica's control URL, https://host:port (once per replica): paused before the fence, repointed at FERRY_POOLER_TARGET_URL and resumed once the target opens, resumed on the source on a give-back (admin password: FERRY_POOLER_ADMIN_PASSWORD)", collect, [] as string[])
    .option("--pooler-ca <file>", "PEM the pooler replicas' certificates chain to")
    .addOption(new Option("--pooler-timeout <seconds>", "how long a replica's PAUSE may wait for its transactions before the cutover gives back").default(10).argParser(integer("--pooler-timeout", 1, 3600)))
    .option("--pooler-redis", `the --pooler replicas also proxy Redis (serve --redis-port): paused just before the Redis fence, repointed at ${CONTRACT_ENV.poolerRedisTargetUrl} and resumed once the target is primary, resumed on the source on a give-back`)
    .action(action(async (_o: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals() as CutoverFlags;
      const plan = await cutoverPlan(flags);
      const bar = progressBar(flags);
      const copied = reportTo(bar, "Postgres cutover copy (bytes)");
      if (plan.postgres) plan.postgres.onCopyProgress = (p) => copied(p.bytesDone, p.bytesTotal);
      try {
        const r = await stackCutover(plan);
        emit(flags, r, renderCutover);
        return r.ok ? 0 : 1;
      } catch (err) {
        if (err instanceof GateNotMet) throw new FerryError(err.message, 1);
        throw err;
      } finally {
        bar.stop();
      }
    }));

  connectionOptions(program.command("status").description("every moving store at once: stage, lag and the next step"))
    .action(action(async (_o: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals() as StackFlags;
      const pg = await storeUrls(flags, "pg");
      const redis = await redisEndpoints(flags);
      if (!pg && !redis) throw nothingMoves();
      const r = await stackStatus({ postgres: pg && { sourceUrl: pg.source, targetUrl: pg.target }, redis });
      emit(flags, r, renderStatus);
    }));
}
