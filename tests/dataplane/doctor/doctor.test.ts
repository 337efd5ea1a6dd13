// `ferry doctor --stack NAME` against stand-ins that refuse what the real services refuse,
// a real redis-server and PostgreSQL, and `pulumi` / `aws` programs on a PATH of the test's
// own: one run where everything is in place exits 0; then each missing prerequisite, one
// at a time, makes it exit 1 with exactly one blocking line, the one naming it.
import { join } from "node:path";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalPostgres, LocalRedis, freePort, postgresBinDir, startPostgres, startRedis } from "../../../rehearsal/servers";
import { FerryRun, runFerry } from "../postgres/helpers";
import { herokuConfig, vultrConfig } from "../../policy/stacks";
import { CloudflareStandIn, FakeTools, HerokuStandIn, fakeTools, startCloudflare, startHeroku, startSts } from "./standins";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ZONE = "fedcba9876543210fedcba9876543210";
const AWS_KEY = "AKIADOCTORTEST000001";
const HEROKU_KEY = "heroku-long-lived-token-0001";
const CF_TOKEN = "cloudflare-token-with-every-grant-01";
const TARGET_PG_PASSWORD = "target-pg-password-0000000001";

let heroku: HerokuStandIn;
let cloudflare: CloudflareStandIn;
let redis: LocalRedis;
let pg: LocalPostgres;
let tools: FakeTools;

beforeAll(async () => {
  [heroku, cloudflare, redis, pg] = await Promise.all([
    startHeroku(), startCloudflare(ACCOUNT, ZONE), startRedis({ settings: { "notify-keyspace-events": "KA" } }), startPostgres(),
  ]);
  heroku.tokens.set(HEROKU_KEY, { expiresIn: null });
  heroku.apps.set("mastodon-web", "us");
  cloudflare.tokens.set(CF_TOKEN, { status: "active", owner: "user", grants: ["dns", "rulesets"] });
  tools = fakeTools({ pulumi: true, awsAccessKeyId: AWS_KEY });
  tools.link("pg_dump", join(postgresBinDir(), "pg_dump"));
  tools.link("pg_restore", join(postgresBinDir(), "pg_restore"));
}, 120_000);

afterAll(async () => {
  await Promise.all([heroku?.close(), cloudflare?.close(), redis?.stop(), pg?.stop()]);
});

type Stack = Record<string, unknown>;

/** The stack as `pulumi config --json --show-secrets` prints it: secrets marked, objects as JSON text. */
function pulumiJson(stack: Stack, secrets: Record<string, string>, clear: string[] = []): Record<string, { value: string; secret: boolean }> {
  const plain = Object.entries(stack).filter(([, v]) => !(typeof v === "object" && v !== null && "secure" in v));
  return Object.fromEntries([
    ...plain.map(([k, v]) => [k, { value: typeof v === "string" ? v : JSON.stringify(v), secret: false }]),
    ...Object.entries(secrets).map(([k, v]) => [k, { value: v, secret: !clear.includes(k) }]),
  ]);
}

function secrets(over: Record<string, string> = {}): Record<string, string> {
  return {
    "ferry:herokuApiKey": HEROKU_KEY,
    "ferry:cloudflareApiToken": CF_TOKEN,
    "ferry:sourceDatabaseUrl": pg.url(),
    "ferry:sourceRedisUrl": redis.url(),
    "ferry:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
    "ferry:targetPostgresPassword": TARGET_PG_PASSWORD,
    "ferry:targetRedisPassword": "target-redis-password-00000001",
    ...over,
  };
}

const withTarget = (change: (t: Record<string, any>) => void): Stack => {
  const stack = JSON.parse(JSON.stringify(herokuConfig())) as Stack;
  change(stack["ferry:target"] as Record<string, any>);
  return stack;
};

let stacks = 0;

const PG_ADDON = "postgresql-curved-12345";
const REDIS_ADDON = "redis-round-67890";

/**
 * The Heroku source's add-ons hold what the stack's keys hold, unless `addons` says
 * otherwise (the steps, and so doctor, read a Heroku store's URL from its add-on).
 */
function attachAddons(given: Record<string, string>, addons: { postgres?: string | null; redis?: string | null } = {}): void {
  heroku.addons.clear();
  const postgres = addons.postgres === undefined ? given["ferry:sourceDatabaseUrl"] : addons.postgres;
  const redisUrl = addons.redis === undefined ? given["ferry:sourceRedisUrl"] : addons.redis;
  if (postgres) heroku.addons.set(PG_ADDON, { app: "mastodon-web", attachment: "HEROKU_POSTGRESQL_ORANGE", url: postgres });
  if (redisUrl) heroku.addons.set(REDIS_ADDON, { app: "mastodon-web", attachment: "REDIS", url: redisUrl });
}

