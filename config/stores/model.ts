// Every data store of a stack as one list per kind, whichever form declared it
// (forms.ts): an unnamed store is the store named after its kind ("postgres", "redis"),
// keyed as today (`ferry:source.postgres`), so a stack written before named stores
// parses to one store each. Pure: the plan, the policies and tests read it without Pulumi.
import { FerryConfigError } from "../errors";
import type { SourceConfig, TargetConfig } from "../schema";
import type { PostgresStrategy } from "../strategy";
import type {
  BoxPostgresEntry, BoxRedisEntry, HerokuPostgresEntry, HerokuRedisEntry, Named, NamedStores, OwnInstanceEntry,
  RedisTargetEntry, SharedDatabaseEntry, SourceEntry, StoreKind, TargetEntry,
} from "./forms";

/** An app that reaches a store, and the variable it reads the store's URL from (a box's app: no app name). */
export interface StoreReach {
  app?: string;
  configVar: string;
}

interface StoreBase {
  name: string;
  /** The store's source key, named in its errors: `ferry:source.postgres` or `ferry:source.postgres.legacy`. */
  key: string;
  /** Its target key: `ferry:target.postgres` or `ferry:target.postgres.legacy`. */
  targetKey: string;
  /** A Heroku store: the app the add-on belongs to, and the add-on. */
  heroku?: { app: string; addon: string };
  /** Every app and variable that reaches it, the owner's first. */
  reachedBy: StoreReach[];
}

export interface PostgresStore extends StoreBase {
  kind: "postgres";
  strategy: PostgresStrategy;
  /** The RDS instance (named after the store that owns it) and the database in it. */
  target: { instance: string; database: string };
}

export interface RedisStore extends StoreBase {
  kind: "redis";
  sidekiq: boolean;
  target: RedisTargetEntry;
}

/** An RDS instance: its own store's, possibly holding other stores' databases. */
export interface PostgresInstance {
  name: string;
  key: string;
  spec: OwnInstanceEntry;
}

export interface StoreSet {
  /** Whether the stack names its stores of each kind (the named form) or declares one unnamed. */
  named: Record<StoreKind, boolean>;
  postgres: PostgresStore[];
  redis: RedisStore[];
  postgresInstances: PostgresInstance[];
}

function fail(message: string): never {
  throw new FerryConfigError(message);
}

const listed = (names: string[]) => names.join(", ") || "none";

// ---- the unnamed form -----------------------------------------------------------

/** The add-on's app and variable, then its other attachments. */
function herokuReach(entry: HerokuPostgresEntry | HerokuRedisEntry): StoreReach[] {
  return [{ app: entry.app, configVar: entry.configVar }, ...(entry.attachments ?? [])];
}

function unnamedPostgres(source: SourceConfig, target: TargetConfig): PostgresStore[] {
  const base = { name: "postgres", key: "ferry:source.postgres", targetKey: "ferry:target.postgres", kind: "postgres" as const, target: { instance: "postgres", database: target.postgres.database } };
  if (source.kind === "heroku") {
    const pg = source.postgres;
    return pg ? [{ ...base, strategy: pg.strategy, heroku: { app: pg.app, addon: pg.addon }, reachedBy: herokuReach(pg) }] : [];
  }
  if (!source.services.includes("postgres")) return [];
  const configVar = source.access?.postgresVar ?? "DATABASE_URL";
  return [{ ...base, strategy: source.postgres.strategy, reachedBy: [{ configVar }] }];
}

function unnamedRedis(source: SourceConfig, target: TargetConfig): RedisStore[] {
  const base = { name: "redis", key: "ferry:source.redis", targetKey: "ferry:target.redis", kind: "redis" as const, target: target.redis };
  if (source.kind === "heroku") {
    const redis = source.redis;
    return redis ? [{ ...base, sidekiq: redis.sidekiq, heroku: { app: redis.app, addon: redis.addon }, reachedBy: herokuReach(redis) }] : [];
  }
  if (!source.services.includes("redis")) return [];
  return [{ ...base, sidekiq: source.redis.sidekiq, reachedBy: [{ configVar: source.access?.redisVar ?? "REDIS_URL" }] }];
}

// ---- the named form ---------------------------------------------------------------

/** Source and target must both name the stores of a kind, the same ones. */
function pairNamed(kind: StoreKind, source: Named<SourceEntry> | undefined, target: Named<TargetEntry> | undefined, sourceHasKind: boolean): Array<{ source: Named<SourceEntry>[number]; target: Named<TargetEntry>[number] }> {
  if (!source && !target) return [];
  if (!target) return fail(`ferry:target.${kind}: name each store as ferry:source.${kind} does (${listed(source!.map((s) => s.name))}), e.g. {${source![0].name}: {...}}`);
  if (!source) {
    return fail(sourceHasKind
      ? `ferry:target.${kind}: names its stores (${listed(target.map((t) => t.name))}) but ferry:source.${kind} declares one unnamed store; name them in both`
      : `ferry:target.${kind}: names stores (${listed(target.map((t) => t.name))}) but the source has no ${kind}`);
  }
  for (const t of target) {
    if (!source.some((s) => s.name === t.name)) fail(`${t.key}: no store ${t.name} in ferry:source.${kind} (${listed(source.map((s) => s.name))})`);
  }
  return source.map((s) => {
    const t = target.find((x) => x.name === s.name);
    if (!t) return fail(`ferry:target.${kind}.${s.name}: required: ${s.key} is declared; give it ${kind === "postgres" ? "its own instance ({instanceClass, storageGb, ...}) or a database inside another's ({instance: NAME, database: NAME})" : "its own Redis ({kind: elasticache, nodeType} or {kind: ec2, ...})"}`);
    return { source: s, target: t };
  });
}

