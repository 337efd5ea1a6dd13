// `ferry redis ...`: the Redis data plane from a terminal, the Pulumi stages and the
// rehearsal. URLs come from FERRY_SOURCE_REDIS_URL / FERRY_TARGET_REDIS_URL (or --source /
// --target, with a warning when they carry a password; a Heroku source's from its add-on,
// read at each step: ../cli/source.ts); TLS trust is --tls-ca FILE or an
// explicit --tls-insecure. --json prints one object; exit 0 ok, 1 gate failed, 2 bad input.
import { Command, Option } from "commander";
import { action, emit, FerryError, GlobalOptions, integer, percentage, progressBar, resolveUrl } from "../cli/common";
import { sourceUrl } from "../cli/source";
import { Endpoint, TlsTrust } from "./connection";
import { cleanup, CleanupResult, cutover, cutoverDone, CutoverResult, rollback, RollbackResult } from "./cutover";
import { runCopy, CopyResult } from "./copy";
import { drain, DrainResult } from "./drain";
import { REDIS_FENCES } from "./fence";
import { preflight, PreflightResult } from "./preflight";
import { DEFAULT_BIG_KEY_LIMITS } from "./read-keys";
import { rebuild, RebuildResult } from "./rebuild";
import { chooseMode, recordedMode, REDIS_MODES } from "./recorded";
import { startReplicaOf } from "./replicaof";
import { status, StatusResult } from "./status";
import { verify, VerifyResult } from "./verify";
import { backupRedis, restoreRedis } from "../backup/redis";
import { backupObject, describeStored, objectOptions } from "../backup/cli";

interface ConnectionFlags {
  source?: string;
  target?: string;
  tlsCa?: string;
  tlsInsecure?: boolean;
}

function trust(flags: ConnectionFlags): TlsTrust {
  return { caFile: flags.tlsCa, insecure: !!flags.tlsInsecure };
}

/** FERRY_SOURCE_REDIS_URL, or a Heroku add-on's current URL (../cli/source.ts). */
async function sourceEndpoint(flags: ConnectionFlags, cmd: Command): Promise<Endpoint> {
  return { url: await sourceUrl("redis", flags.source, "--source", globals(cmd)), flag: "--source", trust: trust(flags) };
}

function targetEndpoint(flags: ConnectionFlags): Endpoint {
  return { url: resolveUrl(flags.target, "FERRY_TARGET_REDIS_URL", "--target"), flag: "--target", trust: trust(flags) };
}

/** A sub-command with the connection flags every Redis command takes. */
function redisCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .option("--source <url>", "source Redis URL (prefer FERRY_SOURCE_REDIS_URL, or for Heroku FERRY_SOURCE_REDIS_HEROKU_APP + FERRY_SOURCE_REDIS_HEROKU_ADDON with HEROKU_API_KEY)")
    .option("--target <url>", "target Redis URL (prefer FERRY_TARGET_REDIS_URL)")
    .option("--tls-ca <file>", "PEM certificate to trust for rediss:// (e.g. Heroku's self-signed one)")
    .option("--tls-insecure", "accept any TLS certificate (no verification); an explicit choice");
}

/** How the store moves: `--strategy`, as Postgres's (`ferry pg replicate --strategy`) and `ferry cutover`'s. */
const strategyOption = (help = "replicaof (target replicates the source) or copy (SCAN + DUMP/RESTORE + live tail)") =>
  new Option("--strategy <s>", help).choices(REDIS_MODES);
/** Shared with `ferry cutover`. */
export const fenceOption = () => new Option(
  "--fence <kind>",
  "how the source's writers are kept out: acl (ACL SETUSER -@write on the app's user) or dynos-stopped (a source that refuses ACL: the app's processes are stopped; ferry holds every other client's writes with CLIENT PAUSE WRITE until the rollback lifts it)",
).choices(REDIS_FENCES).default("acl");
const batchOption = () => new Option("--batch <n>", "keys per SCAN batch").default(1000).argParser(integer("--batch", 1, 100_000));

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Stop a --follow copy cleanly on SIGTERM/SIGINT (the Pulumi Command or a person's Ctrl-C). */
function stopSignal(): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return {
    signal: controller.signal,
    release: () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    },
  };
}

