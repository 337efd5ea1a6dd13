// A Heroku source's credentials rotate under a move that takes weeks. Against the Platform
// API stand-in in front of a real PostgreSQL and a real Heroku-like Redis: the credentials
// rotate between two steps, and the next step still connects, because it reads the add-on's
// current URL from its attachments; the URL copied before the rotation (what a stack config
// held) no longer does. After the cutover's repoint sets DATABASE_URL to another server,
// the source is still the add-on's own URL.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import Redis from "ioredis";
import {
  HEROKU_REDIS_REFUSES, LocalPostgres, LocalRedis, postgresRotation, redisRotation, startHerokuApi, startPostgres, startRedis,
  type FakeHerokuApi,
} from "../../../rehearsal/servers";
import { HerokuClient } from "../../../dataplane/heroku/client";
import { addonUrl } from "../../../dataplane/heroku/source-url";
import { createTestSchema, seedRows } from "../postgres/fixtures";
import { runFerry, FerryRun } from "../traffic/run-ferry";
import { API_KEY } from "./seed";

const APP = "famichiki";
const PG_ADDON = "postgresql-shaped-12345";
const REDIS_ADDON = "redis-curved-67890";
const OWNER_PASSWORD = "owner-pw-before-rotation";

let pg: LocalPostgres;
let source: LocalRedis;
let target: LocalRedis;
let api: FakeHerokuApi;
/** Every password a run must never print: the API key and each credential the add-ons had. */
const secrets = new Set<string>([API_KEY]);

/** The app's database on Heroku: owned by the add-on's role, as a Heroku Postgres database is. */
const sourcePgUrl = () => pg.url("heroku", "owner", OWNER_PASSWORD);
const targetPgUrl = () => pg.url("target");

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query(`CREATE ROLE owner LOGIN PASSWORD '${OWNER_PASSWORD}'`);
  await pg.query("CREATE DATABASE heroku OWNER owner");
  await pg.query("CREATE DATABASE target");
  await createTestSchema(sourcePgUrl());
  await seedRows(sourcePgUrl(), 50);
  source = await startRedis({ password: "redis-pw-before-rotation", disableCommands: [...HEROKU_REDIS_REFUSES], settings: { "notify-keyspace-events": "KA" } });
  target = await startRedis();
  const seed = new Redis(source.url(), { maxRetriesPerRequest: 1 });
  for (let i = 0; i < 30; i++) await seed.set(`k:${i}`, `v${i}`);
  seed.disconnect();
  for (const p of [OWNER_PASSWORD, source.password!]) secrets.add(p);
});

