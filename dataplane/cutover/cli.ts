// `ferry cutover` and `ferry status`: every moving store at once. A store moves when its
// target URL is given, the same way the per-store commands take them: Postgres from
// FERRY_SOURCE_URL / FERRY_TARGET_URL, Redis from FERRY_SOURCE_REDIS_URL /
// FERRY_TARGET_REDIS_URL (or the --pg-* / --redis-* flags, with a warning when they carry
// a password); a Heroku source's URLs are read from its add-ons at each run (../cli/source.ts). Strategy and mode are the ones replicate recorded; a flag that disagrees
// is refused before anything changes. Exit codes: 0 ok, 1 a gate or check failed, 2 bad input.
import { Command, Option } from "commander";
import { action, emit, FerryError, GlobalOptions, integer, percentage, progressBar, reportTo, resolveUrl } from "../cli/common";
import { sourceGiven, sourceUrl } from "../cli/source";
import { fenceFlags, fenceOptions, parseNumber, parseStrategy, strategyToCut } from "../postgres/cli";
import { fenceOption } from "../redis/cli";
import { Endpoint, TlsTrust } from "../redis/connection";
import type { RedisFence } from "../redis/fence";
import { chooseMode, recordedMode, RedisMode } from "../redis/recorded";
import { GateNotMet, QueueDrain, stackCutover, StackCutoverResult } from "./stack";
import { stackStatus, StoreStatus } from "./status";

interface StackFlags extends GlobalOptions {
  pgSource?: string;
  pgTarget?: string;
  redisSource?: string;
  redisTarget?: string;
  tlsCa?: string;
  tlsInsecure?: boolean;
}

interface CutoverFlags extends StackFlags {
  strategy?: string;
  mode?: RedisMode;
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
}

const ENV = {
  pgSource: "FERRY_SOURCE_URL",
  pgTarget: "FERRY_TARGET_URL",
  redisSource: "FERRY_SOURCE_REDIS_URL",
  redisTarget: "FERRY_TARGET_REDIS_URL",
} as const;

/**
 * A store moves when its target is given; then its source must be given too (a URL, or
 * a Heroku add-on whose current URL is read now: ../cli/source.ts).
 */
async function storeUrls(flags: StackFlags, store: "pg" | "redis"): Promise<{ source: string; target: string } | undefined> {
  const [sourceKey, targetKey] = store === "pg" ? (["pgSource", "pgTarget"] as const) : (["redisSource", "redisTarget"] as const);
  const sourceStore = store === "pg" ? "postgres" : "redis";
  if (!flags[targetKey] && !process.env[ENV[targetKey]]) {
    if (flags[sourceKey] || sourceGiven(sourceStore)) throw new FerryError(`missing --${store}-target: the ${store === "pg" ? "Postgres" : "Redis"} source is given but not its target (set ${ENV[targetKey]})`, 2);
    return undefined;
  }
  return {
    source: await sourceUrl(sourceStore, flags[sourceKey], `--${store}-source`, flags),
    target: resolveUrl(flags[targetKey], ENV[targetKey], `--${store}-target`),
  };
}

async function redisEndpoints(flags: StackFlags): Promise<{ source: Endpoint; target: Endpoint } | undefined> {
  const urls = await storeUrls(flags, "redis");
  if (!urls) return undefined;
  const trust: TlsTrust = { caFile: flags.tlsCa, insecure: !!flags.tlsInsecure };
  return { source: { url: urls.source, flag: "--source", trust }, target: { url: urls.target, flag: "--target", trust } };
}

function nothingMoves(): FerryError {
  return new FerryError(`no store to move: set ${ENV.pgSource}/${ENV.pgTarget} and/or ${ENV.redisSource}/${ENV.redisTarget}`, 2);
}

function connectionOptions(cmd: Command): Command {
  return cmd
    .option("--pg-source <url>", "source Postgres URL (prefer FERRY_SOURCE_URL: argv is visible to other users)")
    .option("--pg-target <url>", "target Postgres URL (prefer FERRY_TARGET_URL)")
    .option("--redis-source <url>", "source Redis URL (prefer FERRY_SOURCE_REDIS_URL)")
    .option("--redis-target <url>", "target Redis URL (prefer FERRY_TARGET_REDIS_URL)")
    .option("--tls-ca <file>", "Redis: PEM certificate to trust for rediss://")
    .option("--tls-insecure", "Redis: accept any TLS certificate (no verification); an explicit choice");
}

/** What moves and how, read and checked before anything is touched. */
async function cutoverPlan(flags: CutoverFlags): Promise<Parameters<typeof stackCutover>[0]> {
  const pg = await storeUrls(flags, "pg");
  const redis = await redisEndpoints(flags);
  if (!pg && !redis) throw nothingMoves();
  if (!redis && (flags.mode || flags.sidekiq || flags.pattern.length)) throw new FerryError(`${flags.mode ? "--mode" : "--sidekiq/--pattern"} needs the Redis URLs (${ENV.redisTarget})`, 2);
  if (!pg && (flags.strategy || flags.unfencedRole?.length || flags.providerSuperusers)) {
    throw new FerryError(`${flags.strategy ? "--strategy" : flags.providerSuperusers ? "--provider-superusers" : "--unfenced-role"} needs the Postgres URLs (${ENV.pgTarget})`, 2);
  }
  const timeoutSeconds = parseNumber("--timeout", flags.timeout, 1) ?? 60;
  const numbers = { maxLagBytes: parseNumber("--max-lag-bytes", flags.maxLagBytes, 0), jobs: parseNumber("--jobs", flags.jobs, 1) };
  const flagged = parseStrategy(flags.strategy, false);
  const queues: QueueDrain | undefined = flags.sidekiq || flags.pattern.length
    ? { sidekiq: !!flags.sidekiq, namespace: flags.namespace, patterns: flags.pattern, timeoutMs: timeoutSeconds * 1000 }
    : undefined;
  const [strategy, mode] = await Promise.all([
    pg ? strategyToCut(flagged, pg.source, pg.target) : undefined,
    redis ? recordedMode(redis.target).then((recorded) => chooseMode(flags.mode, recorded)) : undefined,
  ]);
  return {
    postgres: pg && strategy ? {
      sourceUrl: pg.source, targetUrl: pg.target, strategy,
      ...numbers, timeoutSeconds, ...fenceOptions(flags),
    } : undefined,
    redis: redis && mode ? {
      ...redis, mode, timeoutMs: timeoutSeconds * 1000, samplePct: flags.sample, ttlToleranceMs: flags.ttlTolerance, batchSize: flags.batch,
      fence: flags.fence,
    } : undefined,
    queues,
    onStep: flags.json ? undefined : (s) => process.stderr.write(`  ${s.name} (${s.ms} ms)${s.detail ? `: ${s.detail}` : ""}\n`),
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
    .option("--strategy <s>", "Postgres: physical, logical or dump (default: the one ferry pg replicate recorded; a different one is refused)")
    .addOption(new Option("--mode <mode>", "Redis: replicaof or copy (default: the one ferry redis replicate recorded; a different one is refused)").choices(["replicaof", "copy"]))
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
