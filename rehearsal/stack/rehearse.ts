// The stack rehearsal: the user's stack, run as `pulumi up` would run it, one stage flag
// at a time, against stand-ins on this machine, under live traffic.
//   1. Read the stack file; start the source it describes (Heroku: the Platform API,
//      Postgres, Redis and dynos; a box: Postgres, Redis, nginx, the app's units, sshd),
//      seeded with a Mastodon-shaped sample; set the secrets a user would set.
//   2. Start the edge (Cloudflare) in front of the hostnames and the load generator.
//   3. For each stage of the journey (flags raised in order, the weighted split in
//      steps), evaluate the program (buildFerry, loaded afresh as each up's new process)
//      through the engine model: every step it declares runs for real (stack/engine.ts,
//      stack/standins/); then `pulumi up` once more with the same config, whose steps
//      are judged: only reads may run (stack/second-up.ts).
//   4. With --rollback-from, lower the flags one at a time back down.
//   5. Stop the load; check every acknowledged write (Postgres rows, Redis ticks) is
//      where the app's data now lives, that no second up changed anything, that no request
//      failed outside the cutover's window, that every ECS service runs what was declared;
//      write the report.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { atLeast, componentStage, FerryConfig, HerokuSourceConfig, parseConfig, postgresStrategy, proxyWay, redisMode, Stage, VultrSourceConfig } from "../../config";
import { journey } from "../../policy/plan/stages";
import { rawConfigFromYaml, readStackConfig } from "../../policy/stack-file";
import { connect, withClient } from "../../dataplane/postgres/connection";
import { rebuildFeeds } from "../app/feeds";
import { TICKS_KEY } from "../app/ticker";
import { lostWritesCheck, scheduledTicksCheck } from "../checks";
import { planApp } from "../../components/target/app/plan";
import { ScheduleClock, scheduledRuns } from "./standins/clock";
import type { DeclaredJob } from "./standins/heroku";
import { writeReport } from "../report/write";
import { HEROKU_REDIS_REFUSES, run, startPostgres, startRedis, tempDir } from "../servers";
import { APP_DB, APP_ROLE, fillSource, SourceData } from "../source-data";
import { databaseBytes } from "../seed";
import { AckedWrite, CheckRecord, RequestEvent, RunTimeline, StageRecord } from "../timeline";
import { cutoverWindows, failuresOutside } from "../report/analysis";
import { Goal, pulumiUp, StateFile, EngineStep } from "./engine";
import { loadAfresh } from "./fresh-program";
import { startLoadProcess } from "./load-process";
import { changesOf, JudgedStep, judgeSecondUp } from "./second-up";
import { checkRegistration, worldOf } from "../../policy/providers";
import { startHosts } from "./hosts";
import { installRdsBundle } from "./rds-bundle";
import { CrashPoint, crashCutoverOnce, sourcesGivenBack } from "./failed-cutover";
import { startCa } from "./standins/ca";
import { curlWrapper, startRdsTruststore } from "./standins/truststore";
import { DEFAULT_ORIGIN_CA as SYSTEM_CA_BUNDLE } from "../../dataplane/traffic/proxy-config";
import { Cloud, ServiceDeployment } from "./standins/cloud";
import { FARGATE_START_SECONDS } from "./standins/ecs-service";
import { CommandRunner, ferryOnPath } from "./standins/command";
import { Edge, LiveRecord } from "./standins/edge";
import { HerokuPlatform } from "./standins/heroku";
import { Box } from "./standins/box";
import { buildRehearsalSlug, RehearsalSlug } from "./slug";
import { AwsApi, awsWrapper } from "../servers/aws-api";
import { publicImages } from "../../components/target/images";
import { DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR, Registries, skopeoWrapper } from "./standins/registry";
import { runnerBinDir, runnerCommands, runnerHome } from "./runner";
import { rehearsalRegistry } from "./standins/ecs";
import { checkCallsAgainstRunnerRole } from "./standins/iam";
import { spawnSync } from "node:child_process";
import type { PrivateCa } from "./standins/ca";
import type { Hosts } from "./hosts";

export interface StackRehearsalOptions {
  stackFile: string;
  stackName: string;
  sizeRows: number;
  /** Seed the sample to at least this database size instead of `sizeRows` (--size 1gb). */
  sizeBytes?: number;
  sizeLabel: string;
  outDir: string;
  /** Percent of requests on AWS at each weighted step before 100 (Heroku's load balancer). */
  splitSteps: number[];
  holdSeconds: number;
  writesPerSecond: number;
  readsPerSecond: number;
  maxWrites: number;
  maxMinutes: number;
  /** ECS's and the load balancer's times (Fargate's task start, health checks, draining) divided by this; 1 is AWS's. */
  timeFactor: number;
  /** Raise the flags up to this stage. */
  upTo: Stage;
  /** Then lower them one at a time back to provision. */
  rollbackFrom?: Stage;
  /**
   * Break the first cutover (its process killed once the source is fenced), lower
   * ferry:cutover, check every source was given back, then raise it again.
   */
  failCutoverOnce?: CrashPoint;
}

const PROJECT_DIR = resolve(__dirname, "..", "..");
/** The rehearsal's AWS account (ARNs, the ECR registry's host). */
const ACCOUNT = "000000000000";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The schedulers' shared clock and the stack's declared jobs (standins/clock.ts). */
interface Schedulers {
  clock: ScheduleClock;
  jobs: DeclaredJob[];
}

