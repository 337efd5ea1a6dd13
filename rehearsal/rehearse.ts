// The rehearsal from start to finish: the source (seeded database, Redis with feeds
// and a queue, the app, the old host or fake Heroku, the front door), the load for
// the whole run, the stages with the real data-plane commands, the checks, then the
// report. Servers and temp dirs are cleaned up by onExit whatever happens.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Client } from "pg";
import { withClient } from "../migrations/postgres/connection";
import Redis from "ioredis";
import { RehearsalOptions } from "./options";
import { describeMissing, missingPrerequisites } from "./prerequisites";
import { StageRunner, StageContext, Log } from "./stages";
import { freePort, startPostgres, startRedis } from "./servers";
import { startHerokuApi } from "./servers/heroku-api";
import { APP_DB, APP_ROLE, fillSource } from "./source-data";
import { databaseBytes } from "./seed";
import { rebuildFeeds } from "./app/feeds";
import { startLoad } from "./loadgen";
import { startFrontDoor } from "./frontdoor";
import { startOldHost } from "./old-host";
import { World, ferryEnv, newRunId, sleep, startApp } from "./flows/world";
import { runVultrStages } from "./flows/vultr";
import { runHerokuStages } from "./flows/heroku";
import { endChecks } from "./flows/shared-stages";
import { lostWritesCheck } from "./checks";
import { AckedWrite, CheckRecord, RunTimeline } from "./timeline";
import { writeReport } from "./report/write";
import { RehearsalReport } from "./report/build";

export class RehearsalError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

const HEROKU_APP = "rehearsal-mastodon";

/** The source: database + data, Redis (Heroku-like or a box's), feeds, the app, and what sits in front of it. */
async function setUpSource(opts: RehearsalOptions, logsDir: string, runId: string, log: Log, s: StageContext): Promise<World> {
  const heroku = opts.source === "heroku";
  const pg = await s.step("start the source PostgreSQL", () => startPostgres());
  const appPassword = randomBytes(12).toString("hex");
  log(`  source PostgreSQL on port ${pg.port}; filling it (${opts.sourceDump ? "from your dump" : opts.sourceUrl ? "from your database" : `sample, ${opts.sizeRows} rows`})`);
  const data = await s.step(opts.sourceDump || opts.sourceUrl ? "restore your data into the source" : "seed the source with the sample", () => fillSource(pg, appPassword, opts));
  const redis = await startRedis(
    heroku
      ? // Heroku Key-Value Store: TLS only, a password, no SYNC/PSYNC, no CONFIG; notifications enabled as `heroku redis:keyspace-notifications -c KA` would.
        { tls: true, password: randomBytes(12).toString("hex"), disableCommands: ["SYNC", "PSYNC", "CONFIG"], settings: { "notify-keyspace-events": "KA" } }
      : { password: randomBytes(12).toString("hex") },
  );
  const caFile = heroku ? join(redis.dir, "cert.pem") : undefined;
  // Children (ferry, the apps) trust the self-signed certificate the way Heroku's docs say to handle it.
  if (caFile) process.env.NODE_EXTRA_CA_CERTS = caFile;
  const appUrl = pg.url(APP_DB, APP_ROLE, appPassword);
  const w: World = {
    opts,
    log,
    logsDir,
    runId,
    source: {
      pg,
      ferryUrl: heroku ? appUrl : pg.url(APP_DB),
      appUrl,
      redis,
      redisUrl: redis.url(),
      data,
      caFile,
    },
    cutover: {},
    volumes: { rows: data.rows, seed: data.seed },
  };
  await s.step("build the home feeds in the source Redis (the app's rebuild)", () => seedRedis(w));
  await s.step("start the source app, its front (old host nginx or Heroku API) and the front door", () => startSourceApp(w, heroku));
  w.volumes.databaseBytes = await withClient(pg.url(APP_DB), databaseBytes);
  return w;
}

