// Named stores (config/stores/): several Postgres databases and Redis instances in one
// stack, each with its strategy, the apps and variables that reach it, and where it lands.
// Pure: parseConfig on raw config as Pulumi hands it over, no Pulumi runtime.
import { describe, expect, it } from "vitest";
import { parseConfig, storeUrl } from "../../config";
import { stackConfig } from "../program/stacks";
import { CACHE_URL, LEGACY_URL, MAIN_URL, named, patch, Raw, without } from "./named-stacks";

const source = (change: (s: any) => void) => () => patch(named(), "ferry:source", change);
const target = (change: (t: any) => void) => () => patch(named(), "ferry:target", change);

describe("the unnamed form parses to one store of each kind, named as today", () => {
  it("staging (heroku): store postgres and store redis, keyed ferry:source.postgres / .redis", () => {
    const config = parseConfig(stackConfig("staging"));
    expect(config.stores.named).toEqual({ postgres: false, redis: false });
    expect(config.stores.postgres).toEqual([{
      kind: "postgres", name: "postgres", key: "ferry:source.postgres", targetKey: "ferry:target.postgres", strategy: "capture",
      heroku: { app: "masto-web", addon: "postgresql-curved-12345" }, reachedBy: [{ app: "masto-web", configVar: "DATABASE_URL" }],
      target: { instance: "postgres", database: "app" },
    }]);
    expect(config.stores.redis).toEqual([{
      kind: "redis", name: "redis", key: "ferry:source.redis", targetKey: "ferry:target.redis", sidekiq: true,
      heroku: { app: "masto-web", addon: "redis-rigid-67890" }, reachedBy: [{ app: "masto-web", configVar: "REDIS_URL" }],
      target: config.target.redis,
    }]);
    expect(config.stores.postgresInstances).toEqual([{ name: "postgres", key: "ferry:target.postgres", spec: config.target.postgres }]);
  });

  it("prod (a box): the stores its services list, reached by the env file's variables", () => {
    const config = parseConfig(stackConfig("prod"));
    expect(config.stores.postgres.map((s) => [s.name, s.strategy, s.reachedBy, s.heroku])).toEqual([["postgres", "logical", [{ configVar: "DATABASE_URL" }], undefined]]);
    expect(config.stores.redis.map((s) => [s.name, s.sidekiq, s.target.kind])).toEqual([["redis", true, "ec2"]]);
    const noRedis = parseConfig(patch(stackConfig("prod"), "ferry:source", (s) => (s.services = ["postgres", "nginx", "app"])));
    expect(noRedis.stores.redis).toEqual([]);
  });

  it("the rest of the config is what it was: the named-store keys add nothing to an unnamed stack", () => {
    const config = parseConfig(stackConfig("staging"));
    expect(config.source).toMatchObject({ postgres: { app: "masto-web", addon: "postgresql-curved-12345", configVar: "DATABASE_URL", strategy: "capture" } });
    expect(config.secrets.sourceDatabaseUrls).toBeUndefined();
    expect(storeUrl("postgres", "postgres", config.stores, config.secrets)).toBe(config.secrets.sourceDatabaseUrl);
  });
});