function declaredJobs(config: FerryConfig): DeclaredJob[] {
  return planApp(config).schedules.map((j) => ({ name: j.name, app: config.source.kind === "heroku" ? j.process.envSource : undefined, command: j.command, expression: j.expression, timezone: j.timezone }));
}

/** The source as the stack describes it, stood in on this machine. */
interface SourceStandIn {
  /** Where the end checks read the source's data (a superuser URL) and its Redis. */
  checkDatabaseUrl: string;
  checkRedisUrl: string;
  data: SourceData;
  /** The secrets a user sets for this source (`pulumi config set --secret`). */
  secrets: Record<string, string>;
  /** Certificates the app and ferry must trust (Heroku Redis's self-signed one). */
  caCerts: string[];
  /** Public addresses of the source (its DNS records' content) -> stand-in addresses. */
  aliases: Record<string, string>;
  /** The runner's known_hosts for the box's SSH host key. */
  knownHosts?: string;
  heroku?: HerokuPlatform;
  box?: Box;
  stop(): Promise<void>;
}

/** One run's stages as `pulumi up` ran them, for the report. */
interface UpRecord {
  label: string;
  config: FerryConfig;
  ok: boolean;
  /** Refused by the program's guards (a rollback that would lose data), with nothing else run. */
  refused?: boolean;
  /** Failed as the rehearsal made it fail (--fail-cutover-once). */
  injected?: boolean;
  error?: string;
  steps: EngineStep[];
  startedAt: number;
  endedAt: number;
  declared: number;
  /** A stage's second `pulumi up` with the same config: its steps, judged. */
  secondUp?: JudgedStep[];
}

/** The second up of every stage changed nothing: each change it made, named with its stage. */
export function secondUpCheck(ups: Array<Pick<UpRecord, "label" | "secondUp">>): CheckRecord {
  const again = ups.filter((u) => u.secondUp);
  const changes = again.flatMap((u) => changesOf(u.secondUp!).map((c) => `${u.label}: ${c}`));
  const reads = again.reduce((n, u) => n + u.secondUp!.filter((j) => j.verdict === "read").length, 0);
  return {
    name: "the second pulumi up of every stage (same config) changed nothing: only reads ran",
    ok: changes.length === 0,
    detail: changes.length ? `${changes.length} change(s): ${changes.join("; ")}` : `${again.length} second up(s); ${reads} step(s) ran, all reads`,
  };
}

/**
 * Every ECS service runs the task definition its last `pulumi up` declared. A deployment
 * the circuit breaker rolled back leaves the old one running while `pulumi up` reported
 * success (standins/ecs-service.ts): the user would not know.
 */
export function deploymentsCheck(deployments: ServiceDeployment[]): CheckRecord {
  const rolledBack = deployments.filter((d) => d.rolledBack);
  const short = (arn?: string) => arn?.split("/").pop() ?? "nothing";
  return {
    name: "every ECS service runs the task definition its last pulumi up declared (no deployment rolled back by the circuit breaker)",
    ok: rolledBack.length === 0,
    detail: rolledBack.length
      ? rolledBack.map((d) => `${d.service}: declared ${short(d.declared)}, runs ${short(d.running)}: ${d.failedTasks} new task(s) failed to start or to pass their health checks, and pulumi up reported success`).join("; ")
      : `${deployments.length} service(s), each on its declared task definition`,
  };
}

/**
 * No request failed outside the cutover's write window: the window is the write outage
 * that overlaps an up moving ferry:cutover (up or down); any other failed request is a
 * failure a user would see, named with its stage and what it said.
 */
export function failuresOutsideCutoverCheck(ups: Array<Pick<UpRecord, "label" | "config" | "startedAt" | "endedAt">>, requests: RequestEvent[]): CheckRecord {
  const span = (u: (typeof ups)[number]) => ({ name: u.label, startedAt: u.startedAt, endedAt: u.endedAt });
  const crossing = ups.filter((u, i) => u.config.stages.cutover !== (i === 0 ? false : ups[i - 1].config.stages.cutover));
  const windows = cutoverWindows(requests, crossing.map(span));
  const outside = failuresOutside(requests, windows, ups.map(span));
  const failed = requests.filter((r) => !r.ok).length;
  return {
    name: "no request failed outside the cutover's write window",
    ok: outside.length === 0,
    detail: outside.length
      ? `${outside.reduce((n, f) => n + f.count, 0)} failed outside it: ${outside.map((f) => `${f.stage}: ${f.count} × ${f.error}`).join("; ")}`
      : `${failed} failed request(s), all inside the cutover window${windows.length === 1 ? "" : "s"} (${windows.length})`,
  };
}

/** A failed update whose only steps were guards refusing: nothing else ran. */
function refusedByGuard(steps: EngineStep[]): boolean {
  const failed = steps.filter((s) => !s.ok);
  const moved = steps.filter((s) => s.ok && !s.name.endsWith("-guard"));
  return failed.length > 0 && failed.every((s) => s.name.endsWith("-guard")) && moved.length === 0;
}

/** The journey's configs: each stage flag raised in order, the proxy stage in weighted steps. */
export function stageConfigs(config: FerryConfig, upTo: Stage, splitSteps: number[]): Array<{ label: string; stage: Stage; config: FerryConfig }> {
  const steps: Array<{ label: string; stage: Stage; config: FerryConfig }> = [];
  for (const step of journey(config)) {
    if (!step.config) throw new Error(`stage ${step.stage} cannot run with this stack's holds: ${step.invalid}`);
    if (step.stage === "proxy" && proxyWay({ ...step.config, stages: { ...step.config.stages, trafficPercent: 50 } }) === "split") {
      for (const pct of [...splitSteps, 100]) steps.push({ label: `proxy ${pct}%`, stage: "proxy", config: { ...step.config, stages: { ...step.config.stages, trafficPercent: pct } } });
    } else {
      steps.push({ label: step.stage, stage: step.stage, config: step.config });
    }
    if (step.stage === upTo) break;
  }
  return steps;
}