/** `ferry doctor` on a fresh stack named for this run, with PATH = the test's programs only. */
async function doctor(opts: { stack?: Stack; secrets?: Record<string, string>; addons?: { postgres?: string | null; redis?: string | null }; clear?: string[]; env?: Record<string, string>; json?: boolean; name?: string } = {}): Promise<FerryRun> {
  const name = `doc${stacks++}`;
  attachAddons(opts.secrets ?? secrets(), opts.addons);
  tools.setStack(name, pulumiJson(opts.stack ?? herokuConfig(), opts.secrets ?? secrets(), opts.clear));
  return runFerry([...(opts.json ? ["--json"] : []), "doctor", "--stack", opts.name ?? name], {
    PATH: tools.bin,
    AWS_ACCESS_KEY_ID: AWS_KEY,
    HEROKU_API_URL: heroku.url,
    CLOUDFLARE_API_URL: cloudflare.url,
    ...opts.env,
  });
}

const lines = (run: FerryRun, status: string) => run.stdout.split("\n").filter((l) => l.startsWith(`${status} `));

/** Exit 1 with exactly one blocking line, matching `line`. */
function blockedBy(run: FerryRun, line: RegExp): void {
  expect(run.stderr).toBe("");
  expect(lines(run, "block")).toEqual([expect.stringMatching(line)]);
  expect(run.code).toBe(1);
}

