// The two ways a stack declares its data stores (issue 27), told apart before the main
// schema runs:
// - one store of a kind, unnamed, as every stack did so far:
//     ferry:source.postgres: {app, addon, strategy}     ferry:target.postgres: {instanceClass, ...}
// - named stores, any number of each kind, one map entry per store:
//     ferry:source.postgres: {main: {app, addon, strategy, attachments}, legacy: {...}}
//     ferry:target.postgres: {main: {instanceClass, ...}, legacy: {instance: main, database: legacy}}
// Named entries are validated here, each error naming its store; the rest of the program
// still reads one store per kind (the "view": the first named entry in the unnamed shape),
// and buildFerry refuses a stack with several until the cutover moves each (stores.ts).
import { z } from "zod";
import { FerryConfigError, describeIssues, keyName } from "../errors";
import { herokuSourceSchema, targetSchema, vultrSourceSchema } from "../schema";

export const STORE_KINDS = ["postgres", "redis"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

const STORE_NAME = /^[a-z][a-z0-9-]{0,29}$/;
const storeNameLine = "a store name is lowercase letters, digits and -, at most 30 characters, e.g. main or legacy";
const configVar = (fallback: string) =>
  z.string({ error: `expected an environment variable name, e.g. ${fallback}` }).regex(/^[A-Z_][A-Z0-9_]*$/, { error: `expected an environment variable name, e.g. ${fallback}` }).default(fallback);

// A Heroku store's named entry is the unnamed one (its attachments included).
const herokuPostgres = herokuSourceSchema.shape.postgres.unwrap();
const herokuRedis = herokuSourceSchema.shape.redis.unwrap();
/** On a box the store's variable is the one the app's env file names it by. */
const boxPostgres = vultrSourceSchema.shape.postgres.unwrap().extend({ configVar: configVar("DATABASE_URL") });
const boxRedis = vultrSourceSchema.shape.redis.unwrap().extend({ configVar: configVar("REDIS_URL") });

const ownInstance = targetSchema.shape.postgres;
/** A database inside another store's RDS instance. */
const sharedDatabase = z.strictObject({
  instance: z.string({ error: "expected the name of the store whose RDS instance holds this database" }).regex(STORE_NAME, { error: storeNameLine }),
  database: targetSchema.shape.postgres.shape.database.unwrap(),
});
const redisTarget = targetSchema.shape.redis;

export type HerokuPostgresEntry = z.infer<typeof herokuPostgres>;
export type HerokuRedisEntry = z.infer<typeof herokuRedis>;
export type BoxPostgresEntry = z.infer<typeof boxPostgres>;
export type BoxRedisEntry = z.infer<typeof boxRedis>;
export type OwnInstanceEntry = z.infer<typeof ownInstance>;
export type SharedDatabaseEntry = z.infer<typeof sharedDatabase>;
export type RedisTargetEntry = z.infer<typeof redisTarget>;

export type SourceEntry = HerokuPostgresEntry | HerokuRedisEntry | BoxPostgresEntry | BoxRedisEntry;
export type TargetEntry = OwnInstanceEntry | SharedDatabaseEntry | RedisTargetEntry;

/** The named entries of one kind, in the order the stack lists them. */
export type Named<T> = Array<{ name: string; key: string; entry: T }>;

export interface NamedStores {
  source: Partial<Record<StoreKind, Named<SourceEntry>>>;
  target: Partial<Record<StoreKind, Named<TargetEntry>>>;
}

export interface StoreForms {
  /** ferry:source and ferry:target with each named map replaced by its view (the unnamed shape). */
  source: unknown;
  target: unknown;
  named: NamedStores;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A map of store name -> store: every value an object (an unnamed store's values are strings, numbers, booleans). */
export function isNamedForm(value: unknown): value is Record<string, Record<string, unknown>> {
  return isPlainObject(value) && Object.keys(value).length > 0 && Object.values(value).every(isPlainObject);
}

function parseEntry<T extends z.ZodType>(schema: T, value: unknown, key: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new FerryConfigError(describeIssues((p) => keyName(key, p), result.error.issues));
  return result.data;
}

function parseNamed<T>(root: string, map: Record<string, unknown>, schemaOf: (entry: Record<string, unknown>) => z.ZodType<T>): Named<T> {
  return Object.entries(map).map(([name, value]) => {
    const key = `${root}.${name}`;
    if (!STORE_NAME.test(name)) throw new FerryConfigError(`${key}: ${storeNameLine}`);
    return { name, key, entry: parseEntry(schemaOf(value as Record<string, unknown>), value, key) };
  });
}

function sourceSchemaOf(kind: unknown, store: StoreKind): z.ZodType<SourceEntry> | undefined {
  if (kind === "heroku") return store === "postgres" ? herokuPostgres : herokuRedis;
  if (kind === "vultr") return store === "postgres" ? boxPostgres : boxRedis;
  return undefined;
}

const targetSchemaOf = (store: StoreKind) => (entry: Record<string, unknown>): z.ZodType<TargetEntry> =>
  store === "redis" ? redisTarget : "instance" in entry ? sharedDatabase : ownInstance;

/** The unnamed shape the rest of the program reads: a box's entry without its variable, which only the named form has. */
function sourceView(kind: unknown, entry: SourceEntry): Record<string, unknown> {
  if (kind === "heroku") return entry;
  const { configVar: _configVar, ...rest } = entry as BoxPostgresEntry;
  return rest;
}

function splitSource(source: unknown, named: NamedStores): unknown {
  if (!isPlainObject(source)) return source;
  const view: Record<string, unknown> = { ...source };
  for (const store of STORE_KINDS) {
    const schema = sourceSchemaOf(source.kind, store);
    const value = source[store];
    if (!schema || !isNamedForm(value)) continue;
    const entries = parseNamed(`ferry:source.${store}`, value, () => schema);
    named.source[store] = entries;
    view[store] = sourceView(source.kind, entries[0].entry);
  }
  return view;
}

function splitTarget(target: unknown, named: NamedStores): unknown {
  if (!isPlainObject(target)) return target;
  const view: Record<string, unknown> = { ...target };
  for (const store of STORE_KINDS) {
    const value = target[store];
    if (!isNamedForm(value)) continue;
    const entries = parseNamed(`ferry:target.${store}`, value, targetSchemaOf(store));
    named.target[store] = entries;
    // The view is an instance of its own: the first that is not a database inside another.
    const first = entries.find((e) => !("instance" in e.entry));
    if (!first) throw new FerryConfigError(`ferry:target.${store}: every store is a database inside another store's instance; give one its own instance ({instanceClass, storageGb, ...})`);
    view[store] = first.entry;
  }
  return view;
}

/** Validate the named entries (one line naming the store on the first bad one) and give the view to parse as before. */
export function splitStoreForms(source: unknown, target: unknown): StoreForms {
  const named: NamedStores = { source: {}, target: {} };
  return { source: splitSource(source, named), target: splitTarget(target, named), named };
}