async function startHerokuSource(opts: StackRehearsalOptions, declared: FerryConfig, source: HerokuSourceConfig, hosts: Hosts, ca: PrivateCa, logsDir: string, slug: RehearsalSlug, log: (l: string) => void, jobs: Schedulers): Promise<SourceStandIn> {
  // Heroku Postgres: TLS only, on a certificate nothing can verify.
  const pg = await startPostgres({ tls: { kind: "self-signed", required: true } });
  const appPassword = randomBytes(12).toString("hex");
  log(`  source PostgreSQL (Heroku Postgres stand-in: TLS only, self-signed; an owner role, no superuser, no REPLICATION) on port ${pg.port}; seeding ${opts.sizeBytes ? `to ${opts.sizeLabel}` : `${opts.sizeRows} rows`}`);
  const data = await fillSource(pg, appPassword, { sizeRows: opts.sizeRows, sizeBytes: opts.sizeBytes, sizeLabel: opts.sizeLabel });
  // Heroku Key-Value Store: TLS only on a self-signed certificate, a password, what Heroku
  // refuses renamed away (HEROKU_REDIS_REFUSES: SYNC, PSYNC, CONFIG, ACL); notifications
  // on, as `heroku redis:keyspace-notifications -c KA`.
  const redis = await startRedis({ tls: true, password: randomBytes(12).toString("hex"), disableCommands: [...HEROKU_REDIS_REFUSES], settings: { "notify-keyspace-events": "KA" } });
  // Heroku hands the app a URL without sslmode.
  const databaseUrl = pg.url(APP_DB, APP_ROLE, appPassword);
  const heroku = new HerokuPlatform({
    source,
    addonVars: { postgres: source.postgres ? { [source.postgres.configVar]: databaseUrl } : undefined, redis: source.redis ? { [source.redis.configVar]: redis.url() } : undefined },
    hosts,
    fleet: { logsDir, schema: data.schema, log },
    dnsTargets: Object.fromEntries(declared.target.cloudflare.hostnames.flatMap((h) => (h.record?.type === "CNAME" ? [[h.name, h.record.content]] : []))),
    slug,
    scheduler: jobs,
    ca,
  });
  return {
    checkDatabaseUrl: pg.url(APP_DB),
    checkRedisUrl: redis.url(),
    data,
    secrets: { "ferry:sourceDatabaseUrl": databaseUrl, "ferry:sourceRedisUrl": redis.url(), "ferry:herokuApiKey": heroku.apiKey },
    caCerts: [redis.tls!.caFile],
    aliases: {},
    heroku,
    stop: async () => {
      await heroku.stop();
      await Promise.allSettled([pg.stop("immediate"), redis.stop()]);
    },
  };
}

async function startBoxSource(opts: StackRehearsalOptions, declared: FerryConfig, hosts: Hosts, ca: PrivateCa, logsDir: string, log: (l: string) => void, jobs: Schedulers, slug: RehearsalSlug): Promise<SourceStandIn> {
  const source = declared.source as VultrSourceConfig;
  const httpProcesses = Object.entries(declared.target.compute.processes).filter(([, p]) => p.port !== undefined).map(([t]) => t);
  const box = new Box({ source, hostnames: declared.target.cloudflare.hostnames, httpProcesses, sizeRows: opts.sizeRows, sizeBytes: opts.sizeBytes, sizeLabel: opts.sizeLabel, hosts, ca, fleet: { logsDir, schema: "public", log }, cron: { ...jobs, slug } });
  await box.start();
  log(`  the box: ${box.address} (PostgreSQL 5432, Redis 6379, nginx 443/80, sshd ${source.ssh.port}, units ${Object.values(source.units).join(", ")})`);
  // The box's public address, as its DNS records name it, is the stand-in box.
  const aliases = Object.fromEntries(declared.target.cloudflare.hostnames.flatMap((h) => (h.record && h.record.type !== "CNAME" ? [[h.record.content, box.address]] : [])));
  return {
    checkDatabaseUrl: box.sourceDatabaseUrl,
    checkRedisUrl: box.sourceRedisUrl,
    data: box.data,
    secrets: { "ferry:sourceDatabaseUrl": box.sourceDatabaseUrl, "ferry:sourceRedisUrl": box.sourceRedisUrl, "ferry:sshPrivateKey": box.sshd.clientKey },
    caCerts: [],
    aliases,
    knownHosts: box.sshd.knownHosts,
    box,
    stop: () => box.stop(),
  };
}

async function seedFeeds(s: SourceStandIn, caPem: string[]): Promise<number> {
  const db = await connect(s.checkDatabaseUrl);
  const redis = new Redis(s.checkRedisUrl, { tls: s.checkRedisUrl.startsWith("rediss:") ? { ca: caPem } : undefined });
  try {
    return (await rebuildFeeds(db, redis, s.data.schema)).feeds;
  } finally {
    await db.end();
    redis.disconnect();
  }
}