/** `ferry redis ...`: one registration per sub-command, in the order of a move. */
export function registerRedisCommands(program: Command): void {
  const redis = program.command("redis").description("Redis data plane: preflight, replicate, status, verify, cutover, rollback, cleanup, rebuild, drain, backup, restore");
  registerPreflight(redis);
  registerReplicate(redis);
  registerStatus(redis);
  registerVerify(redis);
  registerCutover(redis);
  registerRollback(redis);
  registerCleanup(redis);
  registerRebuild(redis);
  registerDrain(redis);
  registerBackup(redis);
  registerRestore(redis);
}

function registerPreflight(redis: Command): void {
  redisCommand(redis, "preflight", "probe both servers: replication, TLS, auth, keyspace notifications, databases, memory, versions")
    .addOption(strategyOption())
    .addOption(new Option("--listen <seconds>", "how long to listen for keyspace events when CONFIG is blocked").default(2).argParser(integer("--listen", 0, 600)))
    .option("--probe-write", "write one expiring key ferry:probe:* on the source to test keyspace notifications")
    .action(action(async (flags, cmd: Command) => {
      const result = await preflight({
        source: await sourceEndpoint(flags, cmd), target: targetEndpoint(flags), mode: flags.strategy,
        listenMs: flags.listen * 1000, probeWrite: !!flags.probeWrite,
      });
      emit(globals(cmd), result, renderPreflight);
      return result.ok ? 0 : 1;
    }));
}

function registerReplicate(redis: Command): void {
  redisCommand(redis, "replicate", "start moving data: the target becomes a replica, or a copy with a live tail")
    // Required, but checked in the action: commander checks a mandatory option before an
    // unknown one, and `--mode` (its old name) must be refused as such.
    .addOption(strategyOption())
    .addOption(new Option("--conflict <policy>", "keys already on the target: replace (source wins) or skip (target wins)").choices(["replace", "skip"]))
    .option("--follow", "copy: keep tailing until SIGTERM/SIGINT or until `cutover` asks")
    .addOption(batchOption())
    .addOption(new Option("--max-rate <keys>", "copy: at most this many keys per second (spare a busy source)").argParser(integer("--max-rate", 1)))
    .addOption(new Option("--big-key-elements <n>", "copy: collections larger than this are copied in chunks").default(DEFAULT_BIG_KEY_LIMITS.maxElements).argParser(integer("--big-key-elements", 1)))
    .addOption(new Option("--big-key-bytes <n>", "copy: values larger than this are copied in chunks").default(DEFAULT_BIG_KEY_LIMITS.maxBytes).argParser(integer("--big-key-bytes", 1024)))
    .addOption(new Option("--timeout <seconds>", "replicaof: how long to wait for the initial sync").default(3600).argParser(integer("--timeout", 1)))
    .action(action(async (flags, cmd: Command) => {
      const opts = globals(cmd);
      if (!flags.strategy) throw new FerryError(`missing --strategy: pass --strategy ${REDIS_MODES.join("|")}`, 2);
      const source = await sourceEndpoint(flags, cmd);
      const target = targetEndpoint(flags);
      if (flags.strategy === "replicaof") {
        if (flags.follow) throw new FerryError("--follow applies to --strategy copy only", 2);
        const replica = await startReplicaOf({ source, target, conflict: flags.conflict, timeoutMs: flags.timeout * 1000 });
        emit(opts, { mode: "replicaof", replica }, (r) => `target is a replica of the source: link up, lag ${r.replica.lagBytes} bytes`);
        return 0;
      }
      const stop = stopSignal();
      try {
        const result = await runCopy({
          source, target, conflict: flags.conflict, follow: !!flags.follow, batchSize: flags.batch, maxRate: flags.maxRate,
          limits: { maxElements: flags.bigKeyElements, maxBytes: flags.bigKeyBytes }, signal: stop.signal, progress: progressBar(opts),
        });
        emit(opts, { mode: "copy", ...result }, renderCopy);
        return 0;
      } finally {
        stop.release();
      }
    }));
}

