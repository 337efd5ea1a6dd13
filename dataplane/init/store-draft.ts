// The stores part of a Heroku draft: ferry:source.postgres / .redis, their targets, the
// secrets to set and what is left to decide. One store of a kind is written in the
// unnamed form, as every stack before named stores (config/stores/); several in the named
// form, one entry per add-on, each with the apps and variables that reach it.
import type { DatabaseSize, Found, HerokuAppInventory } from "./inventory";
import { FoundStore, StoreKind, storesFound } from "./stores";
import { herokuStrategyFor, HerokuPostgresStrategy, rdsClassForPlan, storageGbFor, strategyLine } from "./sizing";

/** Without a size read from the database: a stand-in the decide list asks the user to check. */
const UNREAD_STORAGE_GB = 50;

const SECRET_KEY: Record<StoreKind, { one: string; many: string }> = {
  postgres: { one: "sourceDatabaseUrl", many: "sourceDatabaseUrls" },
  redis: { one: "sourceRedisUrl", many: "sourceRedisUrls" },
};

export interface StoresDraft {
  source: Record<string, unknown>;
  target: Record<string, unknown>;
  decide: string[];
  secrets: string[];
}

/** The key a store's setting is under: `ferry:source.postgres.strategy`, or `ferry:source.postgres.legacy.strategy` when named. */
const keyOf = (side: "source" | "target", kind: StoreKind, stores: FoundStore[], store: FoundStore, field: string) =>
  `ferry:${side}.${kind}${stores.length > 1 ? `.${store.name}` : ""}.${field}`;

/** One store's entry; `attachments` only when the add-on reaches the apps by more than its one variable. */
function sourceEntry(store: FoundStore, extra: Record<string, unknown>): Record<string, unknown> {
  const { app, addon, configVar, attachments } = store;
  return { app, addon, configVar, ...extra, ...(attachments.length ? { attachments } : {}) };
}

/** The unnamed form for one store, the named form for several, nothing for none. */
function byForm(kind: StoreKind, stores: FoundStore[], entry: (s: FoundStore, i: number) => Record<string, unknown>): Record<string, unknown> {
  if (stores.length === 0) return {};
  if (stores.length === 1) return { [kind]: entry(stores[0], 0) };
  return { [kind]: Object.fromEntries(stores.map((s, i) => [s.name, entry(s, i)])) };
}

/** The database read for its size is the first store's (heroku.ts readHerokuDatabaseSize); the others' are unread. */
function sizeOf(index: number, size: Found<DatabaseSize> | undefined): Found<DatabaseSize> | undefined {
  return index === 0 ? size : { found: false, reason: "not read" };
}

function postgresDecide(stores: FoundStore[], size: Found<DatabaseSize> | undefined, strategies: HerokuPostgresStrategy[]): string[] {
  return stores.flatMap((store, i) => {
    const sized = sizeOf(i, size);
    const storage = keyOf("target", "postgres", stores, store, "storageGb");
    return [
      ...(sized?.found ? [] : [stores.length > 1 ? `${storage}: ferry init read no size for ${store.addon} (heroku pg:info shows it)` : `${storage}: ferry init could not read the database's size (heroku pg:info shows it)`]),
      strategyLine(sized, strategies[i], keyOf("source", "postgres", stores, store, "strategy")),
    ];
  });
}

/** What a stack with several stores of a kind still needs, said where the user reads first. */
function severalLines(kind: StoreKind, stores: FoundStore[]): string[] {
  if (stores.length <= 1) return [];
  const names = stores.map((s) => `${s.name} (${s.addon})`).join(", ");
  return [`ferry:source.${kind}: ${stores.length} stores found: ${names}; this version of ferry moves one ${kind} store per stack and \`pulumi up\` refuses this file until several move in one cutover: keep one, or keep this file as the inventory of what must move`];
}

/**
 * The secret lines: a store's URL is read from its app (`heroku config:get`) and piped in,
 * so no URL is an argument of any process; several stores of a kind share one JSON secret.
 */
function secretLines(kind: StoreKind, stores: FoundStore[]): string[] {
  if (stores.length === 0) return [];
  const keys = SECRET_KEY[kind];
  if (stores.length === 1) return [`pulumi config set --secret ferry:${keys.one} "$(heroku config:get ${stores[0].configVar} -a ${stores[0].app})"`];
  const format = `{${stores.map((s) => `"${s.name}": "%s"`).join(", ")}}`;
  const values = stores.map((s) => `"$(heroku config:get ${s.configVar} -a ${s.app})"`).join(" ");
  return [`printf '${format}' ${values} | pulumi config set --secret ferry:${keys.many}`];
}

/** Every Postgres and Redis add-on the apps reach, drafted into the stack's keys. */
export function herokuStores(apps: HerokuAppInventory[], size: Found<DatabaseSize> | undefined): StoresDraft {
  const postgres = storesFound(apps, "postgres");
  const redis = storesFound(apps, "redis");
  const strategies = postgres.map((_, i) => herokuStrategyFor(sizeOf(i, size)));
  // Sidekiq keeps its queues in the Redis its apps reach by REDIS_URL (the first store otherwise).
  const sidekiq = apps.some((a) => Object.values(a.processTypes).some((c) => /sidekiq/.test(c)));
  const sidekiqStore = redis.find((r) => r.configVar === "REDIS_URL") ?? redis[0];
  const storageOf = (i: number) => {
    const sized = sizeOf(i, size);
    return sized?.found ? storageGbFor(sized.value.databaseBytes) : UNREAD_STORAGE_GB;
  };
  return {
    source: {
      ...byForm("postgres", postgres, (s, i) => sourceEntry(s, { strategy: strategies[i] })),
      ...byForm("redis", redis, (s) => sourceEntry(s, { sidekiq: sidekiq && s === sidekiqStore })),
    },
    target: {
      postgres: postgres.length > 1
        ? Object.fromEntries(postgres.map((s, i) => [s.name, { version: "16", instanceClass: rdsClassForPlan(s.plan), storageGb: storageOf(i) }]))
        : { version: "16", instanceClass: rdsClassForPlan(postgres[0]?.plan), storageGb: storageOf(0) },
      redis: redis.length > 1
        ? Object.fromEntries(redis.map((s) => [s.name, { kind: "elasticache", nodeType: "cache.t4g.small" }]))
        : { kind: "elasticache", nodeType: "cache.t4g.small" },
    },
    decide: [...severalLines("postgres", postgres), ...severalLines("redis", redis), ...postgresDecide(postgres, size, strategies)],
    secrets: [...secretLines("postgres", postgres), ...secretLines("redis", redis)],
  };
}

/** The app's attachments, listed when one is shared or an add-on is attached more than once. */
export function attachmentLines(app: HerokuAppInventory): string[] {
  const attachments = app.attachments ?? [];
  const shared = attachments.some((a) => a.addonApp !== app.name);
  const repeated = new Set(attachments.map((a) => a.addon)).size < attachments.length;
  if (!shared && !repeated) return [];
  return [`  attachments: ${attachments.map((a) => `${a.configVar} -> ${a.addon}${a.addonApp === app.name ? "" : ` (shared by ${a.addonApp})`}`).join(", ")}`];
}