describe("the named form", () => {
  it("lists every store with its strategy, the apps and variables that reach it, and where it lands", () => {
    const config = parseConfig(named());
    expect(config.stores.named).toEqual({ postgres: true, redis: true });
    expect(config.stores.postgres.map((s) => ({ name: s.name, key: s.key, strategy: s.strategy, reachedBy: s.reachedBy, target: s.target, targetKey: s.targetKey }))).toEqual([
      {
        name: "main", key: "ferry:source.postgres.main", strategy: "capture", targetKey: "ferry:target.postgres.main",
        reachedBy: [{ app: "masto-web", configVar: "DATABASE_URL" }, { app: "masto-streaming", configVar: "DATABASE_URL" }, { app: "masto-web", configVar: "HEROKU_POSTGRESQL_ORANGE_URL" }],
        target: { instance: "main", database: "app" },
      },
      {
        name: "legacy", key: "ferry:source.postgres.legacy", strategy: "dump", targetKey: "ferry:target.postgres.legacy",
        reachedBy: [{ app: "masto-web", configVar: "LEGACY_DATABASE_URL" }],
        target: { instance: "main", database: "legacy" },
      },
    ]);
    expect(config.stores.postgresInstances.map((i) => [i.name, i.spec.instanceClass])).toEqual([["main", "db.t4g.medium"]]);
    expect(config.stores.redis.map((s) => [s.name, s.sidekiq, s.heroku?.addon, s.target.kind])).toEqual([["cache", true, "redis-rigid-67890", "elasticache"]]);
  });

  it("each store's URL comes from its kind's secret map; the one-store keys hold the first store's", () => {
    const config = parseConfig(named());
    expect(storeUrl("postgres", "legacy", config.stores, config.secrets)).toBe(LEGACY_URL);
    expect(storeUrl("redis", "cache", config.stores, config.secrets)).toBe(CACHE_URL);
    expect(config.secrets.sourceDatabaseUrl).toBe(MAIN_URL);
    expect(config.source).toMatchObject({ postgres: { app: "masto-web", addon: "postgresql-curved-12345", strategy: "capture" } });
  });

  it("a store with its own instance each", () => {
    const config = parseConfig(target((t) => (t.postgres.legacy = { instanceClass: "db.t4g.small", storageGb: 20, database: "legacy" }))());
    expect(config.stores.postgresInstances.map((i) => i.name)).toEqual(["main", "legacy"]);
    expect(config.stores.postgres.map((s) => s.target)).toEqual([{ instance: "main", database: "app" }, { instance: "legacy", database: "legacy" }]);
  });

  it("one named store of a kind beside an unnamed one of the other", () => {
    const raw = patch(patch(named(), "ferry:source", (s) => (s.redis = s.redis.cache)), "ferry:target", (t) => (t.redis = t.redis.cache));
    const config = parseConfig({ ...without(raw, "ferry:sourceRedisUrls"), "ferry:sourceRedisUrl": CACHE_URL });
    expect(config.stores.named).toEqual({ postgres: true, redis: false });
    expect(config.stores.redis.map((s) => s.name)).toEqual(["redis"]);
  });

  it("a box names its databases too, each reached by its own variable in the env file", () => {
    const raw = patch(patch(stackConfig("prod"), "ferry:source", (s) => (s.postgres = { main: { strategy: "logical" }, stats: { strategy: "dump", configVar: "STATS_DATABASE_URL" } })),
      "ferry:target", (t) => (t.postgres = { main: t.postgres, stats: { instance: "main", database: "stats" } }));
    const config = parseConfig({ ...without(raw, "ferry:sourceDatabaseUrl"), "ferry:sourceDatabaseUrls": JSON.stringify({ main: MAIN_URL, stats: LEGACY_URL }) });
    expect(config.stores.postgres.map((s) => [s.name, s.strategy, s.reachedBy])).toEqual([["main", "logical", [{ configVar: "DATABASE_URL" }]], ["stats", "dump", [{ configVar: "STATS_DATABASE_URL" }]]]);
  });
});