function registerStatus(redis: Command): void {
  redisCommand(redis, "status", "how far the move is: offsets and lag, or keys copied, keys/s and dirty backlog")
    .option("--require-cutover", "exit 1 unless the target is the primary by a finished cutover (the gate before the source is released)")
    .action(action(async (flags, cmd: Command) => {
      if (flags.requireCutover) {
        const mark = await cutoverDone(targetEndpoint(flags));
        if (!mark) throw new FerryError("refusing: the Redis cutover is not done; the source still holds data the target lacks", 1);
        emit(globals(cmd), { cutover: mark }, (m) => `cutover done (${m.cutover.mode}) at ${m.cutover.at}`);
        return 0;
      }
      const result = await status(await sourceEndpoint(flags, cmd), targetEndpoint(flags));
      emit(globals(cmd), result, renderStatus);
      return 0;
    }));
}

function registerVerify(redis: Command): void {
  redisCommand(redis, "verify", "compare target to source: key counts, types, TTLs, values; exit 1 on any difference")
    .addOption(new Option("--sample <pct>", "percentage of keys whose values are compared").default(100).argParser(percentage))
    .addOption(new Option("--ttl-tolerance <ms>", "allowed TTL difference").default(2000).argParser(integer("--ttl-tolerance", 0)))
    .addOption(batchOption())
    .option("--show-keys", "print differing keys' whole names (they may be data: tokens, e-mails); by default a namespace and a fingerprint")
    .action(action(async (flags, cmd: Command) => {
      const result = await verify({
        source: await sourceEndpoint(flags, cmd), target: targetEndpoint(flags), samplePct: flags.sample, ttlToleranceMs: flags.ttlTolerance, batchSize: flags.batch,
        showKeys: !!flags.showKeys,
      });
      emit(globals(cmd), result, renderVerify);
      return result.ok ? 0 : 1;
    }));
}

function registerCutover(redis: Command): void {
  redisCommand(redis, "cutover", "after the app's writes stopped: finish replication or the copy, promote, verify")
    .addOption(strategyOption("replicaof or copy (default: the one ferry redis replicate recorded; a different one is refused)"))
    .addOption(new Option("--timeout <seconds>", "how long to wait for offsets / the follower").default(300).argParser(integer("--timeout", 1)))
    .addOption(new Option("--sample <pct>", "percentage of keys whose values the final verify compares").default(100).argParser(percentage))
    .addOption(new Option("--ttl-tolerance <ms>", "allowed TTL difference").default(2000).argParser(integer("--ttl-tolerance", 0)))
    .addOption(batchOption())
    .addOption(fenceOption())
    .action(action(async (flags, cmd: Command) => {
      const opts = globals(cmd);
      const target = targetEndpoint(flags);
      const mode = chooseMode(flags.strategy, await recordedMode(target));
      const result = await cutover({
        source: await sourceEndpoint(flags, cmd), target, mode, timeoutMs: flags.timeout * 1000,
        samplePct: flags.sample, ttlToleranceMs: flags.ttlTolerance, batchSize: flags.batch, progress: progressBar(opts),
        fence: flags.fence,
      });
      emit(opts, result, renderCutover);
      return result.ok ? 0 : 1;
    }));
}

function registerRollback(redis: Command): void {
  redisCommand(redis, "rollback", "before the target took writes: lift the fence on the source's writers; refuses once the target is the primary")
    .option("--check", "only check that going back loses nothing (exit 1 as the rollback would refuse); change nothing")
    .action(action(async (flags, cmd: Command) => {
      const result = await rollback(await sourceEndpoint(flags, cmd), targetEndpoint(flags), !!flags.check);
      emit(globals(cmd), result, renderRollback);
      return 0;
    }));
}