/** An OpenSSH key pair for the runner: `privateKey`'s own public half, or a new ed25519 pair. */
async function runnerKeyPair(privateKey: string | undefined): Promise<{ privateKey: string; publicKey: string }> {
  const dir = tempDir("runner-key");
  const file = join(dir, "id_ed25519");
  if (privateKey) writeFileSync(file, privateKey, { mode: 0o600 });
  else await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ferry-rehearsal-runner", "-f", file]);
  const publicKey = (await run("ssh-keygen", ["-y", "-f", file])).stdout.trim();
  return { privateKey: readFileSync(file, "utf8"), publicKey };
}

/** A tool on this machine that the runner's steps call (the runner's own copy stands in for it). */
function realCommand(command: string, install: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).stdout.trim();
  if (!found) throw new Error(`the rehearsal needs ${command} (\`${install}\`, see scripts/setup-system.sh): the runner's steps call it`);
  return found;
}

/** The real AWS CLI on this machine (v1 or v2; `apt-get install awscli` on Debian). */
function realAwsCli(): string {
  return realCommand("aws", "apt-get install -y awscli");
}

/**
 * An EC2 runner's PATH: exactly what its AMI and user data install (rehearsal/stack/runner.ts),
 * the stand-ins of aws and skopeo in their place.
 */
function ec2RunnerPath(tools: Record<string, string>): string {
  return runnerBinDir(runnerCommands({ replace: tools, projectDir: PROJECT_DIR }));
}

/**
 * A local runner is the operator's machine: its own PATH, with ferry (`npm link`), the
 * tools' stand-ins, and ssh knowing the box's host key as the operator's known_hosts does.
 */
function localRunnerPath(tools: Record<string, string>, knownHosts: string | undefined): string {
  const binDir = ferryOnPath(PROJECT_DIR);
  for (const [name, script] of Object.entries(tools)) writeFileSync(join(binDir, name), script, { mode: 0o755 });
  if (knownHosts) writeFileSync(join(binDir, "ssh"), `#!/bin/sh\nexec /usr/bin/ssh -o UserKnownHostsFile=${knownHosts} "$@"\n`, { mode: 0o755 });
  return `${binDir}:${process.env.PATH}`;
}

/** The zone as it is before the migration: the records the stack adopts, as the providers' rules know them. */
function liveRecords(config: FerryConfig): LiveRecord[] {
  return [...worldOf(config).liveDnsRecords.values()].map(({ zoneId: _zone, ...record }) => record);
}

/**
 * A `pulumi up` as a report stage: every Command step (what ran, with its exit code)
 * and every stand-in that took a second or more; the rest (VPC, IAM, security groups)
 * is counted, not listed.
 */
function toStageRecord(up: UpRecord, commands: Map<string, string>): StageRecord {
  const shown = up.steps.filter((s) => s.type.startsWith("command:") || !s.ok || s.ms >= 1000);
  const hidden = up.steps.length - shown.length;
  return {
    name: up.label,
    startedAt: up.startedAt,
    endedAt: up.endedAt,
    outcome: up.ok || up.refused || up.injected ? "ok" : "failed",
    detail: [up.error, hidden ? `${hidden} other step(s) on resources with nothing to run` : ""].filter(Boolean).join("; ") || undefined,
    steps: shown.map((s) => ({
      name: `${s.op} ${s.name}`,
      startedAt: s.startedAt,
      endedAt: s.startedAt + s.ms,
      ok: s.ok,
      command: commands.get(`${s.urn}:${s.op}`),
      exitCode: s.exitCode,
      error: s.ok ? undefined : s.detail,
    })),
  };
}

/**
 * The run's own logs folder, emptied: the workers append their ticks, and a previous
 * run's files (another stack's workers, whose Redis is not this one) would be checked
 * as this run's lost writes.
 */
export function freshLogsDir(outDir: string): string {
  const logsDir = join(outDir, "logs");
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  return logsDir;
}

/**
 * What the cutover step measured itself, from its JSON on stdout (kept in the state as
 * the Command's output): `ferry cutover` for both stores, or `ferry pg cutover` alone.
 */
export function cutoverFigures(resources: { name: string; type: string; outputs: Record<string, unknown> }[]): RunTimeline["cutover"] {
  const step = resources.find((r) => r.type.startsWith("command:") && /-cutover-(stores|pg)$/.test(r.name) && r.outputs.stdout);
  if (!step) return {};
  let out: { writeUnavailableMs?: number | null; lagBytesAtFence?: number | null; postgres?: { lagBytesAtFence?: number | null }; redis?: unknown };
  try {
    out = JSON.parse(String(step.outputs.stdout));
  } catch {
    return {};
  }
  const lag = out.postgres?.lagBytesAtFence ?? out.lagBytesAtFence;
  return {
    ...(typeof out.writeUnavailableMs === "number" ? { writeUnavailableMs: out.writeUnavailableMs } : {}),
    ...(typeof lag === "number" ? { lagBytesAtFence: lag } : {}),
    raw: out,
  };
}

/**
 * While traffic is split (the proxy stage's ups and the hold after each), every pool must
 * look healthy to the monitor the program declared for it: Cloudflare sends an unhealthy
 * pool nothing, so a monitor probing the wrong path or Host silently undoes the split.
 */
function monitorsCheck(edge: Edge, ups: UpRecord[]): CheckRecord {
  const proxyUps = ups.filter((u) => u.label.startsWith("proxy") || u.label.startsWith("back to proxy"));
  const during = (at: number) => proxyUps.some((u) => {
    const next = ups[ups.indexOf(u) + 1];
    return at >= u.startedAt && at <= (next?.startedAt ?? Date.now());
  });
  const unhealthy = edge.unhealthySeen().filter((h) => during(h.at));
  return {
    name: "while traffic was split, every load balancer pool was healthy by the monitor the program declared for it (its path and Host)",
    ok: unhealthy.length === 0,
    detail: unhealthy.length ? unhealthy.slice(0, 3).map((h) => `${h.pool}: ${h.detail}`).join("; ") : `${edge.history.length} monitor verdict(s), none unhealthy during the split`,
  };
}

