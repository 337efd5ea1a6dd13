// The rehearsal app (rehearsal/app), run from its slug as the platforms run it: its release
// phase, the scheduled commands the example stacks declare, the Sidekiq sets the rehearsal
// seeds and counts, and how it reads the URLs a platform hands it (Redis TLS as Heroku
// tells Rails and Node apps; node-postgres's sslmode as it is).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import Redis from "ioredis";
import { freePort, startPostgres, startRedis, tempDir, LocalPostgres, LocalRedis } from "../../rehearsal/servers";
import { createAppDatabase, APP_DB, APP_ROLE } from "../../rehearsal/source-data";
import { buildRehearsalSlug, RehearsalSlug, SLUG_RUN } from "../../rehearsal/stack/slug";
import { Platform, startProcess } from "../../rehearsal/app-process";
import { platformEnv } from "../../rehearsal/stack/standins/fleet";
import { countSidekiqSets } from "../../rehearsal/checks";
import { makeCa } from "../../rehearsal/servers/certificates";
import { readStackConfig } from "../../policy/stack-file";
import { SidekiqSet } from "../../rehearsal/app-data";

const ROOT = join(__dirname, "..", "..");

describe("the rehearsal app, from its slug", { timeout: 600_000 }, () => {
  let pg: LocalPostgres;
  let redis: LocalRedis;
  let slug: RehearsalSlug;
  let db: Client;
  let env: Record<string, string>;
  const logs = tempDir("app-test-logs");

  /** One process of the slug, through slug-run, to completion: its exit code and output. */
  async function runSlug(platform: Platform, processType: string, extra: Record<string, string> = {}, command?: string): Promise<{ code: number | null; output: string }> {
    const logFile = join(logs, `${processType}-${Math.random().toString(36).slice(2)}.log`);
    const p = await startProcess({
      name: processType, platform, logFile,
      launch: { kind: "slug", slugRun: SLUG_RUN, slug: slug.file, processType, command, appDir: join(tempDir("app-test-dyno"), "app") },
      env: { ...env, ...platformEnv(platform, processType, 1, processType, "public"), ...extra },
    });
    const { code } = await p.exited;
    await p.stop();
    return { code, output: readFileSync(logFile, "utf8") };
  }

  beforeAll(async () => {
    [pg, redis, slug] = await Promise.all([startPostgres(), startRedis(), buildRehearsalSlug()]);
    await createAppDatabase(pg, "app-pw");
    env = { DATABASE_URL: pg.url(APP_DB, APP_ROLE, "app-pw"), REDIS_URL: redis.url() };
    db = new Client({ connectionString: pg.url(APP_DB) });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await redis?.stop();
    await pg?.stop();
  });

  const versions = async () => (await db.query("SELECT version FROM schema_migrations ORDER BY version")).rows.map((r) => r.version as string);

  test("the release phase migrates (the web app's only), then is a no-op until a new release", async () => {
    // The streaming app shares the database: its release migrates nothing.
    const streaming = await runSlug("heroku", "release", { RUN_STREAMING: "true" });
    expect(streaming.code).toBe(0);
    expect((await db.query("SELECT to_regclass('public.schema_migrations') AS t")).rows[0].t).toBeNull();

    const first = await runSlug("heroku", "release");
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/CreateCoreTables: migrated/);
    const applied = await versions();
    expect(applied).toHaveLength(3);
    for (const table of ["accounts", "follows", "statuses", "media_attachments", "job_runs", "scheduled_runs"]) {
      expect((await db.query("SELECT to_regclass($1) AS t", [`public.${table}`])).rows[0].t).toBe(table);
    }

    const again = await runSlug("ecs", "release");
    expect(again.code, again.output).toBe(0);
    expect(again.output).not.toMatch(/migrating/);
    expect(await versions()).toEqual(applied);
  });

  test("each scheduled command the example stacks declare exists, succeeds, and records where it ran", async () => {
    const commands = [...new Set(["staging", "prod"].flatMap((s) => readStackConfig(join(ROOT, `Pulumi.${s}.yaml`)).target.compute.schedules.map((j) => j.command)))];
    expect(commands).toEqual(expect.arrayContaining(["bin/rails mastodon:refresh_trends", "bin/tootctl media remove --days 7", "bin/tootctl preview_cards remove --days 30"]));
    await db.query("DELETE FROM scheduled_runs");
    for (const command of commands) {
      // A Heroku Scheduler one-off (`scheduler.1`), then an EventBridge Scheduler task.
      for (const platform of ["heroku", "ecs"] as const) {
        const r = await runSlug(platform, "scheduler", {}, command);
        expect(r.code, `${command} on ${platform}: ${r.output}`).toBe(0);
      }
    }
    const { rows } = await db.query("SELECT job, ran_on FROM scheduled_runs ORDER BY id");
    expect(rows.map((r) => r.job).sort()).toEqual(["media remove", "media remove", "preview_cards remove", "preview_cards remove", "refresh_trends", "refresh_trends"]);
    // In the order they ran: each command on Heroku, then on ECS.
    expect(rows.filter((_, i) => i % 2 === 0).map((r) => r.ran_on)).toEqual(["heroku:scheduler.1", "heroku:scheduler.1", "heroku:scheduler.1"]);
    expect(rows.filter((_, i) => i % 2 === 1).every((r) => /^ecs:[0-9a-f]+-[0-9a-f]+$/.test(r.ran_on))).toBe(true);
  });

  test("Sidekiq's sets: the seed puts jobs in schedule, retry and dead; the end count finds each once, and one lost or doubled", async () => {
    const seeded = await runSlug("heroku", "seed", {}, "bundle exec rails 'rehearsal:seed_jobs[3]'");
    expect(seeded.code, seeded.output).toBe(0);
    const jobs = JSON.parse(seeded.output.trim().split("\n").pop()!.replace(/^seed: /, "")) as Record<SidekiqSet, string[]>;
    const r = new Redis(redis.url());
    try {
      // Due hours and days ahead: nothing of it is in a queue.
      const schedule = await r.zrange("schedule", "0", "-1", "WITHSCORES");
      expect(Number(schedule[1])).toBeGreaterThan(Date.now() / 1000 + 3600);
      expect(await countSidekiqSets(r, jobs)).toEqual({ seeded: { schedule: 3, retry: 3, dead: 3 }, missing: [], duplicated: [] });
      const [retried] = await r.zrange("retry", "0", "0");
      await r.zadd("schedule", String(Date.now() / 1000 + 86400), retried);
      const [dead] = await r.zrange("dead", "0", "0");
      await r.zrem("dead", dead);
      const counts = await countSidekiqSets(r, jobs);
      expect(counts.duplicated).toEqual([{ set: "retry", jid: JSON.parse(retried).jid, count: 2 }]);
      expect(counts.missing).toEqual([{ set: "dead", jid: JSON.parse(dead).jid }]);
    } finally {
      r.disconnect();
    }
  });

  test("Redis over TLS: verification off for Heroku's hosts only, as Heroku tells Rails apps; anywhere else verified", async () => {
    const rule = (url: string) => spawnSync("ruby", ["-r", join(slug.appDir, "app/lib/redis_configuration.rb"), "-e", "p RedisConfiguration.options(ARGV[0])[:ssl_params]", url], { encoding: "utf8" }).stdout.trim();
    expect(rule("rediss://:p@ec2-3-91-10-20.compute-1.amazonaws.com:12340")).toBe("{:verify_mode=>0}");
    expect(rule("rediss://:p@ec2-3-91-10-20.eu-west-1.compute.amazonaws.com:12340")).toBe("{:verify_mode=>0}");
    expect(rule("rediss://:p@master.ferry-redis.abc123.use1.cache.amazonaws.com:6379")).toBe("nil");
    expect(rule("redis://:p@10.0.1.5:6379")).toBe("nil");

    // A self-signed server reached by another name: the app verifies, and refuses it.
    const tls = await startRedis({ tls: true, password: "tls-pw" });
    try {
      const r = await runSlug("box", "probe", { REDIS_URL: tls.url() }, `bundle exec rails runner 'puts REDIS_POOL.with { |r| r.ping }'`);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/certificate verify failed/);
    } finally {
      await tls.stop();
    }
  });

  test("the streaming server reads DATABASE_URL as node-postgres does: sslmode=require verifies the certificate, PGSSLMODE=no-verify (Heroku's advice) does not", async () => {
    const ca = await makeCa(tempDir("app-test-ca"), "an RDS-like CA");
    const rds = await startPostgres({ tls: { kind: "private-ca", ca, required: true } });
    try {
      await createAppDatabase(rds, "rds-pw");
      const migrate = await runSlug("box", "migrate", { DATABASE_URL: `${rds.url(APP_DB, APP_ROLE, "rds-pw")}?sslmode=require` }, "bundle exec rails db:migrate");
      expect(migrate.code, migrate.output).toBe(0); // libpq's require: TLS, no verification
      const stream = async (vars: Record<string, string>) => {
        const port = await freePort();
        const p = await startProcess({
          name: "streaming", platform: "box", port, logFile: join(logs, "streaming.log"),
          launch: { kind: "unit", appDir: slug.appDir, command: "exec node ./streaming/index.js" },
          env: { ...env, APP_NAME: "streaming", ...vars },
        });
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/v1/streaming/user?account_id=1`, { signal: AbortSignal.timeout(20_000) });
          const body = res.headers.get("content-type")?.startsWith("text/event-stream") ? "stream" : await res.text();
          return { status: res.status, body };
        } finally {
          await p.stop();
        }
      };
      const url = `${rds.url(APP_DB, APP_ROLE, "rds-pw")}?sslmode=require`;
      const refused = await stream({ DATABASE_URL: url });
      expect(refused.status).toBe(503);
      expect(refused.body).toMatch(/certificate/);
      // Trusted (the CA in the machine's store), it opens the stream; the account is there once seeded.
      const admin = new Client({ connectionString: rds.url(APP_DB), ssl: { ca: readFileSync(ca.caFile, "utf8") } });
      await admin.connect();
      await admin.query("INSERT INTO accounts (username) VALUES ('one')").finally(() => admin.end());
      expect(await stream({ DATABASE_URL: url, NODE_EXTRA_CA_CERTS: ca.caFile })).toEqual({ status: 200, body: "stream" });
      // Heroku's way: a URL without sslmode, PGSSLMODE=no-verify.
      expect(await stream({ DATABASE_URL: rds.url(APP_DB, APP_ROLE, "rds-pw"), PGSSLMODE: "no-verify" })).toEqual({ status: 200, body: "stream" });
    } finally {
      await rds.stop();
    }
  });
});