function reachOf(source: SourceConfig, entry: SourceEntry): StoreReach[] {
  if (source.kind !== "heroku") return [{ configVar: (entry as BoxPostgresEntry | BoxRedisEntry).configVar }];
  return herokuReach(entry as HerokuPostgresEntry | HerokuRedisEntry);
}

function herokuOf(source: SourceConfig, entry: SourceEntry): StoreBase["heroku"] {
  if (source.kind !== "heroku") return undefined;
  const { app, addon } = entry as HerokuPostgresEntry;
  return { app, addon };
}

function namedBase(source: SourceConfig, s: Named<SourceEntry>[number], t: Named<TargetEntry>[number]) {
  return { name: s.name, key: s.key, targetKey: t.key, heroku: herokuOf(source, s.entry), reachedBy: reachOf(source, s.entry) };
}

/** The instances that are their own, and each store's place: its own instance, or a database inside another's. */
function namedInstances(target: Named<TargetEntry>): PostgresInstance[] {
  return target.filter((t) => !("instance" in t.entry)).map((t) => ({ name: t.name, key: t.key, spec: t.entry as OwnInstanceEntry }));
}

function placeOf(t: Named<TargetEntry>[number], instances: PostgresInstance[]): PostgresStore["target"] {
  if (!("instance" in t.entry)) return { instance: t.name, database: (t.entry as OwnInstanceEntry).database };
  const shared = t.entry as SharedDatabaseEntry;
  if (!instances.some((i) => i.name === shared.instance)) {
    fail(`${t.key}.instance: "${shared.instance}" is not a store with its own instance in ferry:target.postgres (${listed(instances.map((i) => i.name))})`);
  }
  return { instance: shared.instance, database: shared.database };
}

/** Two stores in one instance need two databases. */
function checkDatabasesDistinct(stores: PostgresStore[]): void {
  stores.forEach((store, i) => {
    const earlier = stores.slice(0, i).find((o) => o.target.instance === store.target.instance && o.target.database === store.target.database);
    if (earlier) fail(`${store.targetKey}.database: "${store.target.database}" is already store ${earlier.name}'s database in instance ${store.target.instance}; name another`);
  });
}

function sourceHas(source: SourceConfig, kind: StoreKind): boolean {
  return source.kind === "heroku" ? source[kind] !== undefined : source.services.includes(kind);
}

function namedPostgres(source: SourceConfig, named: NamedStores): { stores: PostgresStore[]; instances: PostgresInstance[] } {
  const pairs = pairNamed("postgres", named.source.postgres, named.target.postgres, sourceHas(source, "postgres"));
  const instances = named.target.postgres ? namedInstances(named.target.postgres) : [];
  const stores = pairs.map(({ source: s, target: t }): PostgresStore => ({
    ...namedBase(source, s, t), kind: "postgres", strategy: (s.entry as HerokuPostgresEntry | BoxPostgresEntry).strategy, target: placeOf(t, instances),
  }));
  checkDatabasesDistinct(stores);
  return { stores, instances };
}

function namedRedis(source: SourceConfig, named: NamedStores): RedisStore[] {
  return pairNamed("redis", named.source.redis, named.target.redis, sourceHas(source, "redis")).map(({ source: s, target: t }): RedisStore => ({
    ...namedBase(source, s, t), kind: "redis", sidekiq: (s.entry as HerokuRedisEntry | BoxRedisEntry).sidekiq, target: t.entry as RedisTargetEntry,
  }));
}

/** A box runs the stores its services list: a named store of a kind it does not run is a mistake. */
function checkBoxServices(source: SourceConfig, named: NamedStores): void {
  if (source.kind !== "vultr") return;
  for (const kind of ["postgres", "redis"] as const) {
    const first = named.source[kind]?.[0];
    if (first && !source.services.includes(kind)) fail(`${first.key}: the box runs no ${kind} (ferry:source.services: ${source.services.join(", ")})`);
  }
}

/** The stack's stores, from the parsed view and the named entries (forms.ts). */
export function storeSetOf(source: SourceConfig, target: TargetConfig, named: NamedStores): StoreSet {
  checkBoxServices(source, named);
  const namedKinds = { postgres: !!(named.source.postgres || named.target.postgres), redis: !!(named.source.redis || named.target.redis) };
  const postgres = namedKinds.postgres ? namedPostgres(source, named) : { stores: unnamedPostgres(source, target), instances: [{ name: "postgres", key: "ferry:target.postgres", spec: target.postgres }] };
  const redis = namedKinds.redis ? namedRedis(source, named) : unnamedRedis(source, target);
  return { named: namedKinds, postgres: postgres.stores, redis, postgresInstances: postgres.instances };
}

/** Every store, Postgres first. */
export function allStores(stores: StoreSet): Array<PostgresStore | RedisStore> {
  return [...stores.postgres, ...stores.redis];
}