function registerCleanup(redis: Command): void {
  redisCommand(redis, "cleanup", "lowering replicate: the target stops replicating and loses the copy's state keys (never its data); nothing once it is the primary")
    .action(action(async (flags, cmd: Command) => {
      const result = await cleanup(targetEndpoint(flags));
      emit(globals(cmd), result, (r: CleanupResult) => r.actions.join("\n"));
      return 0;
    }));
}

function registerRebuild(redis: Command): void {
  redisCommand(redis, "rebuild", "run the app's own rebuild command against the target (e.g. tootctl feeds build)")
    .requiredOption("--command <shell>", "the command to run; it gets the target URL in $REDIS_URL (see --env-var)")
    .option("--env-var <name>", "environment variable that carries the target URL", "REDIS_URL")
    .addOption(new Option("--timeout <seconds>", "stop the command after this long").default(3600).argParser(integer("--timeout", 1)))
    .action(action(async (flags, cmd: Command) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.envVar)) throw new FerryError("--env-var must be a variable name", 2);
      const result = await rebuild({ command: flags.command, target: targetEndpoint(flags), envVar: flags.envVar, timeoutMs: flags.timeout * 1000 });
      emit(globals(cmd), result, renderRebuild);
      return result.ok ? 0 : 1;
    }));
}

