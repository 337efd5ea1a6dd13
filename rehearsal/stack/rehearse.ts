// The stack rehearsal: the user's stack, run as `pulumi up` would run it, one stage flag
// at a time, against stand-ins on this machine, under live traffic.
//   1. Read the stack file; build the app (a Rails + Sidekiq + Node app shaped like
//      Mastodon) into a slug; start the source it describes (Heroku: the Platform API,
//      Postgres, Redis and dynos; a box: Postgres, Redis, nginx, the app's units, sshd),
//      its schema made by the app's migrations, seeded with a Mastodon-shaped sample, its
//      Redis with home feeds and Sidekiq's schedule, retry and dead sets, its media bucket
//      in the S3 stand-in; set the secrets a user would set.
//   2. Start the edge (Cloudflare) in front of the hostnames and the load generator.
//   3. For each stage of the journey (flags raised in order, the weighted split in
//      steps), evaluate the program (buildFerry, loaded afresh as each up's new process)
//      through the engine model: every step it declares runs for real (stack/engine.ts,
//      stack/standins/); then `pulumi up` once more with the same config, whose steps
//      are judged: only reads may run (stack/second-up.ts).
//   4. With --rollback-from, lower the flags one at a time back down.
//   5. Stop the load; let the app's queues drain; check every acknowledged write (Postgres
//      rows, home feed entries), every job (run exactly once), Sidekiq's sets and every
//      upload are where the app's data now lives, that no scheduled tick ran on both sides,
//      that no second up changed anything, that no request failed outside the cutover's
//      window, that every ECS service runs what was declared; write the report.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { atLeast, componentStage, FerryConfig, HerokuSourceConfig, parseConfig, postgresStrategy, proxyWay, redisMode, Stage, VultrSourceConfig } from "../../config";
import { journey } from "../../policy/plan/stages";
import { rawConfigFromYaml, readStackConfig } from "../../policy/stack-file";
import { withClient } from "../../dataplane/postgres/connection";
import { countJobs, countSidekiqSets, drainQueues, jobsCheck, lostFeedEntries, lostWritesCheck, missingUploads, scheduledTicksCheck, sidekiqSetsCheck, uploadsCheck } from "../checks";
import { SIDEKIQ_SETS, SidekiqSet } from "../app-data";
import { planApp } from "../../components/target/app/plan";
import { ScheduleClock, scheduledRuns } from "./standins/clock";
import type { DeclaredJob } from "./standins/heroku";
import { writeReport } from "../report/write";
import { HEROKU_REDIS_REFUSES, LocalPostgres, LocalRedis, moveOffServingPath, run, startPostgres, startRedis, tempDir } from "../servers";
import { APP_DB, APP_ROLE, fillSource, SourceData } from "../source-data";
import { databaseBytes } from "../seed";
import { AckedWrite, CheckRecord, RequestEvent, RunTimeline, StageRecord } from "../timeline";
import { cutoverWindows, failuresOutside } from "../report/analysis";
import { forward as tcpForward } from "./forward";
import { Goal, pulumiUp, StateFile, EngineStep } from "./engine";
import { loadAfresh } from "./fresh-program";
import { startLoadProcess } from "./load-process";
import { warmUp } from "../loadgen";
import { changesOf, JudgedStep, judgeSecondUp } from "./second-up";
import { checkRegistration, worldOf } from "../../policy/providers";
import { startHosts } from "./hosts";
import { installRdsBundle } from "./rds-bundle";
import { brokenBy, CrashPoint, crashCutoverOnce, injectedFailureEnv, sourcesGivenBack } from "./failed-cutover";
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
import { isMachineImage } from "./standins/ecs-image";
import { checkCallsAgainstRunnerRole } from "./standins/iam";
import { spawnSync } from "node:child_process";
import type { PrivateCa } from "./standins/ca";
import type { Hosts } from "./hosts";
import { JourneyUp, Story, storyUps } from "./stories";

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
  /** A stores-first story (stories.ts): its ups instead of the stack's plain journey. */
  story?: Story;
}