describe("ferry doctor", () => {
  it("passes a stack whose every prerequisite is in place: exit 0, no blocking line, no secret printed", async () => {
    const run = await doctor();
    expect(run.stderr).toBe("");
    expect(lines(run, "block")).toEqual([]);
    for (const check of ["pulumi", "stack doc", "config", "aws", "heroku token", "heroku app mastodon-web", "cloudflare", "source redis", "source postgres", "pg_dump", "pg_restore"]) {
      expect(run.stdout).toMatch(new RegExp(`^ok\\s+${check}`, "m"));
    }
    expect(run.stdout).toMatch(/^ok\s+source postgres: server 1\d \(server_version_num 1\d{5}\)$/m);
    expect(run.stdout).toMatch(/^ok\s+pg_dump: pg_dump \(PostgreSQL\) 1\d.* \(the source server is 1\d\)$/m);
    expect(run.code).toBe(0);
    for (const secret of Object.values(secrets())) expect(run.stdout).not.toContain(secret);
  });

  it("--json prints the findings as one object, and no secret", async () => {
    const run = await doctor({ json: true, secrets: secrets({ "ferry:herokuApiKey": "heroku-unknown-token-0002" }) });
    const out = JSON.parse(run.stdout);
    expect(out.ok).toBe(false);
    expect(out.findings).toContainEqual({ check: "heroku token", status: "block", detail: expect.stringMatching(/Heroku refused it/) });
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).not.toContain("heroku-unknown-token-0002");
    expect(run.stdout + run.stderr).not.toContain(CF_TOKEN);
  });

  // ---- the Pulumi CLI and the stack

  it("blocks without the Pulumi CLI", async () => {
    const bare = fakeTools({ pulumi: false, awsAccessKeyId: AWS_KEY });
    const run = await runFerry(["doctor", "--stack", "any"], { PATH: bare.bin });
    blockedBy(run, /^block  pulumi: the Pulumi CLI is not on PATH/);
  });

  it("blocks on a stack Pulumi does not have", async () => {
    const run = await doctor({ name: "nosuchstack" });
    blockedBy(run, /^block  stack nosuchstack: `pulumi config --stack nosuchstack` failed .*no stack named 'nosuchstack' found/);
  });

  // ---- the stack's config

  it("blocks on each stand-in ferry init left, naming its key", async () => {
    const run = await doctor({ stack: withTarget((t) => (t.runner.ami = "ami-00000000000000000")) });
    blockedBy(run, /^block  ferry:target\.runner\.ami: still the stand-in ferry init wrote \(TODO: a Debian 13 AMI/);
  });

  it("blocks on init's Cloudflare zone stand-in and does not ask Cloudflare about it", async () => {
    const run = await doctor({ stack: withTarget((t) => (t.cloudflare.zoneId = "0".repeat(32))) });
    blockedBy(run, /^block  ferry:target\.cloudflare\.zoneId: still the stand-in ferry init wrote/);
    expect(lines(run, "skip")).toEqual([expect.stringMatching(/^skip\s+cloudflare: the account and zone ids are still ferry init's stand-ins/)]);
  });

  it("blocks on a secret stored in clear text", async () => {
    const run = await doctor({ clear: ["ferry:cloudflareApiToken"] });
    blockedBy(run, /^block  config: ferry:cloudflareApiToken: set it with --secret/);
    expect(run.stdout).not.toContain(CF_TOKEN);
  });

  // ---- AWS

  it("blocks without AWS credentials", async () => {
    const run = await doctor({ env: { AWS_ACCESS_KEY_ID: "" } });
    blockedBy(run, /^block  aws: no usable AWS credentials for us-east-1: Unable to locate credentials/);
  });

  it("without the AWS CLI, asks STS itself with a signed request: the environment's keys pass, a wrong secret blocks", async () => {
    const sts = await startSts({ accessKeyId: AWS_KEY, secretAccessKey: "sts-secret-key-000000000000000000000001", region: "us-east-1" });
    const noCli = fakeTools({ pulumi: true, awsAccessKeyId: AWS_KEY, aws: false });
    noCli.link("pg_dump", join(postgresBinDir(), "pg_dump"));
    noCli.link("pg_restore", join(postgresBinDir(), "pg_restore"));
    const saved = tools;
    tools = noCli;
    try {
      const good = await doctor({ env: { AWS_SECRET_ACCESS_KEY: "sts-secret-key-000000000000000000000001", AWS_ENDPOINT_URL_STS: sts.url } });
      expect(good.stdout).toMatch(/^ok\s+aws: account 123456789012 as arn:aws:iam::123456789012:user\/ops \(signed request; no AWS CLI here\)$/m);
      expect(good.code).toBe(0);
      const wrong = await doctor({ env: { AWS_SECRET_ACCESS_KEY: "not-the-secret-000000000000000000000002", AWS_ENDPOINT_URL_STS: sts.url } });
      blockedBy(wrong, /^block  aws: no usable AWS credentials for us-east-1: STS answered 403 SignatureDoesNotMatch: The request signature/);
      expect(wrong.stdout).not.toContain("not-the-secret");
      const none = await doctor({ env: { AWS_ACCESS_KEY_ID: "", AWS_ENDPOINT_URL_STS: sts.url } });
      expect(lines(none, "warn")).toEqual([expect.stringMatching(/^warn\s+aws: neither the AWS CLI nor AWS_ACCESS_KEY_ID/)]);
      expect(none.code).toBe(0);
    } finally {
      tools = saved;
      await sts.close();
    }
  });

  it("warns, and does not block, when the Heroku app runs in another region than the target", async () => {
    heroku.apps.set("mastodon-web", "eu");
    try {
      const run = await doctor();
      expect(lines(run, "block")).toEqual([]);
      expect(lines(run, "warn")).toEqual([expect.stringMatching(/^warn\s+heroku app mastodon-web: runs in Heroku region eu \(AWS eu-west-1\) but ferry:target\.region is us-east-1/)]);
      expect(run.code).toBe(0);
    } finally {
      heroku.apps.set("mastodon-web", "us");
    }
  });

  // ---- Cloudflare

  it("blocks on a Cloudflare token that is not active", async () => {
    cloudflare.tokens.set("cloudflare-token-disabled-000003", { status: "disabled", owner: "user", grants: ["dns", "rulesets"] });
    const run = await doctor({ secrets: secrets({ "ferry:cloudflareApiToken": "cloudflare-token-disabled-000003" }) });
    blockedBy(run, /^block  cloudflare: ferry:cloudflareApiToken is disabled, not active/);
  });

  it("blocks on a Cloudflare token without DNS edit, naming the permission", async () => {
    cloudflare.tokens.set("cloudflare-token-no-dns-000004", { status: "active", owner: "user", grants: ["rulesets"] });
    const run = await doctor({ secrets: secrets({ "ferry:cloudflareApiToken": "cloudflare-token-no-dns-000004" }) });
    blockedBy(run, /^block  cloudflare: the token may not read the zone's DNS records: grant it Zone \/ DNS \/ Edit \(10000 Authentication error\)/);
  });

  it("accepts an account-owned token, and blocks when it cannot reach the zone's rulesets the Full (strict) rule needs", async () => {
    cloudflare.tokens.set("cloudflare-account-token-000005", { status: "active", owner: "account", grants: ["dns"] });
    const run = await doctor({ secrets: secrets({ "ferry:cloudflareApiToken": "cloudflare-account-token-000005" }) });
    expect(run.stdout).toMatch(/^ok\s+cloudflare: ferry:cloudflareApiToken is active/m);
    blockedBy(run, /^block  cloudflare: the token may not read the zone's rulesets .*Zone \/ Config Rules \/ Edit/);
  });

  // ---- Heroku

  it("blocks on a Heroku session token that expires, pointing at authorizations:create", async () => {
    heroku.tokens.set("heroku-session-token-0003", { expiresIn: 8 * 3600 });
    const run = await doctor({ secrets: secrets({ "ferry:herokuApiKey": "heroku-session-token-0003" }) });
    blockedBy(run, /^block  heroku token: ferry:herokuApiKey expires in 8 h .*heroku authorizations:create/);
  });

  // ---- the source's stores

  it("blocks when the source Redis has keyspace notifications off", async () => {
    const before = await redisConfig("notify-keyspace-events");
    await redisConfig("notify-keyspace-events", "");
    try {
      const run = await doctor();
      blockedBy(run, /^block  source redis: keyspace notifications do not cover every write \(notify-keyspace-events is ""\).*heroku redis:keyspace-notifications -c KA/);
    } finally {
      await redisConfig("notify-keyspace-events", before);
    }
  });

  it("warns, naming the Heroku command, when CONFIG is blocked (as on Heroku) and no write shows the notifications", async () => {
    const blocked = await startRedis({ disableCommands: ["CONFIG"] });
    try {
      const run = await doctor({ secrets: secrets({ "ferry:sourceRedisUrl": blocked.url() }) });
      expect(lines(run, "block")).toEqual([]);
      expect(lines(run, "warn")).toEqual([expect.stringMatching(/^warn\s+source redis: keyspace notifications unknown: CONFIG is blocked .*run heroku redis:keyspace-notifications -c KA to be sure$/)]);
      expect(run.code).toBe(0);
    } finally {
      await blocked.stop();
    }
  });

  it("blocks when the source Postgres refuses the password", async () => {
    const run = await doctor({ secrets: secrets({ "ferry:sourceDatabaseUrl": pg.url("postgres", "postgres", "not-the-password") }) });
    blockedBy(run, /^block  source postgres: cannot connect: password authentication failed for user "postgres"$/);
    expect(run.stdout).not.toContain("not-the-password");
  });

  it("reads a Heroku store where the steps do, from its add-on: a stack copy from before a rotation warns with the command that refreshes it", async () => {
    const stale = pg.url("postgres", "postgres", "rotated-away-password");
    const run = await doctor({ secrets: secrets({ "ferry:sourceDatabaseUrl": stale }), addons: { postgres: pg.url() } });
    expect(lines(run, "block")).toEqual([]);
    expect(run.stdout).toMatch(/^ok\s+source postgres: server 1\d/m);
    expect(lines(run, "warn")).toEqual([
      'warn   source postgres url: ferry:sourceDatabaseUrl differs from what add-on postgresql-curved-12345 holds now (its credentials rotated?): ferry\'s steps read the add-on, but the app on AWS connects with ferry:sourceDatabaseUrl until the cutover; set it again: pulumi config set --secret ferry:sourceDatabaseUrl "$(heroku config:get HEROKU_POSTGRESQL_ORANGE_URL -a mastodon-web)"',
    ]);
    expect(run.code).toBe(0);
    for (const secret of ["rotated-away-password", pg.password]) expect(run.stdout + run.stderr).not.toContain(secret);
  });

  it("blocks when the configured Heroku add-on is not attached to its app, naming both", async () => {
    const run = await doctor({ addons: { postgres: null } });
    blockedBy(run, /^block  source postgres: cannot read Heroku add-on postgresql-curved-12345 on app mastodon-web: Heroku add-on postgresql-curved-12345 is not attached to app mastodon-web/);
  });

  it("a box's Redis this machine cannot reach is a warning (the runner reaches it), a Heroku one blocks", async () => {
    const closed = `redis://:pw@127.0.0.1:${await freePort()}/0`;
    const box = await doctor({ stack: vultrConfig(), secrets: secrets({ "ferry:sourceRedisUrl": closed, "ferry:herokuApiKey": "" }) });
    expect(lines(box, "block")).toEqual([]);
    expect(lines(box, "warn")).toEqual([expect.stringMatching(/^warn\s+source redis: not reachable from here \(.*connection refused\); the steps reach it from the runner/)]);
    expect(box.code).toBe(0);
    const heroku = await doctor({ secrets: secrets({ "ferry:sourceRedisUrl": closed }) });
    blockedBy(heroku, /^block  source redis: cannot connect: .*connection refused/);
  });

  it("blocks when pg_dump is older than the source server", async () => {
    const old = fakeTools({ pulumi: true, awsAccessKeyId: AWS_KEY });
    old.fake("pg_dump", "pg_dump (PostgreSQL) 9.6.24");
    old.link("pg_restore", join(postgresBinDir(), "pg_restore"));
    const saved = tools;
    tools = old;
    try {
      const run = await doctor();
      blockedBy(run, /^block  pg_dump: pg_dump \(PostgreSQL\) 9\.6\.24 is older than the source server \(\d+\): install postgresql-client-\d+ or newer/);
    } finally {
      tools = saved;
    }
  });
});

/** CONFIG GET (and SET) on the test's redis-server. */
async function redisConfig(name: string, value?: string): Promise<string> {
  const c = new Redis(redis.url());
  try {
    if (value !== undefined) await c.config("SET", name, value);
    const [, current] = (await c.config("GET", name)) as string[];
    return current;
  } finally {
    c.disconnect();
  }
}