/** Every tick a worker saw Redis acknowledge, from the workers' files. */
function ackedTicks(logsDir: string): string[] {
  return readdirSync(logsDir).filter((f) => f.startsWith("ticks-")).flatMap((f) =>
    readFileSync(join(logsDir, f), "utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { member: string }).member),
  );
}

async function missingTicks(redisUrl: string, ca: string[], ticks: string[]): Promise<string[]> {
  const redis = new Redis(redisUrl, { tls: redisUrl.startsWith("rediss:") ? { ca } : undefined, maxRetriesPerRequest: 2 });
  try {
    const missing: string[] = [];
    for (let i = 0; i < ticks.length; i += 500) {
      const batch = ticks.slice(i, i + 500);
      const scores = await redis.zmscore(TICKS_KEY, ...batch);
      batch.forEach((t, j) => scores[j] === null && missing.push(t));
    }
    return missing;
  } finally {
    redis.disconnect();
  }
}

export async function rehearseStack(opts: StackRehearsalOptions, log: (line: string) => void): Promise<{ ok: boolean; reportDir: string; failedChecks: string[] }> {
  const runId = randomBytes(4).toString("hex");
  const logsDir = freshLogsDir(opts.outDir);
  const startedAt = Date.now();
  const raw = rawConfigFromYaml(readFileSync(opts.stackFile, "utf8"), opts.stackFile);
  const declared = readStackConfig(opts.stackFile);

  // 1. The app as a slug; the source and the secrets a user would set with `pulumi config set --secret`.
  const slug = await buildRehearsalSlug();
  log(`  the rehearsal app as a Heroku slug: ${slug.size} bytes, ${slug.checksum.slice(0, 19)}..., process types ${Object.keys(slug.processTypes).join(", ")}`);
  const hosts = startHosts(runId);
  // The stack's scheduled jobs, run on one compressed clock by whichever side runs them now.
  const schedulers: Schedulers = { clock: new ScheduleClock(logsDir, log), jobs: declaredJobs(declared) };
  // Trust split as on AWS (standins/ca.ts): a public CA every process trusts as its system
  // store, and an RDS CA only the RDS bundle holds.
  const ca = await startCa("ferry rehearsal public CA");
  const rdsCa = await startCa("ferry rehearsal RDS CA");
  const src = declared.source.kind === "heroku"
    ? await startHerokuSource(opts, declared, declared.source, hosts, ca, logsDir, slug, log, schedulers)
    : await startBoxSource(opts, declared, hosts, ca, logsDir, log, schedulers, slug);
  const bundle = join(opts.outDir, "rehearsal-ca-bundle.pem");
  writeFileSync(bundle, [ca.pem, ...src.caCerts.map((f) => readFileSync(f, "utf8"))].join("\n"));
  const caPem = [readFileSync(bundle, "utf8")];
  // Every process the rehearsal starts (apps, ferry, curl) trusts the public CA as its
  // system store, through a CA file, never by turning verification off; the RDS CA only
  // through the RDS bundle.
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  const systemStore = join(opts.outDir, "rehearsal-system-ca.pem");
  writeFileSync(systemStore, `${readFileSync(SYSTEM_CA_BUNDLE, "utf8")}\n${readFileSync(bundle, "utf8")}`);
  process.env.SSL_CERT_FILE = systemStore;
  process.env.CURL_CA_BUNDLE = systemStore;
  const truststore = await startRdsTruststore(hosts, ca, rdsCa.pem);
  const feeds = await seedFeeds(src, caPem);
  const sourceBytes = await withClient(src.checkDatabaseUrl, databaseBytes);
  log(`  the source database: ${(sourceBytes / 1024 ** 2).toFixed(0)} MB (${Object.entries(src.data.rows).map(([t, n]) => `${n} ${t}`).join(", ")})`);
  await src.heroku?.start();
  schedulers.clock.start();
  const secrets: Record<string, string> = {
    ...src.secrets,
    "ferry:cloudflareApiToken": randomBytes(20).toString("hex"),
    "ferry:targetPostgresPassword": randomBytes(16).toString("hex"),
    "ferry:targetRedisPassword": randomBytes(16).toString("hex"),
  };
  // The box runs on this machine: its nginx site lives in the stand-in's files, not in
  // the real box's /etc (the only stack value the rehearsal replaces, and it says so).
  if (src.box && declared.source.kind === "vultr" && declared.source.nginx) {
    raw["ferry:source"] = JSON.stringify({ ...JSON.parse(raw["ferry:source"]), nginx: src.box.siteConfig() });
    log(`  ferry:source.nginx: the box's site file, listen addresses and certificate are the stand-in's (${src.box.layout.siteFile})`);
  }
  // Likewise the box's SSH host key: the stand-in box's sshd has its own (what `ferry init
  // --box` would have recorded from it); the runner trusts exactly that one.
  if (src.box && declared.source.kind === "vultr") {
    const source = JSON.parse(raw["ferry:source"]);
    raw["ferry:source"] = JSON.stringify({ ...source, ssh: { ...source.ssh, hostKey: src.box.sshd.hostKey } });
    log(`  ferry:source.ssh.hostKey: the stand-in box's own host key (${src.box.sshd.hostKey.slice(0, 32)}...)`);
  }
  // Likewise the app's env file on the box, which `ferry box config copy` reads over SSH.
  if (src.box && declared.target.compute.boxEnvFile) {
    const target = JSON.parse(raw["ferry:target"]);
    const file = src.box.appEnvFile();
    raw["ferry:target"] = JSON.stringify({ ...target, compute: { ...target.compute, boxEnvFile: file } });
    log(`  ferry:target.compute.boxEnvFile: the box's env file is the stand-in's (${file})`);
  }
  // The EC2 runner's key pair: the stack names the operator's public key, whose private
  // half the rehearsal does not have. It makes a pair of its own (the box's client key
  // where there is a box: one key, as an operator has) and names its public half.
  if (declared.target.runner.kind === "ec2") {
    const pair = await runnerKeyPair(secrets["ferry:sshPrivateKey"]);
    secrets["ferry:sshPrivateKey"] = pair.privateKey;
    const target = JSON.parse(raw["ferry:target"]);
    raw["ferry:target"] = JSON.stringify({ ...target, runner: { ...target.runner, sshPublicKey: pair.publicKey } });
    log(`  ferry:target.runner.sshPublicKey: the rehearsal's own key pair (${pair.publicKey.slice(0, 32)}...)`);
  }
  const config = parseConfig({ ...raw, ...secrets });
  const secretValues = Object.values(secrets);

  // 2. Cloudflare's edge and the cloud; the runner's environment.
  const zoneSslMode = config.target.cloudflare.sslMode ?? "flexible";
  const edge = new Edge({ hosts, ca, records: liveRecords(config), hostnames: config.target.cloudflare.hostnames.map((h) => h.name), zoneSslMode, aliases: src.aliases, log });
  await edge.start();
  log(`  Cloudflare zone: SSL/TLS mode ${zoneSslMode}${config.target.cloudflare.sslMode ? "" : " (ferry:target.cloudflare.sslMode unset: Cloudflare's weakest common setting)"}; Configuration Rules the program declares override it per hostname`);
  // AWS's S3, Secrets Manager, ECS and ECR login for the steps' real AWS CLI, and for the
  // ECS stand-in. The ECS stand-in runs the tasks the AWS API starts; the two are made in turn.
  const late: { cloud?: Cloud } = {};
  const aws = new AwsApi({ region: config.target.region, account: ACCOUNT, tasks: { runTask: (t) => late.cloud!.runTask(t) } });
  await aws.start();
  log(`  AWS (S3, Secrets Manager, ECS RunTask, ECR login) stand-in on ${aws.url}: the runner's \`aws\` is the real AWS CLI pointed at it`);
  const publicRefs = publicImages(config);
  const registries = new Registries({ hosts, ca, region: config.target.region, account: ACCOUNT, images: publicRefs, validToken: (t) => aws.validEcrToken(t), record: (a, r) => aws.recordCall(a, r), log });
  await registries.start();
  log(`  registries: ${publicRefs.join(", ") || "no public image"} on the public registries' stand-in (Docker Hub: ${DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR} anonymous pulls an hour per address), and the account's ECR (${registries.ecrHost})`);
  const tools = {
    aws: awsWrapper(realAwsCli(), aws.url, process.env.PATH),
    skopeo: skopeoWrapper(realCommand("skopeo", "apt-get install -y skopeo"), bundle, registries.registriesConf),
    // Amazon's RDS trust store (the runner's RDS CA step downloads from it) is the stand-in.
    curl: curlWrapper(realCommand("curl", "apt-get install -y curl"), truststore.address),
  };
  const ec2Runner = config.target.runner.kind === "ec2";
  const runnerPath = ec2Runner ? ec2RunnerPath(tools) : localRunnerPath(tools, src.knownHosts);
  if (ec2Runner) log(`  the EC2 runner: only what its AMI and user data install on its PATH (${runnerPath}), an empty home (no known_hosts)`);
  const runnerEnv: Record<string, string> = {
    // The EC2 runner's system trust store holds the public CA, as the instance's holds the public roots.
    ...(ec2Runner ? { HOME: runnerHome(), LANG: "C.UTF-8", SSL_CERT_FILE: systemStore, CURL_CA_BUNDLE: systemStore } : (process.env as Record<string, string>)),
    PATH: runnerPath,
    // Dummy credentials, in the rehearsal runner's environment only; the operator's own
    // AWS configuration on this machine is never read.
    AWS_ACCESS_KEY_ID: "AKIAREHEARSAL0000000",
    AWS_SECRET_ACCESS_KEY: randomBytes(20).toString("hex"),
    AWS_DEFAULT_REGION: config.target.region,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
    ...(src.heroku ? { HEROKU_API_URL: src.heroku.api.url } : {}),
    NODE_EXTRA_CA_CERTS: bundle,
    // The RDS CA bundle: the EC2 runner's is where its user data downloads it (the
    // target's URL names it); a local runner's operator points FERRY_PG_CA_FILE at it.
    ...(ec2Runner ? {} : { FERRY_PG_CA_FILE: rdsCa.file }),
    FERRY_PROJECT_DIR: PROJECT_DIR,
  };
  const crash = opts.failCutoverOnce ? crashCutoverOnce(opts.failCutoverOnce, src.checkDatabaseUrl, () => late.cloud?.postgresAdminUrlIfAny(), log) : undefined;
  const commands = new CommandRunner({ runnerEnv, logsDir, isRunner: (h) => h === "127.0.0.1" || h === "localhost", secret: (v) => secretValues.push(v), log, fault: crash?.fault });
  let removeBundle = () => undefined as void;
  const provisionRunner = async () => {
    removeBundle = installRdsBundle(rdsCa.file, runId);
  };
  const images = Object.values(config.target.compute.processes).flatMap((p) => (p.image ? [p.image] : []));
  const slugs = rehearsalRegistry(slug.file, images, config.target.compute.release?.command);
  // A task pulls the stack's ECR copy of an image: the slug stands for the image it copies.
  const registry = { ...slugs, slugFor: (image: string) => slugs.slugFor(registries.sourceOf(image)) };
  if (images.length) log(`  image registry stand-in: ${[...new Set(images)].join(", ")} -> the rehearsal app's slug (no container engine here)`);
  const cloud = new Cloud({ hosts, ca, rdsCa, commands, edge, logsDir, provisionRunner, schema: src.data.schema, region: config.target.region, log, secret: (v) => secretValues.push(v), boxAddress: src.box?.address, aws, registry, clock: schedulers.clock, registries, certificateArn: config.target.certificateArn, hostnames: config.target.cloudflare.hostnames.map((h) => h.name), timeFactor: opts.timeFactor });
  late.cloud = cloud;
  const stateFile = StateFile.create(join(opts.outDir, "state.json"));

  const front = `http://${config.target.cloudflare.hostnames[0].name}`;
  const load = startLoadProcess({
    baseUrl: front, accounts: src.data.accounts, writesPerSecond: opts.writesPerSecond, readsPerSecond: opts.readsPerSecond,
    maxWrites: opts.maxWrites, maxDurationMs: opts.maxMinutes * 60_000, timeoutMs: 5000, ackFile: join(opts.outDir, "acknowledged-writes.jsonl"), runId,
  });
  log(`load: ${opts.writesPerSecond} writes/s and ${opts.readsPerSecond} reads/s at ${front} (through the edge)`);
  await sleep(opts.holdSeconds * 1000);

  // 3-4. The journey up, then (with --rollback-from) back down.
  const ups: UpRecord[] = [];
  const commandLines = new Map<string, string>();
  /** One `pulumi up`: the program evaluated afresh, as the new process a real up is, with a read epoch of its own. */
  const runUp = async (label: string, stageConfig: FerryConfig, injected = false): Promise<UpRecord> => {
    log(`pulumi up: ${label}`);
    const started = Date.now();
    // The providers' own rules (policy/providers): what AWS or Cloudflare would refuse fails here too.
    const world = worldOf(stageConfig);
    const validate = (g: Goal) => checkRegistration({ type: g.type, name: g.name, inputs: g.inputs, options: { import: g.importId, read: g.readId !== undefined, protect: g.protect, retainOnDelete: g.retainOnDelete, deleteBeforeReplace: g.deleteBeforeReplace } }, world);
    const { buildFerry } = loadAfresh<typeof import("../../program")>(PROJECT_DIR, "program.ts");
    const result = await pulumiUp({ project: "ferry", stack: opts.stackName, stateFile, realizer: cloud, validate, program: () => buildFerry(stageConfig, { readEpoch: `${label} ${new Date().toISOString()}` }), onStep: (s) => log(`    ${s.ok ? "ok" : "FAILED"} ${s.op} ${s.name} (${s.ms} ms)${s.ok ? "" : `: ${s.detail}`}`) });
    for (const r of stateFile.read().resources) {
      if (!r.type.startsWith("command:")) continue;
      for (const op of ["create", "update", "replace"]) commandLines.set(`${r.urn}:${op}`, String((r.inputs as Record<string, unknown>).create ?? ""));
      commandLines.set(`${r.urn}:delete`, String((r.inputs as Record<string, unknown>).delete ?? ""));
    }
    const refused = !result.ok && refusedByGuard(result.steps);
    const record: UpRecord = { label, config: stageConfig, ok: result.ok, refused, injected: injected && !result.ok, error: result.error, steps: result.steps, startedAt: started, endedAt: Date.now(), declared: result.declared };
    ups.push(record);
    log(`  ${result.ok ? "done" : refused ? `REFUSED (as it must be): ${result.error}` : `FAILED: ${result.error}`}: ${result.steps.length} steps, ${result.declared} resources declared (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return record;
  };
  /**
   * A stage as an operator applies it: `pulumi up`, then `pulumi up` once more with the
   * same config, which must change nothing (its steps judged in rehearsal/stack/second-up.ts).
   */
  const up = async (label: string, stageConfig: FerryConfig, injected = false): Promise<boolean> => {
    if (!(await runUp(label, stageConfig, injected)).ok) return false;
    const before = stateFile.read().resources;
    const again = await runUp(`${label} (again)`, stageConfig);
    again.secondUp = judgeSecondUp(again.steps, before, stateFile.read().resources);
    const changes = changesOf(again.secondUp);
    log(`  the second up ${changes.length ? `CHANGED ${changes.length} thing(s): ${changes.join("; ")}` : "changed nothing"}`);
    if (again.ok) await sleep(opts.holdSeconds * 1000);
    return again.ok;
  };
  const forward = stageConfigs(config, opts.rollbackFrom ?? opts.upTo, opts.splitSteps);
  const checks: CheckRecord[] = [];
  let ok = true;
  for (const [i, s] of forward.entries()) {
    if (crash && s.stage === "cutover" && i > 0) {
      // The cutover breaks in its window; lowering the flag must give every source back.
      const failed = !(await up(`${s.label} (broken: its process killed once the source was fenced)`, s.config, true));
      const back = forward[i - 1];
      if (!(ok = failed && crash.crashed() && (await up(`back to ${back.label} after the failed cutover`, back.config)))) break;
      checks.push(await sourcesGivenBack(config, { ...src, stackDatabaseUrl: secrets["ferry:sourceDatabaseUrl"], caPem }));
    }
    if (!(ok = await up(s.label, s.config))) break;
  }
  if (ok && opts.rollbackFrom) {
    // Back down the same steps, the weighted ones too: lowering a share is a way back.
    const back = stageConfigs(config, opts.rollbackFrom, opts.splitSteps).reverse().slice(1);
    for (const s of back) {
      if (await up(`back to ${s.label}`, s.config)) continue;
      // A guard refusing a rollback that would lose data is the program doing its job:
      // the run goes on from where it stands, and the checks say whether anything moved.
      ok = ups[ups.length - 1].refused === true;
      break;
    }
  }
  const finalConfig = ups.filter((u) => u.ok).pop()?.config ?? config;

  // 5. Checks where the data lives now.
  await load.stop();
  schedulers.clock.stop();
  await sleep(1500); // workers finish their last tick
  const pgMoved = atLeast(componentStage("postgres", finalConfig.stages), "cutover");
  const redisMoved = atLeast(componentStage("redis", finalConfig.stages), "cutover");
  const acked = load.acked;
  const pgUrl = pgMoved ? cloud.postgresAdminUrl() : src.checkDatabaseUrl;
  const pgCheck = await withClient(pgUrl, (db) => lostWritesCheck(db, src.data.schema, acked));
  checks.push({ ...pgCheck.check, name: `every acknowledged write is in ${pgMoved ? "the target" : "the source"} PostgreSQL` });
  const ticks = ackedTicks(logsDir);
  const lostTicks = await missingTicks(redisMoved ? cloud.redisAdminUrl() : src.checkRedisUrl, caPem, ticks);
  checks.push({ name: `every Redis write the workers saw acknowledged is in ${redisMoved ? "the target" : "the source"} Redis`, ok: lostTicks.length === 0, detail: `${ticks.length - lostTicks.length} of ${ticks.length} present${lostTicks.length ? `; missing e.g. ${lostTicks.slice(0, 3).join(", ")}` : ""}` });
  if (config.target.runner.kind === "ec2") {
    const iam = checkCallsAgainstRunnerRole(aws.calls, stateFile.read().resources);
    checks.push({ name: "every AWS call the runner's steps made is allowed by the runner's instance role (actions and resources; conditions not evaluated)", ok: iam.denied.length === 0, detail: `${iam.allowed} allowed${iam.denied.length ? `; denied: ${iam.denied.slice(0, 5).join(", ")}` : ""}` });
  }
  checks.push(scheduledTicksCheck(scheduledRuns(logsDir), schedulers.jobs.length));
  checks.push(monitorsCheck(edge, ups));
  log(`  Docker Hub pulls in the last hour, by address: ${JSON.stringify(registries.hubPullCounts())}`);
  checks.push({ name: "every stage's pulumi up succeeded (or was refused by a guard before anything moved)", ok, detail: ups.map((u) => `${u.label}: ${u.ok ? "ok" : u.refused ? `refused: ${u.error}` : u.error}`).join("; ") });
  checks.push(secondUpCheck(ups));
  checks.push(failuresOutsideCutoverCheck(ups, load.requests));
  checks.push(deploymentsCheck([...cloud.deployments.values()]));

  const timeline: RunTimeline = {
    source: config.source.kind,
    pgStrategy: postgresStrategy(config.source),
    redisMode: redisMode(config),
    startedAt,
    endedAt: Date.now(),
    stages: ups.map((u) => toStageRecord(u, commandLines)),
    requests: load.requests,
    acked,
    lost: pgCheck.lost as AckedWrite[],
    checks,
    cutover: cutoverFigures(stateFile.read().resources),
    volumes: { rows: src.data.rows, seed: src.data.seed, feeds, databaseBytes: sourceBytes },
    redisWrites: { acknowledged: ticks.length, lost: lostTicks },
    ecs: { timeFactor: opts.timeFactor, fargateStartSeconds: FARGATE_START_SECONDS },
    stack: {
      name: opts.stackName,
      ups: ups.map((u) => ({
        stage: u.label, ok: u.ok, refused: u.refused, error: u.error, resources: u.declared, seconds: (u.endedAt - u.startedAt) / 1000,
        ...(u.secondUp ? { secondUp: true } : {}),
        steps: u.steps.map((s, i) => ({
          resource: s.name, type: s.type, op: s.op, ok: s.ok, exitCode: s.exitCode, ms: s.ms, command: commandLines.get(`${s.urn}:${s.op}`),
          ...(s.changed ? { changed: s.changed } : {}),
          ...(u.secondUp ? { verdict: u.secondUp[i].verdict, what: u.secondUp[i].what } : {}),
        })),
      })),
    },
  };
  const report = writeReport(timeline, opts.outDir, secretValues);
  await Promise.allSettled([src.stop(), cloud.shutdown(), edge.stop(), aws.stop(), truststore.stop(), registries.stop()]);
  removeBundle();
  hosts.close();
  if (existsSync(bundle)) copyFileSync(bundle, join(logsDir, "ca-bundle.pem"));
  const failedChecks = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  return { ok: report.ok && ok, reportDir: opts.outDir, failedChecks };
}