const PROJECT_DIR = resolve(__dirname, "..", "..");
/** The rehearsal's AWS account (ARNs, the ECR registry's host). */
const ACCOUNT = "000000000000";
/** The runner's dummy access key: the calls it signed are the runner's (the app signs its own uploads with its own). */
const RUNNER_ACCESS_KEY = "AKIAREHEARSAL0000000";
/** How long the end waits for the app's queues to drain (Sidekiq retries a failed job after 15 to 40 s). */
const DRAIN_TIMEOUT_MS = 120_000;
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
  /** The app's own connections to the source (DATABASE_URL, REDIS_URL), as its processes have them. */
  appEnv: Record<string, string>;
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
  /** The source's Postgres and Redis servers, each moved off the serving path once the app no longer uses it. */
  stores: { postgres: LocalPostgres; redis: LocalRedis };
  stop(): Promise<void>;
}

/**
 * A source store cut over serves nobody: in production it is a machine of its own, and
 * what still reads it (the decommission's backup: 2 min at 2 GB) costs the app nothing.
 * Here it would take a core from the app, so it drops to the runner's niceness, as work
 * that has a machine of its own does (servers/process.ts). Never raised back: a rollback
 * past cutover is refused (the target took writes).
 */
function retireMovedStores(src: SourceStandIn, config: FerryConfig): void {
  for (const store of ["postgres", "redis"] as const) {
    const pid = atLeast(componentStage(store, config.stages), "cutover") ? src.stores[store].pid() : undefined;
    if (pid !== undefined) moveOffServingPath(pid);
  }
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
 * Whether an up moves something across cutover, up or down: the flag, or (with holds, a
 * store cut over while the app stays) any component's own stage, each with its window.
 */
function movesAcrossCutover(before: FerryConfig | undefined, after: FerryConfig): boolean {
  const cut = (c: FerryConfig | undefined, component: "postgres" | "redis" | "app") => (c ? atLeast(componentStage(component, c.stages), "cutover") : false);
  return (before?.stages.cutover ?? false) !== after.stages.cutover || (["postgres", "redis", "app"] as const).some((k) => cut(before, k) !== cut(after, k));
}

/** The ups that move something across cutover, up or down, as spans of the run. */
export function cutoverSpans(ups: Array<Pick<UpRecord, "label" | "config" | "startedAt" | "endedAt">>): Array<{ name: string; startedAt: number; endedAt: number }> {
  return ups.filter((u, i) => movesAcrossCutover(i === 0 ? undefined : ups[i - 1].config, u.config)).map((u) => ({ name: u.label, startedAt: u.startedAt, endedAt: u.endedAt }));
}

/**
 * No request failed outside the cutover's write window: the window is the write outage
 * that overlaps an up moving ferry:cutover (up or down); any other failed request is a
 * failure a user would see, named with its stage and what it said.
 */
export function failuresOutsideCutoverCheck(ups: Array<Pick<UpRecord, "label" | "config" | "startedAt" | "endedAt">>, requests: RequestEvent[]): CheckRecord {
  const span = (u: (typeof ups)[number]) => ({ name: u.label, startedAt: u.startedAt, endedAt: u.endedAt });
  const windows = cutoverWindows(requests, cutoverSpans(ups));
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

/** The address the source app reaches a target store at: RDS's endpoint, Redis on EC2's public DNS name. */
function storeAddressForSourceApp(store: "postgres" | "redis", resources: Array<{ type: string; outputs: Record<string, unknown> }>): string | undefined {
  if (store === "postgres") return resources.find((r) => r.type === "aws:rds/instance:Instance")?.outputs.address as string | undefined;
  const ec2 = resources.find((r) => r.type === "aws:ec2/instance:Instance" && String((r.outputs.tags as Record<string, string> | undefined)?.Name ?? "").endsWith("-redis"));
  return (ec2?.outputs.publicDns as string | undefined) || undefined;
}

const writesBetween = (acked: Array<Pick<AckedWrite, "sentAt">>, from: number, to: number) => acked.filter((w) => w.sentAt > from && w.sentAt <= to).length;

/**
 * A store that cut over while the app stayed on Heroku: the app's config var names the
 * target as the dynos reach it, and the app (its dynos, real processes) acknowledged
 * writes after that store's cutover, which the other checks find where that store's data
 * now lives. A write the dynos sent to the source's store would be missing there.
 */
export function sourceAppOnMovedStoresCheck(
  moved: Array<{ store: "postgres" | "redis"; configVar: string; value?: string; address?: string; cutoverEndedAt: number; seenAt: number }>,
  acked: Array<Pick<AckedWrite, "sentAt">>,
): CheckRecord {
  const problems = moved.flatMap((m) => {
    const after = writesBetween(acked, m.cutoverEndedAt, m.seenAt);
    const host = m.value ? new URL(m.value).hostname : undefined;
    return [
      ...(!m.address || host !== m.address ? [`${m.store}: the app's ${m.configVar} names ${host ?? "nothing"}, not the target (${m.address ?? "no address for the source app"})`] : []),
      ...(after === 0 ? [`${m.store}: no write acknowledged after its cutover`] : []),
    ];
  });
  return {
    name: "the app that stayed on Heroku serves from the stores that moved: its config vars name them, and it acknowledged writes after their cutover",
    ok: moved.length > 0 && problems.length === 0,
    detail: problems.length ? problems.join("; ") : moved.length ? moved.map((m) => `${m.store}: ${m.configVar} on the target, ${writesBetween(acked, m.cutoverEndedAt, m.seenAt)} write(s) after its cutover`).join("; ") : "no store moved while the app stayed",
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

/** The app as the source runs it: its slug, its own settings, what its machines trust. */
interface AppSetup {
  slug: RehearsalSlug;
  /** What every process of the app is configured with (its S3 bucket and credentials, SECRET_KEY_BASE). */
  vars: Record<string, string>;
  /** The machines' trust store: see FleetContext.machineEnv. */
  machineEnv: Record<string, string>;
}

/**
 * The Heroku apps that run the streaming server: the apps a process with the streaming
 * API's health path takes its code from. Mastodon runs it as a second Heroku app of the same
 * code with RUN_STREAMING=true (its Procfile), and that app reads Heroku Postgres with
 * node-postgres, which Heroku tells to skip verifying the database's self-signed certificate
 * with PGSSLMODE=no-verify (https://devcenter.heroku.com/articles/connecting-heroku-postgres#connecting-in-node-js).
 */
export function streamingApps(config: FerryConfig): string[] {
  if (config.source.kind !== "heroku") return [];
  const apps = config.source.apps;
  return Object.entries(config.target.compute.processes).flatMap(([name, p]) => {
    if (!p.healthPath?.startsWith("/api/v1/streaming")) return [];
    const from = p.from?.app ?? apps.find((a) => name in a.processes)?.name;
    return from ? [from] : [];
  });
}

const STREAMING_VARS = { RUN_STREAMING: "true", PGSSLMODE: "no-verify" };

async function startHerokuSource(opts: StackRehearsalOptions, declared: FerryConfig, source: HerokuSourceConfig, hosts: Hosts, ca: PrivateCa, logsDir: string, app: AppSetup, log: (l: string) => void, jobs: Schedulers): Promise<SourceStandIn> {
  // Heroku Postgres: TLS only, on a certificate nothing can verify.
  const pg = await startPostgres({ tls: { kind: "self-signed", required: true } });
  const appPassword = randomBytes(12).toString("hex");
  log(`  source PostgreSQL (Heroku Postgres stand-in: TLS only, self-signed; an owner role, no superuser, no REPLICATION) on port ${pg.port}; the app's migrations, then ${opts.sizeBytes ? `a sample of ${opts.sizeLabel}` : `${opts.sizeRows} rows`}`);
  const data = await fillSource(pg, appPassword, { sizeRows: opts.sizeRows, sizeBytes: opts.sizeBytes, sizeLabel: opts.sizeLabel, appDir: app.slug.appDir });
  // Heroku Key-Value Store: TLS only on a self-signed certificate, a password, what Heroku
  // refuses renamed away (HEROKU_REDIS_REFUSES: SYNC, PSYNC, CONFIG, ACL); notifications
  // on, as `heroku redis:keyspace-notifications -c KA`.
  // Its URL names an EC2 host, as Heroku's do (ec2-*.compute-1.amazonaws.com): the name the
  // app turns certificate verification off for, as Heroku tells it to.
  const redisAddress = await hosts.allocate("Heroku Key-Value Store");
  const redisHost = `ec2-${redisAddress.replace(/\./g, "-")}.compute-1.amazonaws.com`;
  hosts.name(redisHost, redisAddress);
  const redisPassword = randomBytes(12).toString("hex");
  const redis = await startRedis({ tls: { kind: "self-signed", hostnames: [redisHost, "127.0.0.1", "localhost"] }, password: redisPassword, disableCommands: [...HEROKU_REDIS_REFUSES], settings: { "notify-keyspace-events": "KA" } });
  const redisForward = await tcpForward(redisAddress, redis.port, redis.port);
  const redisUrl = `rediss://:${encodeURIComponent(redisPassword)}@${redisHost}:${redis.port}`;
  // Heroku hands the app a URL without sslmode.
  const databaseUrl = pg.url(APP_DB, APP_ROLE, appPassword);
  const streaming = streamingApps(declared);
  const heroku = new HerokuPlatform({
    source,
    addonVars: { postgres: source.postgres ? { [source.postgres.configVar]: databaseUrl } : undefined, redis: source.redis ? { [source.redis.configVar]: redisUrl } : undefined },
    appVars: Object.fromEntries(source.apps.map((a) => [a.name, { ...app.vars, ...(streaming.includes(a.name) ? STREAMING_VARS : {}) }])),
    hosts,
    fleet: { logsDir, schema: data.schema, machineEnv: app.machineEnv, log },
    dnsTargets: Object.fromEntries(declared.target.cloudflare.hostnames.flatMap((h) => (h.record?.type === "CNAME" ? [[h.name, h.record.content]] : []))),
    slug: app.slug,
    scheduler: jobs,
    ca,
  });
  if (streaming.length) log(`  ${streaming.join(", ")}: the streaming server (RUN_STREAMING=true, PGSSLMODE=no-verify, as Mastodon and Heroku's docs set them)`);
  return {
    stores: { postgres: pg, redis },
    checkDatabaseUrl: pg.url(APP_DB),
    checkRedisUrl: redis.url(),
    appEnv: { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl },
    data,
    secrets: { "ferry:sourceDatabaseUrl": databaseUrl, "ferry:sourceRedisUrl": redisUrl, "ferry:herokuApiKey": heroku.apiKey },
    caCerts: [redis.tls!.caFile],
    aliases: {},
    heroku,
    stop: async () => {
      await heroku.stop();
      await Promise.allSettled([pg.stop("immediate"), redisForward.close().then(() => redis.stop())]);
    },
  };
}

async function startBoxSource(opts: StackRehearsalOptions, declared: FerryConfig, hosts: Hosts, ca: PrivateCa, logsDir: string, app: AppSetup, log: (l: string) => void, jobs: Schedulers): Promise<SourceStandIn> {
  const source = declared.source as VultrSourceConfig;
  const httpProcesses = Object.fromEntries(Object.entries(declared.target.compute.processes).filter(([, p]) => p.port !== undefined).map(([t, p]) => [t, { healthPath: p.healthPath }]));
  const box = new Box({ source, hostnames: declared.target.cloudflare.hostnames, httpProcesses, sizeRows: opts.sizeRows, sizeBytes: opts.sizeBytes, sizeLabel: opts.sizeLabel, hosts, ca, fleet: { logsDir, schema: "public", machineEnv: app.machineEnv, log }, slug: app.slug, appVars: app.vars, cron: jobs });
  await box.start();
  log(`  the box: ${box.address} (PostgreSQL 5432, Redis 6379, nginx 443/80, sshd ${source.ssh.port}, units ${Object.values(source.units).join(", ")} in ${box.appDir})`);
  // The box's public address, as its DNS records name it, is the stand-in box.
  const aliases = Object.fromEntries(declared.target.cloudflare.hostnames.flatMap((h) => (h.record && h.record.type !== "CNAME" ? [[h.record.content, box.address]] : [])));
  return {
    stores: { postgres: box.pg, redis: box.redis },
    checkDatabaseUrl: box.sourceDatabaseUrl,
    checkRedisUrl: box.sourceRedisUrl,
    appEnv: box.appConnections(),
    data: box.data,
    secrets: { "ferry:sourceDatabaseUrl": box.sourceDatabaseUrl, "ferry:sourceRedisUrl": box.sourceRedisUrl, "ferry:sshPrivateKey": box.sshd.clientKey },
    caCerts: [],
    aliases,
    knownHosts: box.sshd.knownHosts,
    box,
    stop: () => box.stop(),
  };
}

/**
 * What a live app's Redis holds besides its queues, made by the app itself on the source:
 * every home feed (`bin/tootctl feeds build`), and Sidekiq's schedule, retry and dead sets
 * (`bin/rails rehearsal:seed_jobs`, which prints the jids it seeded).
 */
async function seedAppRedis(src: SourceStandIn, app: AppSetup): Promise<{ feeds: number; jobs: Record<SidekiqSet, string[]> }> {
  const env = { ...app.machineEnv, PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: app.slug.appDir, RAILS_ENV: "production", BUNDLE_GEMFILE: join(app.slug.appDir, "Gemfile"), APP_SCHEMA: src.data.schema, ...src.appEnv };
  const inApp = async (args: string[]) => (await run("bundle", ["exec", ...args], { cwd: app.slug.appDir, env })).stdout.trim().split("\n").pop() ?? "";
  const feeds = JSON.parse(await inApp(["bin/tootctl", "feeds", "build"])) as { feeds: number };
  const jobs = JSON.parse(await inApp(["rails", "rehearsal:seed_jobs[10]"])) as Record<SidekiqSet, string[]>;
  return { feeds: feeds.feeds, jobs };
}

/**
 * The app's own settings, as its Heroku config vars or its env file hold them: its media
 * bucket (made here, before the migration, in the S3 stand-in) and its own AWS credentials
 * (S3_ENDPOINT points the app's SDK at the stand-in), and its SECRET_KEY_BASE.
 */
function appSettings(aws: AwsApi, region: string, runId: string): { vars: Record<string, string>; bucket: string } {
  const bucket = `masto-media-${runId}`;
  aws.createBucket(bucket);
  return {
    bucket,
    vars: {
      SECRET_KEY_BASE: randomBytes(32).toString("hex"),
      S3_BUCKET: bucket,
      S3_REGION: region,
      S3_ENDPOINT: aws.url,
      AWS_ACCESS_KEY_ID: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
      AWS_SECRET_ACCESS_KEY: randomBytes(20).toString("base64"),
    },
  };
}

/**
 * What the platforms' machines trust, for the app's processes: the system's CAs and the
 * rehearsal CA that stands for the public ones (ElastiCache's and the sites' certificates).
 * A source's self-signed certificate is not in it: the app copes with it as Heroku tells it to.
 */
function machineTrust(dir: string, ca: PrivateCa): Record<string, string> {
  const sslCertFile = join(dir, "machine-ca-certificates.crt");
  writeFileSync(sslCertFile, `${readFileSync(SYSTEM_CA_BUNDLE, "utf8")}\n${ca.pem}`);
  return { NODE_EXTRA_CA_CERTS: ca.file, SSL_CERT_FILE: sslCertFile };
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

/** The stores that reached cutover while the app stayed on Heroku: each with the up that moved it and the app's config var now. */
function movedWithoutTheApp(source: HerokuSourceConfig, now: FerryConfig["stages"], ups: UpRecord[], resources: Array<{ type: string; outputs: Record<string, unknown> }>, heroku: HerokuPlatform) {
  return (["postgres", "redis"] as const).flatMap((store) => {
    const spec = source[store];
    const movedBy = ups.find((u) => u.ok && atLeast(componentStage(store, u.config.stages), "cutover"));
    if (!spec || !movedBy || !atLeast(componentStage(store, now), "cutover")) return [];
    return [{ store, configVar: spec.configVar, value: heroku.api.app(spec.app)?.configVars[spec.configVar], address: storeAddressForSourceApp(store, resources), cutoverEndedAt: movedBy.endedAt, seenAt: Date.now() }];
  });
}

/** When the cutover's fence went up: the start of the step that cuts the stores over (or of the cutover stage). */
function cutoverStartedAt(ups: UpRecord[]): number | undefined {
  const stage = ups.find((u) => u.label === "cutover");
  return stage?.steps.find((s) => /-cutover-(stores|pg|redis)$/.test(s.name))?.startedAt ?? stage?.startedAt;
}

/**
 * The run's own logs folder, emptied: each process appends its output to its fleet's
 * file, and a previous run's lines (another stack's processes) would read as this run's.
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

export async function rehearseStack(opts: StackRehearsalOptions, log: (line: string) => void): Promise<{ ok: boolean; reportDir: string; failedChecks: string[] }> {
  const runId = randomBytes(4).toString("hex");
  const logsDir = freshLogsDir(opts.outDir);
  const startedAt = Date.now();
  const raw = rawConfigFromYaml(readFileSync(opts.stackFile, "utf8"), opts.stackFile);
  const declared = readStackConfig(opts.stackFile);

  // 1. The app as a slug; AWS's APIs (S3 holds the app's media bucket before the migration);
  // the source, and the secrets a user would set with `pulumi config set --secret`.
  const slug = await buildRehearsalSlug();
  log(`  the rehearsal app (Rails + Sidekiq + Node, shaped like Mastodon) as a Heroku slug: ${slug.size} bytes, ${slug.checksum.slice(0, 19)}..., process types ${Object.keys(slug.processTypes).join(", ")}`);
  const hosts = startHosts(runId);
  // The stack's scheduled jobs, run on one compressed clock by whichever side runs them now.
  const schedulers: Schedulers = { clock: new ScheduleClock(logsDir, log), jobs: declaredJobs(declared) };
  // Trust split as on AWS (standins/ca.ts): a public CA every machine trusts as its system
  // store, and an RDS CA only the RDS bundle holds.
  const ca = await startCa("ferry rehearsal public CA");
  const rdsCa = await startCa("ferry rehearsal RDS CA");
  // AWS's S3, Secrets Manager, ECS and ECR login for the steps' real AWS CLI, for the ECS
  // stand-in, and for the app's own uploads. The ECS stand-in runs the tasks the AWS API
  // starts; the two are made in turn.
  const late: { cloud?: Cloud } = {};
  const aws = new AwsApi({ region: declared.target.region, account: ACCOUNT, tasks: { runTask: (t) => late.cloud!.runTask(t) } });
  await aws.start();
  const settings = appSettings(aws, declared.target.region, runId);
  const app: AppSetup = { slug, vars: settings.vars, machineEnv: machineTrust(tempDir("machine-trust"), ca) };
  log(`  the app's media bucket ${settings.bucket} in the S3 stand-in, with the app's own credentials in its ${declared.source.kind === "heroku" ? "config vars" : "env file"}`);
  const src = declared.source.kind === "heroku"
    ? await startHerokuSource(opts, declared, declared.source, hosts, ca, logsDir, app, log, schedulers)
    : await startBoxSource(opts, declared, hosts, ca, logsDir, app, log, schedulers);
  const bundle = join(opts.outDir, "rehearsal-ca-bundle.pem");
  writeFileSync(bundle, [ca.pem, ...src.caCerts.map((f) => readFileSync(f, "utf8"))].join("\n"));
  const caPem = [readFileSync(bundle, "utf8")];
  // ferry, curl and the rehearsal's own checks trust the public CA as their system store,
  // through a CA file, never by turning verification off; the RDS CA only through the RDS
  // bundle. (The app's processes trust only what their machines do: machineTrust.)
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  const systemStore = join(opts.outDir, "rehearsal-system-ca.pem");
  writeFileSync(systemStore, `${readFileSync(SYSTEM_CA_BUNDLE, "utf8")}\n${readFileSync(bundle, "utf8")}`);
  process.env.SSL_CERT_FILE = systemStore;
  process.env.CURL_CA_BUNDLE = systemStore;
  const truststore = await startRdsTruststore(hosts, ca, rdsCa.pem);
  const seeded = await seedAppRedis(src, app);
  log(`  the source's Redis, by the app's own commands: ${seeded.feeds} home feeds (tootctl feeds build), Sidekiq's ${SIDEKIQ_SETS.map((s) => `${s} ${seeded.jobs[s].length}`).join(", ")} (rehearsal:seed_jobs)`);
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
    const file = src.box.envFile;
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
  // The app's own secrets are secrets too: no report, log or process list may show them.
  const secretValues = [...Object.values(secrets), settings.vars.SECRET_KEY_BASE, settings.vars.AWS_SECRET_ACCESS_KEY, ...Object.values(src.appEnv)];

  // 2. Cloudflare's edge and the cloud; the runner's environment.
  const zoneSslMode = config.target.cloudflare.sslMode ?? "flexible";
  const edge = new Edge({ hosts, ca, records: liveRecords(config), hostnames: config.target.cloudflare.hostnames.map((h) => h.name), zoneSslMode, aliases: src.aliases, log });
  await edge.start();
  log(`  Cloudflare zone: SSL/TLS mode ${zoneSslMode}${config.target.cloudflare.sslMode ? "" : " (ferry:target.cloudflare.sslMode unset: Cloudflare's weakest common setting)"}; Configuration Rules the program declares override it per hostname`);
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
    AWS_ACCESS_KEY_ID: RUNNER_ACCESS_KEY,
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
    ...injectedFailureEnv(opts.failCutoverOnce),
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
  const registry = { ...slugs, slugFor: (image: string) => slugs.slugFor(registries.sourceOf(image)), machineImage: (image: string) => isMachineImage(registries.sourceOf(image)) };
  if (images.length) log(`  image registry stand-in: ${[...new Set(images)].join(", ")} -> the rehearsal app's slug (no container engine here)`);
  const cloud = new Cloud({ hosts, ca, rdsCa, commands, edge, logsDir, provisionRunner, schema: src.data.schema, region: config.target.region, log, secret: (v) => secretValues.push(v), boxAddress: src.box?.address, aws, registry, clock: schedulers.clock, registries, machineEnv: app.machineEnv, certificateArn: config.target.certificateArn, hostnames: config.target.cloudflare.hostnames.map((h) => h.name), timeFactor: opts.timeFactor });
  late.cloud = cloud;
  const stateFile = StateFile.create(join(opts.outDir, "state.json"));

  const hostnames = config.target.cloudflare.hostnames;
  const front = `http://${(hostnames.find((h) => h.process === "web") ?? hostnames[0]).name}`;
  const streamingHost = hostnames.find((h) => config.target.compute.processes[h.process]?.healthPath?.startsWith("/api/v1/streaming"));
  const uploadsPerSecond = Math.max(0.5, opts.writesPerSecond / 5);
  await warmUp({ baseUrl: front, accounts: src.data.accounts });
  const load = startLoadProcess({
    baseUrl: front, streamingUrl: streamingHost ? `http://${streamingHost.name}` : undefined, accounts: src.data.accounts,
    writesPerSecond: opts.writesPerSecond, readsPerSecond: opts.readsPerSecond, uploadsPerSecond,
    maxWrites: opts.maxWrites, maxDurationMs: opts.maxMinutes * 60_000, timeoutMs: 5000,
    ackFile: join(opts.outDir, "acknowledged-writes.jsonl"), uploadAckFile: join(opts.outDir, "acknowledged-uploads.jsonl"), runId,
  });
  log(`load: ${opts.writesPerSecond} statuses/s, ${uploadsPerSecond} uploads/s and ${opts.readsPerSecond} reads/s at ${front}${streamingHost ? ` and http://${streamingHost.name}` : ""} (through the edge)`);
  await sleep(opts.holdSeconds * 1000);

  // 3-4. The journey up, then (with --rollback-from) back down.
  const ups: UpRecord[] = [];
  let servedWhileStaying: ReturnType<typeof movedWithoutTheApp> = [];
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
    // What the app left on Heroku is configured with, while it stays there (the end check reads the last).
    if (result.ok && src.heroku && config.source.kind === "heroku" && !atLeast(componentStage("app", stageConfig.stages), "cutover")) {
      servedWhileStaying = movedWithoutTheApp(config.source, stageConfig.stages, [...ups, { config: stageConfig, ok: true, endedAt: Date.now() } as UpRecord], stateFile.read().resources, src.heroku);
    }
    if (result.ok) retireMovedStores(src, stageConfig);
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
  const journeyUps = (upTo: Stage): JourneyUp[] => opts.story
    ? storyUps(opts.story, config, upTo, opts.splitSteps, (c, to) => stageConfigs(c, to, opts.splitSteps))
    : stageConfigs(config, upTo, opts.splitSteps);
  const forward = journeyUps(opts.rollbackFrom ?? opts.upTo);
  const checks: CheckRecord[] = [];
  let ok = true;
  for (const [i, s] of forward.entries()) {
    if (crash && s.stage === "cutover" && i > 0) {
      // The cutover breaks in its window; lowering the flag must give every source back.
      const failed = !(await up(`${s.label} (broken: ${brokenBy(opts.failCutoverOnce!)})`, s.config, true));
      const back = forward[i - 1];
      if (!(ok = failed && crash.crashed() && (await up(`back to ${back.label} after the failed cutover`, back.config)))) break;
      checks.push(await sourcesGivenBack(config, { ...src, stackDatabaseUrl: secrets["ferry:sourceDatabaseUrl"], caPem }));
    }
    if (!(ok = await up(s.label, s.config))) break;
  }
  if (ok && opts.rollbackFrom) {
    // Back down the same steps, the weighted ones too: lowering a share is a way back.
    const back = journeyUps(opts.rollbackFrom).reverse().slice(1);
    for (const s of back) {
      if (await up(`back to ${s.label}`, s.config)) continue;
      // A guard refusing a rollback that would lose data is the program doing its job:
      // the run goes on from where it stands, and the checks say whether anything moved.
      ok = ups[ups.length - 1].refused === true;
      break;
    }
  }
  const finalConfig = ups.filter((u) => u.ok).pop()?.config ?? config;

  // 5. Checks where the data lives now, once the app's queues drained.
  await load.stop();
  schedulers.clock.stop();
  const pgMoved = atLeast(componentStage("postgres", finalConfig.stages), "cutover");
  const redisMoved = atLeast(componentStage("redis", finalConfig.stages), "cutover");
  const acked = load.acked;
  const pgUrl = pgMoved ? cloud.postgresAdminUrl() : src.checkDatabaseUrl;
  const redisUrl = redisMoved ? cloud.redisAdminUrl() : src.checkRedisUrl;
  const pgWhere = pgMoved ? "the target" : "the source";
  const redisWhere = redisMoved ? "the target" : "the source";
  const endRedis = new Redis(redisUrl, { tls: redisUrl.startsWith("rediss:") ? { ca: caPem } : undefined, maxRetriesPerRequest: 2 });
  const counted = await withClient(pgUrl, async (db) => {
    const drained = await drainQueues(endRedis, db, src.data.schema, acked, DRAIN_TIMEOUT_MS);
    const lostRows = await lostWritesCheck(db, src.data.schema, acked);
    const jobs = await countJobs(db, src.data.schema, acked, cutoverStartedAt(ups));
    return { drained, lostRows, jobs };
  });
  const lostFeed = await lostFeedEntries(endRedis, acked);
  const sets = await countSidekiqSets(endRedis, seeded.jobs);
  endRedis.disconnect();
  const uploadsMissing = missingUploads(load.uploads, settings.bucket, (b) => aws.keys(b), aws.bucketNames());
  const pgCheck = counted.lostRows;
  checks.push({ ...counted.drained, name: `${counted.drained.name} (in ${redisWhere} Redis)` });
  checks.push({ ...pgCheck.check, name: `every acknowledged write is in ${pgWhere} PostgreSQL` });
  checks.push({ name: `every acknowledged status is in its author's home feed in ${redisWhere} Redis`, ok: acked.length > 0 && lostFeed.length === 0, detail: `${acked.length - lostFeed.length} of ${acked.length} present${lostFeed.length ? `; missing e.g. ${lostFeed.slice(0, 3).join(", ")}` : ""}` });
  checks.push({ ...jobsCheck(counted.jobs), name: `every job the app enqueued ran exactly once (its runs in ${pgWhere} PostgreSQL)` });
  checks.push({ ...sidekiqSetsCheck(sets), name: `Sidekiq's schedule, retry and dead sets are in ${redisWhere} Redis, each job exactly once` });
  checks.push(uploadsCheck(load.uploads, settings.bucket, uploadsMissing));
  if (config.target.runner.kind === "ec2") {
    const iam = checkCallsAgainstRunnerRole(aws.calls.filter((c) => c.accessKeyId === RUNNER_ACCESS_KEY), stateFile.read().resources);
    checks.push({ name: "every AWS call the runner's steps made is allowed by the runner's instance role (actions and resources; conditions not evaluated)", ok: iam.denied.length === 0, detail: `${iam.allowed} allowed${iam.denied.length ? `; denied: ${iam.denied.slice(0, 5).join(", ")}` : ""}` });
  }
  checks.push(scheduledTicksCheck(scheduledRuns(logsDir), schedulers.jobs.length));
  checks.push(monitorsCheck(edge, ups));
  log(`  Docker Hub pulls in the last hour, by address: ${JSON.stringify(registries.hubPullCounts())}`);
  checks.push({ name: "every stage's pulumi up succeeded (or was refused by a guard before anything moved)", ok, detail: ups.map((u) => `${u.label}: ${u.ok ? "ok" : u.refused ? `refused: ${u.error}` : u.error}`).join("; ") });
  checks.push(secondUpCheck(ups));
  checks.push(failuresOutsideCutoverCheck(ups, load.requests));
  checks.push(deploymentsCheck([...cloud.deployments.values()]));
  if (servedWhileStaying.length) checks.push(sourceAppOnMovedStoresCheck(servedWhileStaying, acked));

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
    cutoverSpans: cutoverSpans(ups),
    volumes: { rows: src.data.rows, seed: src.data.seed, feeds: seeded.feeds, databaseBytes: sourceBytes },
    redisWrites: { acknowledged: acked.length, lost: lostFeed },
    ecs: { timeFactor: opts.timeFactor, fargateStartSeconds: FARGATE_START_SECONDS },
    jobs: counted.jobs,
    sidekiqSets: sets,
    uploads: { acknowledged: load.uploads.length, bucket: settings.bucket, missing: uploadsMissing },
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

