// `ferry init` finds every Postgres and Redis add-on of every app, against the local Heroku
// API stand-in: an add-on attached twice to one app (HEROKU_POSTGRESQL_ORANGE_URL beside
// DATABASE_URL), an add-on shared between apps (attached to an app that does not own it),
// several databases, written down in the inventory and, in the named form, in the stack
// file. The stand-in itself shares add-ons as Heroku's add-on attachment API documents.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeAppSeed, FakeHerokuApi, startHerokuApi } from "../../../rehearsal/servers";
import { readStackConfig } from "../../../policy/stack-file";
import { HerokuClient } from "../../../dataplane/heroku/client";
import { runFerry } from "../traffic/run-ferry";

const KEY = "heroku-stores-key-0123456789";
const MAIN_PW = "main-pw-SECRET-0021";
const LEGACY_PW = "legacy-pw-SECRET-0022";
const REDIS_PW = "redis-pw-SECRET-0023";

/** Story 003's shape: an API app owning two databases and a Redis, a worker app sharing them, a front end. */
function storyApps(): FakeAppSeed[] {
  return [
    {
      name: "story-api",
      formation: [{ type: "web", quantity: 2, size: "standard-2X", command: "bundle exec puma" }],
      addons: [
        { name: "postgresql-main-11111", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", configVars: { DATABASE_URL: `postgres://u:${MAIN_PW}@main.invalid:5432/d` }, alsoAttachedAs: ["HEROKU_POSTGRESQL_ORANGE"] },
        { name: "postgresql-legacy-22222", service: "heroku-postgresql", plan: "heroku-postgresql:essential-0", configVars: { LEGACY_DATABASE_URL: `postgres://u:${LEGACY_PW}@legacy.invalid:5432/d` } },
        { name: "redis-shared-33333", service: "heroku-redis", plan: "heroku-redis:premium-0", configVars: { REDIS_URL: `rediss://:${REDIS_PW}@redis.invalid:6380` } },
      ],
      domains: [{ hostname: "api.story.example.com" }],
      inventory: { addonPriceCents: { "postgresql-main-11111": 5000, "postgresql-legacy-22222": 500, "redis-shared-33333": 1500 } },
    },
    {
      name: "story-worker",
      formation: [{ type: "worker", quantity: 1, size: "standard-1X", command: "bundle exec sidekiq" }],
      attachedFrom: [{ app: "story-api", addon: "postgresql-main-11111", as: "DATABASE" }, { app: "story-api", addon: "redis-shared-33333", as: "REDIS" }],
    },
    { name: "story-front", formation: [{ type: "web", quantity: 1, size: "standard-1X", command: "node server.js" }], domains: [{ hostname: "www.story.example.com" }] },
  ];
}

let api: FakeHerokuApi;
const env = () => ({ HEROKU_API_KEY: KEY, HEROKU_API_URL: api.url });
const dir = () => mkdtempSync(join(tmpdir(), "ferry-init-stores-"));

beforeAll(async () => {
  api = await startHerokuApi({ apiKey: KEY, pageSize: 2, apps: storyApps() });
});

afterAll(async () => {
  await api?.stop();
});

describe("the Heroku API stand-in shares add-ons as the Platform API documents", () => {
  it("an add-on attached to another app: listed there billed to its owner, its URL under the attachment's name", async () => {
    const client = new HerokuClient({ apiKey: KEY, baseUrl: api.url });
    const listed = await client.listAddons("story-worker");
    expect(listed.map((a) => [a.name, a.app.name]).sort()).toEqual([["postgresql-main-11111", "story-api"], ["redis-shared-33333", "story-api"]]);
    const attachments = await client.listAttachments("story-worker");
    expect(attachments.map((a) => [a.name, a.addon.name, a.addon.app.name, a.app.name]).sort()).toEqual([
      ["DATABASE", "postgresql-main-11111", "story-api", "story-worker"], ["REDIS", "redis-shared-33333", "story-api", "story-worker"],
    ]);
    expect((await client.getConfigVars("story-worker")).DATABASE_URL).toBe((await client.getConfigVars("story-api")).DATABASE_URL);
  });

  it("POST /addon-attachments attaches another app's add-on by its global name; DELETE detaches it; the owner's stays", async () => {
    const shared = await startHerokuApi({ apiKey: KEY, apps: storyApps() });
    try {
      const client = new HerokuClient({ apiKey: KEY, baseUrl: shared.url });
      const made = await client.createAttachment("story-front", "postgresql-legacy-22222", "LEGACY_DATABASE");
      expect([made.app.name, made.addon.app.name]).toEqual(["story-front", "story-api"]);
      expect((await client.getConfigVars("story-front")).LEGACY_DATABASE_URL).toContain(LEGACY_PW);
      // The attaching app may not overwrite the attachment's var (422), as on its owner.
      await expect(client.updateConfigVars("story-front", { LEGACY_DATABASE_URL: "postgres://x@y/z" })).rejects.toThrow(/422/);
      await client.deleteAttachment(made.id);
      expect((await client.getConfigVars("story-front")).LEGACY_DATABASE_URL).toBeUndefined();
      expect((await client.getConfigVars("story-api")).LEGACY_DATABASE_URL).toContain(LEGACY_PW);
      // A rotation reaches every app the add-on is attached to; destroying it detaches it everywhere.
      await shared.rotateCredentials("story-api", "postgresql-main-11111", async (url) => url.replace(MAIN_PW, "rotated-pw-0024"));
      expect((await client.getConfigVars("story-worker")).DATABASE_URL).toContain("rotated-pw-0024");
      await client.destroyAddon("story-api", "postgresql-main-11111");
      expect((await client.listAttachments("story-worker")).map((a) => a.name)).toEqual(["REDIS"]);
      expect((await client.getConfigVars("story-worker")).DATABASE_URL).toBeUndefined();
    } finally {
      await shared.stop();
    }
  });
});

describe("ferry init --heroku-app finds every store", () => {
  it("writes each add-on once, with every app and variable that reaches it, in the named form when there are several", async () => {
    const project = dir();
    const run = await runFerry(["init", "--heroku-app", "story-api", "--heroku-app", "story-worker", "--heroku-app", "story-front", "--stack", "story", "--dir", project], env());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const stackFile = join(project, "Pulumi.story.yaml");
    const text = readFileSync(stackFile, "utf8");
    const inventoryText = readFileSync(join(project, "ferry-inventory.story.json"), "utf8");

    // The inventory: each app's attachments; a shared add-on is listed (and priced) under its owner only.
    const inventory = JSON.parse(inventoryText);
    const worker = inventory.apps.find((a: { name: string }) => a.name === "story-worker");
    expect(worker.addons).toEqual([]);
    expect(worker.attachments).toEqual([
      { name: "DATABASE", configVar: "DATABASE_URL", addon: "postgresql-main-11111", addonApp: "story-api", service: "heroku-postgresql" },
      { name: "REDIS", configVar: "REDIS_URL", addon: "redis-shared-33333", addonApp: "story-api", service: "heroku-redis" },
    ]);
    expect(inventory.apps[0].attachments.map((a: { configVar: string }) => a.configVar)).toEqual(["DATABASE_URL", "HEROKU_POSTGRESQL_ORANGE_URL", "LEGACY_DATABASE_URL", "REDIS_URL"]);

    // The stack file: two named Postgres stores, one Redis in the unnamed form, each with its reach.
    const config = readStackConfig(stackFile);
    expect(config.source).toMatchObject({
      postgres: {
        app: "story-api", addon: "postgresql-main-11111", configVar: "DATABASE_URL",
        attachments: [{ app: "story-api", configVar: "HEROKU_POSTGRESQL_ORANGE_URL" }, { app: "story-worker", configVar: "DATABASE_URL" }],
      },
      redis: { app: "story-api", addon: "redis-shared-33333", configVar: "REDIS_URL", sidekiq: true, attachments: [{ app: "story-worker", configVar: "REDIS_URL" }] },
    });
    expect(config.stores.named).toEqual({ postgres: true, redis: false });
    expect(config.stores.postgres.map((s) => [s.key, s.heroku?.addon, s.strategy, s.reachedBy.map((r) => `${r.app}:${r.configVar}`), s.target.instance])).toEqual([
      ["ferry:source.postgres.database", "postgresql-main-11111", "dump", ["story-api:DATABASE_URL", "story-api:HEROKU_POSTGRESQL_ORANGE_URL", "story-worker:DATABASE_URL"], "database"],
      ["ferry:source.postgres.legacy-database", "postgresql-legacy-22222", "dump", ["story-api:LEGACY_DATABASE_URL"], "legacy-database"],
    ]);
    expect(config.stores.postgresInstances.map((i) => [i.name, i.spec.instanceClass])).toEqual([["database", "db.t4g.medium"], ["legacy-database", "db.t4g.micro"]]);

    // What was read, what is left to decide, and the secrets: each store's URL piped from its app, no value anywhere.
    expect(text).toMatch(/^# +attachments: DATABASE_URL -> postgresql-main-11111 \(shared by story-api\), REDIS_URL -> redis-shared-33333 \(shared by story-api\)$/m);
    expect(text).toMatch(/^# +ferry:source\.postgres: 2 stores found: database \(postgresql-main-11111\), legacy-database \(postgresql-legacy-22222\); this version of ferry moves one postgres store per stack and `pulumi up` refuses this file/m);
    expect(text).toMatch(/^# +ferry:target\.postgres\.legacy-database\.storageGb: ferry init read no size for postgresql-legacy-22222/m);
    expect(text).toMatch(/^# +ferry:source\.postgres\.legacy-database\.strategy: dump drafted, as the size was not read/m);
    expect(run.stdout).toContain(`printf '{"database": "%s", "legacy-database": "%s"}' "$(heroku config:get DATABASE_URL -a story-api)" "$(heroku config:get LEGACY_DATABASE_URL -a story-api)" | pulumi config set --secret ferry:sourceDatabaseUrls`);
    expect(run.stdout).toContain(`pulumi config set --secret ferry:sourceRedisUrl "$(heroku config:get REDIS_URL -a story-api)"`);
    for (const secret of [MAIN_PW, LEGACY_PW, REDIS_PW, KEY]) {
      expect(text).not.toContain(secret);
      expect(inventoryText).not.toContain(secret);
      expect(run.stdout).not.toContain(secret);
    }
  }, 120_000);

  it("one add-on attached twice to one app is one store in the unnamed form, its second variable an attachment", async () => {
    const project = dir();
    const run = await runFerry(["init", "--heroku-app", "story-api", "--stack", "alias", "--dir", project], {
      ...env(), HEROKU_API_URL: (await aliasOnly()).url,
    });
    expect(run.stderr).toBe("");
    const config = readStackConfig(join(project, "Pulumi.alias.yaml"));
    expect(config.stores.named).toEqual({ postgres: false, redis: false });
    expect(config.source).toMatchObject({ postgres: { addon: "postgresql-main-11111", configVar: "DATABASE_URL", attachments: [{ app: "story-api", configVar: "HEROKU_POSTGRESQL_ORANGE_URL" }] } });
    expect(existsSync(join(project, "ferry-inventory.alias.json"))).toBe(true);
  }, 120_000);
});

let alias: FakeHerokuApi | undefined;
/** The API app alone, with its main database only (attached as DATABASE and HEROKU_POSTGRESQL_ORANGE). */
async function aliasOnly(): Promise<FakeHerokuApi> {
  const [apiApp] = storyApps();
  apiApp.addons = apiApp.addons!.filter((a) => a.name === "postgresql-main-11111");
  alias ??= await startHerokuApi({ apiKey: KEY, apps: [apiApp] });
  return alias;
}

afterAll(async () => {
  await alias?.stop();
});