beforeEach(async () => {
  await api?.stop();
  api = await startHerokuApi({
    apiKey: API_KEY,
    pageSize: 2,
    apps: [{
      name: APP,
      addons: [
        // Heroku attaches Heroku Postgres twice: as DATABASE and under its color.
        { name: PG_ADDON, service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", configVars: { DATABASE_URL: currentPgUrl() }, alsoAttachedAs: ["HEROKU_POSTGRESQL_ORANGE"] },
        { name: REDIS_ADDON, service: "heroku-redis", plan: "heroku-redis:premium-0", configVars: { REDIS_URL: source.url() } },
      ],
    }],
  });
});

afterAll(async () => {
  await api?.stop();
  await Promise.all([pg?.stop("immediate"), source?.stop(), target?.stop()]);
});

/** The owner's URL with the password it has now (a rotation in an earlier test changed it). */
let ownerPassword = OWNER_PASSWORD;
const currentPgUrl = () => pg.url("heroku", "owner", ownerPassword);

async function rotatePostgres(): Promise<void> {
  await api.rotateCredentials(APP, PG_ADDON, postgresRotation(pg));
  ownerPassword = decodeURIComponent(new URL(api.app(APP)!.configVars.HEROKU_POSTGRESQL_ORANGE_URL).password);
  secrets.add(ownerPassword);
}

async function rotateRedis(): Promise<void> {
  await api.rotateCredentials(APP, REDIS_ADDON, redisRotation(source));
  secrets.add(source.password!);
}

const herokuEnv = { HEROKU_API_KEY: API_KEY, FERRY_SOURCE_URL: undefined, FERRY_SOURCE_REDIS_URL: undefined };
const pgFromHeroku = () => ({ ...herokuEnv, HEROKU_API_URL: api.url, FERRY_SOURCE_HEROKU_APP: APP, FERRY_SOURCE_HEROKU_ADDON: PG_ADDON, FERRY_TARGET_URL: targetPgUrl() });
const redisFromHeroku = () => ({ ...herokuEnv, HEROKU_API_URL: api.url, FERRY_SOURCE_REDIS_HEROKU_APP: APP, FERRY_SOURCE_REDIS_HEROKU_ADDON: REDIS_ADDON, FERRY_TARGET_REDIS_URL: target.url() });

function expectNoSecrets(r: FerryRun): void {
  for (const s of secrets) expect(r.stdout + r.stderr).not.toContain(s);
}

/** `ferry ARGS` that must succeed and print no secret. */
async function succeeds(args: string[], env: Record<string, string | undefined>): Promise<FerryRun> {
  const r = await runFerry(args, env);
  expect(r.code, r.stderr).toBe(0);
  expectNoSecrets(r);
  return r;
}

describe("a Heroku source's URL, read at each step", () => {
  test("Postgres: rotated after replicate, verify still connects; the URL stored before the rotation is refused", async () => {
    const stored = api.app(APP)!.configVars.DATABASE_URL;
    await succeeds(["--json", "pg", "replicate", "--strategy", "dump"], pgFromHeroku());

    await rotatePostgres();
    expect(api.app(APP)!.configVars.DATABASE_URL).not.toBe(stored);

    // The old behaviour: the URL a stack config kept from before the rotation.
    const stale = await runFerry(["--json", "pg", "verify"], { ...pgFromHeroku(), FERRY_SOURCE_HEROKU_APP: undefined, FERRY_SOURCE_HEROKU_ADDON: undefined, FERRY_SOURCE_URL: stored });
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/^ferry: .*password authentication failed for user "owner"/);
    expectNoSecrets(stale);

    const verify = await succeeds(["--json", "pg", "verify"], pgFromHeroku());
    expect(verify.json<{ ok: boolean }>().ok).toBe(true);
  });

  test("Redis: rotated after replicate, verify still connects; the URL stored before the rotation is refused", async () => {
    const stored = api.app(APP)!.configVars.REDIS_URL;
    await succeeds(["--json", "redis", "replicate", "--strategy", "copy"], redisFromHeroku());

    await rotateRedis();
    expect(api.app(APP)!.configVars.REDIS_URL).not.toBe(stored);

    const stale = await runFerry(["--json", "redis", "verify"], { ...redisFromHeroku(), FERRY_SOURCE_REDIS_HEROKU_APP: undefined, FERRY_SOURCE_REDIS_HEROKU_ADDON: undefined, FERRY_SOURCE_REDIS_URL: stored });
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/^ferry: .*(WRONGPASS|invalid username-password)/);
    expectNoSecrets(stale);

    const verify = await succeeds(["--json", "redis", "verify"], redisFromHeroku());
    expect(verify.json<{ ok: boolean }>().ok).toBe(true);
  });

  test("ferry status reads both sources the same way, after both rotated", async () => {
    for (const step of [["pg", "replicate", "--strategy", "dump"], ["redis", "replicate", "--strategy", "copy"]]) {
      const r = await runFerry(["--json", ...step], { ...pgFromHeroku(), ...redisFromHeroku() });
      expect(r.code, r.stderr).toBe(0);
    }
    await rotatePostgres();
    await rotateRedis();
    const r = await succeeds(["--json", "status"], { ...pgFromHeroku(), ...redisFromHeroku() });
    expect(r.json<{ stores: Array<{ store: string }> }>().stores.map((s) => s.store).sort()).toEqual(["postgres", "redis"]);
  });

  // After this one the target is the primary (no trial copy again): the tests that replicate come before it.
  test("Postgres: rotated between the cutover and its verify and cleanup, each step still reaches the fenced source", async () => {
    const replicate = await runFerry(["--json", "pg", "replicate", "--strategy", "dump"], pgFromHeroku());
    expect(replicate.code, replicate.stderr).toBe(0);
    await rotatePostgres();
    const cutover = await runFerry(["--json", "pg", "cutover", "--strategy", "dump", "--provider-superusers"], pgFromHeroku());
    expect(cutover.code, cutover.stderr).toBe(0);
    expect(cutover.json<{ ok: boolean }>().ok).toBe(true);
    await rotatePostgres();
    for (const step of [["pg", "verify"], ["pg", "status", "--require-cutover"], ["pg", "cleanup"]]) {
      const r = await runFerry(["--json", ...step], pgFromHeroku());
      expect(r.code, `${step.join(" ")}: ${r.stderr}`).toBe(0);
      expectNoSecrets(r);
    }
    expectNoSecrets(cutover);
  });

  test("Redis: rotated before the cutover and again before a verify, each step still reaches the source", async () => {
    const replicate = await runFerry(["--json", "redis", "replicate", "--strategy", "copy"], redisFromHeroku());
    expect(replicate.code, replicate.stderr).toBe(0);
    await rotateRedis();
    const cutover = await runFerry(["--json", "redis", "cutover", "--strategy", "copy", "--fence", "dynos-stopped"], redisFromHeroku());
    expect(cutover.code, cutover.stderr).toBe(0);
    expect(cutover.json<{ ok: boolean }>().ok).toBe(true);
    await rotateRedis();
    const verify = await runFerry(["--json", "redis", "verify"], redisFromHeroku());
    expect(verify.code, verify.stderr).toBe(0);
    for (const r of [replicate, cutover, verify]) expectNoSecrets(r);
  });

  test("after the repoint sets DATABASE_URL to another server, and a rotation after it, the source is still the add-on's own URL", async () => {
    const repoint = await runFerry(["--json", "heroku", "repoint", "--app", APP, "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"], { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, FERRY_TARGET_URL: targetPgUrl() });
    expect(repoint.code, repoint.stderr).toBe(0);
    const vars = () => api.app(APP)!.configVars;
    expect(vars().DATABASE_URL).toBe(targetPgUrl());

    const client = new HerokuClient({ apiKey: API_KEY, baseUrl: api.url });
    expect((await addonUrl(client, APP, PG_ADDON)).url).toBe(currentPgUrl());
    await rotatePostgres();
    // Heroku updates the add-on's attachments; the var the add-on no longer owns keeps the target.
    expect(vars().DATABASE_URL).toBe(targetPgUrl());
    const after = await addonUrl(client, APP, PG_ADDON);
    expect(after.url).toBe(currentPgUrl());
    expect(["HEROKU_POSTGRESQL_ORANGE_URL", "FERRY_SOURCE_DATABASE_URL"]).toContain(after.configVar);

    // The step reaches the source, not the target DATABASE_URL names: its status reads the source's tables.
    await succeeds(["--json", "pg", "status", "--strategy", "dump"], pgFromHeroku());
  });

  test("with only the parking attachment left, the source is read from it", async () => {
    const orange = api.app(APP)!.attachments.find((a) => a.name === "HEROKU_POSTGRESQL_ORANGE")!;
    const env = { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, FERRY_TARGET_URL: targetPgUrl() };
    expect((await runFerry(["heroku", "repoint", "--app", APP, "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"], env)).code).toBe(0);
    await new HerokuClient({ apiKey: API_KEY, baseUrl: api.url }).deleteAttachment(orange.id);
    const found = await addonUrl(new HerokuClient({ apiKey: API_KEY, baseUrl: api.url }), APP, PG_ADDON);
    expect(found).toEqual({ url: currentPgUrl(), configVar: "FERRY_SOURCE_DATABASE_URL" });
  });
});

