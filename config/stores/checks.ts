// Checks that span a stack's stores, each error naming the store's key: the apps and
// variables that reach each store, one add-on per store, where each lands on AWS. They
// run before config/references.ts, which checks the one-store view the program reads, so
// a named store's mistake is reported under its own name.
import { FerryConfigError } from "../errors";
import type { SourceConfig } from "../schema";
import { storesOnInternet } from "../access";
import { allStores, PostgresStore, RedisStore, StoreSet } from "./model";

function fail(message: string): never {
  throw new FerryConfigError(message);
}

/** The apps a store names (its add-on's and its attachments') are apps this stack moves. */
function checkStoreApps(source: SourceConfig, stores: StoreSet): void {
  if (source.kind !== "heroku") return;
  const apps = source.apps.map((a) => a.name);
  const listing = `ferry:source.apps (${apps.join(", ")})`;
  for (const store of allStores(stores)) {
    if (store.heroku && !apps.includes(store.heroku.app)) fail(`${store.key}.app: "${store.heroku.app}" is not one of ${listing}`);
    store.reachedBy.slice(1).forEach((reach, i) => {
      if (reach.app && !apps.includes(reach.app)) fail(`${store.key}.attachments[${i}].app: "${reach.app}" is not one of ${listing}`);
    });
  }
}

/** One add-on is one store: its other attachments are listed under it, not as a second store. */
function checkAddonsDistinct(stores: StoreSet): void {
  const seen = new Map<string, string>();
  for (const store of allStores(stores)) {
    if (!store.heroku) continue;
    const other = seen.get(store.heroku.addon);
    if (other) fail(`${store.key}.addon: ${store.heroku.addon} is also ${other}'s add-on; one add-on is one store (list its other apps and variables under ${other}.attachments)`);
    seen.set(store.heroku.addon, store.key);
  }
}

/** An app's variable holds one URL: two stores (or one store twice) cannot claim it. */
function checkReachDistinct(stores: StoreSet): void {
  const seen = new Map<string, string>();
  for (const store of allStores(stores)) {
    store.reachedBy.forEach((reach, i) => {
      const id = `${reach.app ?? "the box's app"}'s ${reach.configVar}`;
      const where = i === 0 ? `${store.key}.configVar` : `${store.key}.attachments[${i - 1}]`;
      const other = seen.get(id);
      if (other) fail(`${where}: ${id} already reaches ${other}; a variable holds one store's URL`);
      seen.set(id, store.key);
    });
  }
}

/** Physical replication needs a self-run PostgreSQL target; RDS cannot be a physical standby. */
function checkBoxStrategies(source: SourceConfig, stores: PostgresStore[]): void {
  if (source.kind !== "vultr") return;
  const physical = stores.find((s) => s.strategy === "physical");
  if (physical) fail(`${physical.key}.strategy: physical needs a self-run PostgreSQL target and ferry targets RDS, which cannot be a physical standby; use logical`);
}

/**
 * ElastiCache has no public endpoint ("All current generation nodes are launched in Amazon
 * Virtual Private Cloud only"; https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/VPCs.html):
 * with a way in over the internet, each moving Redis must be on EC2.
 */
function checkRedisReachable(source: SourceConfig, stores: RedisStore[]): void {
  if (!source.access || !storesOnInternet(source)) return;
  const unreachable = stores.find((s) => s.target.kind === "elasticache");
  if (unreachable) fail(`${unreachable.targetKey}.kind: ferry:source.access (${source.access.kind}) gives the stores internet addresses, and ElastiCache has none; use kind: ec2 for this store`);
}

/** Every check on the stores, named or not; throws one line naming the store's key. */
export function checkStores(source: SourceConfig, stores: StoreSet): void {
  checkStoreApps(source, stores);
  checkAddonsDistinct(stores);
  checkReachDistinct(stores);
  if (stores.named.postgres) checkBoxStrategies(source, stores.postgres);
  if (stores.named.redis) checkRedisReachable(source, stores.redis);
}