async function startSourceApp(w: World, heroku: boolean): Promise<void> {
  if (heroku) {
    const apiKey = randomBytes(16).toString("hex");
    const api = await startHerokuApi({
      apiKey,
      apps: [{ name: HEROKU_APP, formation: [{ type: "web", quantity: 1, size: "standard-1X" }, { type: "worker", quantity: 1, size: "standard-1X" }] }],
    });
    w.source.heroku = { api, app: HEROKU_APP, apiKey };
    w.source.app = await startApp(w, "source", w.source.appUrl, w.source.redisUrl, { heroku: w.source.heroku });
  } else {
    w.source.app = await startApp(w, "source", w.source.appUrl, w.source.redisUrl);
    w.source.oldHost = await startOldHost(await freePort(), w.source.app.config.port);
  }
  const entry = w.source.oldHost?.port ?? w.source.app.config.port;
  w.frontDoor = await startFrontDoor(await freePort(), [{ name: "source", port: entry, weight: 1 }]);
}

function sourceRedis(w: World): Redis {
  return new Redis(w.source.redisUrl, { maxRetriesPerRequest: 2, tls: w.source.caFile ? { ca: w.source.redis.caCert } : undefined });
}

/** Home feeds built from the seeded statuses (the app's own rebuild), and the volumes Redis holds. */
async function seedRedis(w: World): Promise<void> {
  const db = new Client({ connectionString: w.source.appUrl });
  await db.connect();
  const redis = sourceRedis(w);
  try {
    const built = await rebuildFeeds(db, redis, w.source.data.schema);
    w.volumes.feeds = built.feeds;
    w.volumes.redisKeys = await redis.dbsize();
    const info = await redis.info("memory");
    w.volumes.redisBytes = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    await db.end();
    redis.disconnect();
  }
}

/** Where the acknowledged writes must be: the target once its cutover went through, else still the source. */
function cutoverDone(stages: StageRunner): boolean {
  const cut = stages.stages.find((s) => s.name === "cutover");
  return !!cut?.steps.some((st) => st.name.startsWith("ferry pg cutover") && st.ok);
}

/** ferry's verdicts: the full verify commands, or (with --verify cutover) the verify each cutover ran itself. */
function verifyChecks(stages: StageRunner): CheckRecord[] {
  const steps = stages.stages.flatMap((s) => s.steps);
  return (["pg", "redis"] as const).map((kind) => {
    const step = steps.find((st) => st.name.startsWith(`ferry ${kind} verify`));
    if (step) {
      return { name: `ferry ${kind} verify is green`, ok: step.ok, detail: step.ok ? `exit 0 in ${step.endedAt - step.startedAt} ms` : (step.error ?? `exit ${step.exitCode}`) };
    }
    const cut = steps.find((st) => st.name.startsWith(`ferry ${kind} cutover`));
    const verify = (cut?.result as { verify?: { ok?: boolean } } | undefined)?.verify;
    return {
      name: `ferry ${kind} cutover's own verify is green`,
      ok: verify?.ok === true,
      detail: !cut ? "did not run (an earlier stage failed)" : verify ? `verify.ok = ${verify.ok} in the cutover's JSON` : "the cutover's JSON has no verify result",
    };
  });
}

async function runChecks(w: World, stages: StageRunner, acked: AckedWrite[]): Promise<{ checks: CheckRecord[]; lost: AckedWrite[] }> {
  if (w.target && cutoverDone(stages)) {
    const end = await endChecks(w, acked);
    return { checks: [...verifyChecks(stages), ...end.checks], lost: end.lost };
  }
  // The cutover did not happen: the writes must still be on the source.
  const r = await withClient(w.source.ferryUrl, (db) => lostWritesCheck(db, w.source.data.schema, acked));
  return { checks: [...verifyChecks(stages), { ...r.check, name: "every acknowledged write is on the source (the cutover did not happen)" }], lost: r.lost };
}