describe("a Heroku source that cannot be read: one line naming the app and add-on, the source side", () => {
  const failing = (env: Record<string, string | undefined>) => runFerry(["--json", "pg", "status"], { ...pgFromHeroku(), ...env });

  test.each([
    ["an add-on not attached to the app", { FERRY_SOURCE_HEROKU_ADDON: "postgresql-other-1" }, 2, /^ferry: cannot read the Postgres source \(Heroku add-on postgresql-other-1 on app famichiki\): Heroku add-on postgresql-other-1 is not attached to app famichiki/],
    ["an app Heroku does not know", { FERRY_SOURCE_HEROKU_APP: "someone-elses" }, 2, /^ferry: cannot read the Postgres source \(Heroku add-on postgresql-shaped-12345 on app someone-elses\): Heroku API 404/],
    ["a wrong key", { HEROKU_API_KEY: "not-the-key" }, 2, /^ferry: cannot read the Postgres source \(Heroku add-on postgresql-shaped-12345 on app famichiki\): Heroku API 401/],
    ["no key", { HEROKU_API_KEY: undefined }, 2, /^ferry: cannot read the Postgres source \(Heroku add-on postgresql-shaped-12345 on app famichiki\): missing HEROKU_API_KEY/],
    ["the app without the add-on", { FERRY_SOURCE_HEROKU_ADDON: undefined }, 2, /^ferry: the Postgres source on Heroku needs FERRY_SOURCE_HEROKU_APP and FERRY_SOURCE_HEROKU_ADDON; only FERRY_SOURCE_HEROKU_APP is set$/m],
  ])("%s", async (_name, env, code, message) => {
    const r = await failing(env);
    expect(r.code).toBe(code);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(JSON.parse(r.stdout)).toMatchObject({ side: "source", exitCode: code });
    expectNoSecrets(r);
  });

  test("an attachment var that is not a URL is named, its value never printed", async () => {
    await api.rotateCredentials(APP, PG_ADDON, async () => "not a url owner-pw-mangled");
    const r = await failing({});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ferry: cannot read the Postgres source \(Heroku add-on postgresql-shaped-12345 on app famichiki\): its (DATABASE|HEROKU_POSTGRESQL_ORANGE)_URL is not a URL\n$/);
    expect(r.stdout + r.stderr).not.toContain("owner-pw-mangled");
  });
});