function registerDrain(redis: Command): void {
  redisCommand(redis, "drain", "quiet the app's Sidekiq processes and wait until no job is in progress (and/or key patterns are empty); report what is left")
    .option("--sidekiq", "quiet every Sidekiq process (TSTP) and wait for the jobs in progress; ready queues, schedule, retry and dead travel with the data; on timeout the quieted processes are stopped (TERM) for their platform to start again")
    .option("--namespace <ns>", "Sidekiq namespace prefix (redis-namespace)")
    .option("--pattern <glob>", "also wait for keys matching this pattern to be empty (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addOption(new Option("--on <side>", "which server holds the queues").choices(["source", "target"]).default("source"))
    .addOption(new Option("--timeout <seconds>", "give up after this long").default(300).argParser(integer("--timeout", 0)))
    .addOption(new Option("--interval <ms>", "poll interval").default(500).argParser(integer("--interval", 10)))
    .action(action(async (flags, cmd: Command) => {
      if (!flags.sidekiq && flags.pattern.length === 0) throw new FerryError("drain needs --sidekiq and/or --pattern P", 2);
      const endpoint = flags.on === "target" ? targetEndpoint(flags) : await sourceEndpoint(flags, cmd);
      const result = await drain({
        endpoint, sidekiq: !!flags.sidekiq, namespace: flags.namespace, patterns: flags.pattern, timeoutMs: flags.timeout * 1000, intervalMs: flags.interval,
      });
      emit(globals(cmd), result, renderDrain);
      return result.ok ? 0 : 1;
    }));
}

function registerBackup(redis: Command): void {
  objectOptions(redisCommand(redis, "backup", "save every key of the source (DUMP payloads with their expiry) to S3, checksummed and read back (the final backup before decommission)"))
    .action(action(async (flags, cmd: Command) => {
      const result = await backupRedis(await sourceEndpoint(flags, cmd), backupObject(flags));
      emit(globals(cmd), result, (r) => describeStored("backed up the source Redis to", r, `${r.keys} key(s)`));
    }));
}

function registerRestore(redis: Command): void {
  objectOptions(redisCommand(redis, "restore", "restore a backup from S3 into the empty Redis at --target, after checking its checksum (the way back from decommission)"))
    .action(action(async (flags, cmd: Command) => {
      const result = await restoreRedis(backupObject(flags), targetEndpoint(flags));
      emit(globals(cmd), result, (r) => describeStored("restored into the target from", r, `${r.keys} key(s)`));
    }));
}

function renderPreflight(r: PreflightResult): string {
  const lines = r.checks.map((c) => `${c.status.toUpperCase().padEnd(4)} ${c.name}: ${c.detail}`);
  lines.push(r.ok ? `ready${r.mode ? ` for --strategy ${r.mode}` : `; recommended --strategy ${r.recommendedMode}`}` : "NOT ready (see FAIL lines)");
  return lines.join("\n");
}

function renderCopy(r: CopyResult): string {
  return [
    `${r.resumed ? "resumed" : "copied"}: ${r.copied} keys (${r.bigKeys} big, ${r.skipped} skipped) in ${r.seconds.toFixed(1)}s, ${r.keysPerSecond} keys/s; dbs ${r.dbs.join(",")}`,
    `catch-up: ${r.recopied} re-copied, ${r.deleted} deleted${r.reconciled ? `; gap repair marked ${r.reconciled.marked} of ${r.reconciled.scanned} keys (${r.reconciled.method})` : ""}`,
    `stopped by: ${r.stoppedBy}`,
  ].join("\n");
}

function renderStatus(r: StatusResult): string {
  if (r.mode === "replicaof") {
    const s = r.replica;
    return `replicaof: link ${s.linkUp ? "up" : "down"}${s.syncInProgress ? " (initial sync)" : ""}, lag ${s.lagBytes} bytes, ${s.inSync ? "in sync" : "not in sync"}`;
  }
  if (r.mode === "copy") {
    const c = r.copy;
    return `copy (${c.phase}): ${c.copied}/${c.total} keys, ${c.keysPerSecond} keys/s, backlog ${c.backlog}, follower ${c.followerAlive ? "alive" : "not running"}` +
      (c.untailedSeconds ? `, ${c.untailedSeconds}s untailed (reconciled at the next run or cutover)` : "");
  }
  return r.detail;
}

function renderVerify(r: VerifyResult): string {
  const lines = r.dbs.map((d) => `db${d.db}: source ${d.sourceKeys} keys, target ${d.targetKeys}`);
  lines.push(`checked ${r.checked} keys: ${r.ok ? "target equals source" : `${r.differingCount} differences`}`);
  for (const d of r.differing) lines.push(`  db${d.db} ${d.key}: ${d.reason}`);
  return lines.join("\n");
}

function renderCutover(r: CutoverResult): string {
  const head = r.mode === "replicaof" ? "promoted the replica (REPLICAOF NO ONE)" : `copy finished by the ${r.catchUp?.by}`;
  return `${head} in ${r.seconds.toFixed(1)}s\n${renderVerify(r.verify)}\n${r.ok ? "cutover done" : "cutover NOT done: the target differs"}`;
}

function renderRollback(r: RollbackResult): string {
  const woken = r.woken ? `\n${r.woken} Sidekiq process(es) the cutover had quieted stopped, for their platform to start them again` : "";
  return (r.unfenced ? `fence lifted: ${r.unfenced.user} may write on the source again` : "nothing to roll back: the source was not fenced") + woken;
}

function renderRebuild(r: RebuildResult): string {
  const how = r.timedOut ? "timed out" : `exit ${r.exitCode ?? r.signal}`;
  return `${how} after ${r.seconds.toFixed(1)}s; target keys ${r.targetKeysBefore} -> ${r.targetKeysAfter}\n${r.outputTail.join("\n")}`;
}

function renderDrain(r: DrainResult): string {
  const travelling = r.travelling.map((t) => `  ${t.kind} ${t.key}: ${t.count} (${t.nextDueAt ? `${t.kind === "dead" ? "oldest died" : "next due"} ${t.nextDueAt}; ` : ""}travels with the data)`);
  const woken = r.woken ? [`  ${r.woken} Sidekiq process(es) quieted by this drain stopped again, for their platform to start them`] : [];
  if (r.ok) return [`drained in ${r.seconds.toFixed(1)}s: no job in progress, no worker taking new ones`, ...travelling].join("\n");
  return [`${r.remaining} left after ${r.seconds.toFixed(1)}s:`, ...r.left.map((l) => `  ${l.kind} ${l.key}: ${l.count}`), ...travelling, ...woken].join("\n");
}