export async function rehearse(opts: RehearsalOptions, log: Log): Promise<{ report: RehearsalReport; exitCode: number }> {
  const missing = missingPrerequisites(opts);
  if (missing.length) throw new RehearsalError(describeMissing(missing), 3);
  const logsDir = join(opts.outDir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const runId = newRunId();
  const startedAt = Date.now();
  const stages = new StageRunner(log);
  let w: World | undefined;
  await stages.run("source", async (s) => {
    w = await setUpSource(opts, logsDir, runId, log, s);
    return `${Object.entries(w.volumes.rows).map(([k, v]) => `${v} ${k}`).join(", ")}; ${w.volumes.feeds} feeds`;
  });
  if (!w) throw new RehearsalError(`could not start the source: ${stages.stages[0].detail}`, 1);
  const world = w;
  world.load = startLoad({
    baseUrl: world.frontDoor!.url,
    accounts: world.source.data.accounts,
    writesPerSecond: opts.writesPerSecond,
    readsPerSecond: opts.readsPerSecond,
    maxWrites: opts.maxWrites,
    maxDurationMs: opts.maxMinutes * 60_000,
    timeoutMs: 5000,
    ackFile: join(opts.outDir, "acknowledged-writes.jsonl"),
    runId,
  });
  log(`load: ${opts.writesPerSecond} writes/s and ${opts.readsPerSecond} reads/s through the front door ${world.frontDoor!.url}`);
  await sleep(opts.holdSeconds * 1000);
  if (opts.source === "vultr") await runVultrStages(world, stages);
  else await runHerokuStages(world, stages);
  await world.load.stop();
  await world.redisFollower?.stop();
  log(`load stopped: ${world.load.acked.length} writes acknowledged of ${world.load.requests.filter((r) => r.kind === "write").length}`);

  let checks: CheckRecord[] = [];
  let lost: AckedWrite[] = [];
  await stages.run("checks", async (s) => {
    const r = await s.step("check the target", () => runChecks(world, stages, world.load!.acked));
    checks = r.checks;
    lost = r.lost;
    const failed = checks.filter((c) => !c.ok);
    if (failed.length) throw new Error(`${failed.length} check(s) failed: ${failed.map((c) => c.name).join("; ")}`);
  }, { always: true });
  if (!stages.anyFailed) {
    await stages.run("cleanup", async (s) => {
      await s.ferry("ferry pg cleanup (replication slots, publications, subscriptions)", ["pg", "cleanup"], ferryEnv(world));
    });
  }
  const timeline: RunTimeline = {
    source: opts.source,
    pgStrategy: opts.pgStrategy,
    redisMode: opts.feeds === "rebuild" && opts.source === "heroku" ? "copy, feeds rebuilt" : opts.redisMode,
    startedAt,
    endedAt: Date.now(),
    stages: stages.stages,
    requests: world.load.requests,
    acked: world.load.acked,
    lost,
    checks,
    cutover: world.cutover,
    volumes: world.volumes,
  };
  const report = writeReport(timeline, opts.outDir, secretsOf(world));
  await teardown(world);
  return { report, exitCode: report.ok ? 0 : 1 };
}

/**
 * Stop the apps and nginx gracefully (nginx waits for its workers). Databases and Redis
 * are stopped, and temp dirs removed, by the exit hooks of rehearsal/servers.
 */
async function teardown(w: World): Promise<void> {
  const apps = [w.target?.finalApp, w.target?.interimApp, w.source.app].filter((a) => a?.running());
  await Promise.allSettled(apps.map((a) => a!.stop()));
  await Promise.allSettled([w.frontDoor?.stop(), w.source.oldHost?.stop(), w.source.heroku?.api.stop()]);
}

/** Every password and key of the run, scrubbed from the report files whatever path they took. */
function secretsOf(w: World): string[] {
  const fromUrl = (u?: string) => (u ? decodeURIComponent(new URL(u).password) : "");
  return [
    w.source.pg.password,
    fromUrl(w.source.appUrl),
    w.source.redis.password ?? "",
    w.target?.pg?.password ?? "",
    w.target?.redis.password ?? "",
    w.source.heroku?.apiKey ?? "",
  ].filter((s) => s.length >= 6);
}