// Each refusal: the stack, and its one line, which names the store.
const REFUSED: [string, () => Raw, RegExp][] = [
  ["a store name that is not one", source((s) => (s.postgres.Legacy_DB = s.postgres.legacy)), /^ferry:source\.postgres\.Legacy_DB: a store name is lowercase letters, digits and -/],
  ["a named store's bad strategy", source((s) => (s.postgres.legacy.strategy = "logical")), /^ferry:source\.postgres\.legacy\.strategy: Heroku Postgres grants no REPLICATION role/],
  ["a named store's unknown key", source((s) => (s.postgres.legacy.replicas = 2)), /^ferry:source\.postgres\.legacy\.replicas: unknown key$/],
  ["an attachment without its variable", source((s) => (s.postgres.main.attachments = [{ app: "masto-streaming" }])), /^ferry:source\.postgres\.main\.attachments\[0\]\.configVar: expected an environment variable name/],
  ["a named target's bad field", target((t) => (t.postgres.legacy.database = "Legacy-DB")), /^ferry:target\.postgres\.legacy\.database: expected a database name/],
  ["a shared database's unknown key", target((t) => (t.postgres.legacy.storageGb = 20)), /^ferry:target\.postgres\.legacy\.storageGb: unknown key$/],
  ["a named Redis target of no kind", target((t) => (t.redis.cache = { nodeType: "cache.t4g.small" })), /^ferry:target\.redis\.cache\.kind: expected kind: elasticache or kind: ec2$/],
  ["every database inside another's instance", target((t) => (t.postgres = { main: { instance: "legacy", database: "app" }, legacy: { instance: "main", database: "legacy" } })), /^ferry:target\.postgres: every store is a database inside another store's instance/],
  ["named sources, an unnamed target", target((t) => (t.postgres = t.postgres.main)), /^ferry:target\.postgres: name each store as ferry:source\.postgres does \(main, legacy\)/],
  ["an unnamed source, named targets", () => without(patch(named(), "ferry:source", (s) => (s.postgres = { ...s.postgres.main, attachments: undefined })), "ferry:sourceDatabaseUrls"), /^ferry:target\.postgres: names its stores \(main, legacy\) but ferry:source\.postgres declares one unnamed store; name them in both$/],
  ["a named Redis target without a Redis source", () => without(patch(named(), "ferry:source", (s) => delete s.redis), "ferry:sourceRedisUrls"), /^ferry:target\.redis: names stores \(cache\) but the source has no redis$/],
  ["a target for no store", target((t) => (t.postgres.old = { instance: "main", database: "old" })), /^ferry:target\.postgres\.old: no store old in ferry:source\.postgres \(main, legacy\)$/],
  ["a store without its target", target((t) => delete t.postgres.legacy), /^ferry:target\.postgres\.legacy: required: ferry:source\.postgres\.legacy is declared/],
  ["a database inside a store that has no instance of its own", target((t) => (t.postgres.legacy.instance = "legacy")), /^ferry:target\.postgres\.legacy\.instance: "legacy" is not a store with its own instance in ferry:target\.postgres \(main\)$/],
  ["two stores, one database", target((t) => (t.postgres.legacy.database = "app")), /^ferry:target\.postgres\.legacy\.database: "app" is already store main's database in instance main; name another$/],
  ["a store's add-on on an app not moved", source((s) => (s.postgres.legacy.app = "masto-admin")), /^ferry:source\.postgres\.legacy\.app: "masto-admin" is not one of ferry:source\.apps \(masto-web, masto-streaming\)$/],
  ["an attachment on an app not moved", source((s) => (s.postgres.main.attachments[0].app = "masto-admin")), /^ferry:source\.postgres\.main\.attachments\[0\]\.app: "masto-admin" is not one of ferry:source\.apps/],
  ["one add-on as two stores", source((s) => (s.postgres.legacy.addon = "postgresql-curved-12345")), /^ferry:source\.postgres\.legacy\.addon: postgresql-curved-12345 is also ferry:source\.postgres\.main's add-on; one add-on is one store/],
  ["one variable reaching two stores", source((s) => (s.postgres.legacy.configVar = "HEROKU_POSTGRESQL_ORANGE_URL")), /^ferry:source\.postgres\.legacy\.configVar: masto-web's HEROKU_POSTGRESQL_ORANGE_URL already reaches ferry:source\.postgres\.main; a variable holds one store's URL$/],
  ["one store listing a variable twice", source((s) => s.postgres.main.attachments.push({ app: "masto-streaming", configVar: "DATABASE_URL" })), /^ferry:source\.postgres\.main\.attachments\[2\]: masto-streaming's DATABASE_URL already reaches ferry:source\.postgres\.main/],
  ["a Redis variable claimed by a Postgres store", source((s) => (s.redis.cache.configVar = "LEGACY_DATABASE_URL")), /^ferry:source\.redis\.cache\.configVar: masto-web's LEGACY_DATABASE_URL already reaches ferry:source\.postgres\.legacy/],
  ["a named ElastiCache store with a way in over the internet", () => patch(patch(named(), "ferry:source", (s) => (s.access = { kind: "published" })), "ferry:target", (t) => (t.redis.cache = { kind: "elasticache", nodeType: "cache.t4g.small" })), /^ferry:target\.redis\.cache\.kind: ferry:source\.access \(published\) gives the stores internet addresses, and ElastiCache has none/],
  ["a box's named store of a kind it does not run", () => patch(patch(stackConfig("prod"), "ferry:source", (s) => { s.services = ["postgres", "nginx", "app"]; s.redis = { cache: { sidekiq: true } }; }), "ferry:target", (t) => (t.redis = { cache: t.redis })), /^ferry:source\.redis\.cache: the box runs no redis \(ferry:source\.services: postgres, nginx, app\)$/],
  ["a box's named store moved physically", () => patch(patch(without(stackConfig("prod"), "ferry:sourceDatabaseUrl"), "ferry:source", (s) => (s.postgres = { main: { strategy: "logical" }, stats: { strategy: "physical", configVar: "STATS_DATABASE_URL" } })), "ferry:target", (t) => (t.postgres = { main: t.postgres, stats: { instance: "main", database: "stats" } })), /^ferry:source\.postgres\.stats\.strategy: physical needs a self-run PostgreSQL target/],
  ["the one-store URL beside named stores", () => ({ ...named(), "ferry:sourceDatabaseUrl": MAIN_URL }), /^ferry:sourceDatabaseUrl: ferry:source\.postgres names its stores \(main, legacy\); set each one's URL in ferry:sourceDatabaseUrls instead$/],
  ["a named stores' URL map on an unnamed stack", () => ({ ...stackConfig("staging"), "ferry:sourceRedisUrls": JSON.stringify({ redis: CACHE_URL }) }), /^ferry:sourceRedisUrls: only for named stores; ferry:source\.redis declares one unnamed store, whose URL is ferry:sourceRedisUrl$/],
  ["a named store without its URL", () => ({ ...named(), "ferry:sourceDatabaseUrls": JSON.stringify({ main: MAIN_URL }) }), /^ferry:sourceDatabaseUrls\.legacy: required because ferry:source\.postgres\.legacy is declared; set every store's URL as one secret/],
  ["a URL for no store", () => ({ ...named(), "ferry:sourceDatabaseUrls": JSON.stringify({ main: MAIN_URL, legacy: LEGACY_URL, old: LEGACY_URL }) }), /^ferry:sourceDatabaseUrls\.old: no store old in ferry:source\.postgres \(main, legacy\)$/],
  ["a URL of the wrong scheme", () => ({ ...named(), "ferry:sourceDatabaseUrls": JSON.stringify({ main: MAIN_URL, legacy: CACHE_URL }) }), /^ferry:sourceDatabaseUrls\.legacy: expected a postgres or postgresql URL$/],
  ["a URL map that is not JSON", () => ({ ...named(), "ferry:sourceRedisUrls": CACHE_URL }), /^ferry:sourceRedisUrls: expected a JSON object of store name -> redis or rediss URL$/],
];

describe("each refusal is one line naming the store, and never a secret", () => {
  it.each(REFUSED)("%s", (_what, raw, message) => {
    let error: Error | undefined;
    try {
      parseConfig(raw());
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe("FerryConfigError");
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain("\n");
    for (const url of [MAIN_URL, LEGACY_URL, CACHE_URL]) expect(error?.message).not.toContain(new URL(url).password);
  });
});
