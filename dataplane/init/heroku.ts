// Read Heroku apps through the Platform API for `ferry init`: formation (quantities and
// sizes), the current release's process types, add-ons with their prices, domains,
// config var names and log drains. Values of config vars are never kept; a log drain
// is kept by host only (its URL may carry a token).
import { HerokuApiError, HerokuClient } from "../heroku/client";
import type { Addon, DynoSize, Formation, Release } from "../heroku/types";
import { readDatabaseSize } from "./database-size";
import type { DatabaseSize, Found, HerokuAppInventory } from "./inventory";
import { storesFound } from "./stores";

/** An app the key cannot read, or any API failure: one line naming the app. */
export class InitReadError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = "InitReadError";
  }
}

/** Statuses that mean the app or the key is wrong (bad input), not that Heroku failed. */
const INPUT_STATUSES = new Set([401, 403, 404]);

/** Heroku spells sizes in either case ("Standard-1X", "standard-1X"). */
const sameSize = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function monthlyCents(size: string, sizes: DynoSize[]): number | null {
  const found = sizes.find((s) => sameSize(s.name, size));
  if (!found?.cost) return null;
  // The API reports a dyno's cost per month ("monthly"); anything else is left unpriced rather than guessed.
  return /^month/.test(found.cost.unit) ? found.cost.cents : null;
}

/** The process types of the current release's slug ("the first with a slug is current"). */
async function processTypes(client: HerokuClient, app: string, formation: Formation[]): Promise<Pick<HerokuAppInventory, "processTypes" | "processTypesFrom">> {
  const release = await currentReleaseOrNone(client, app);
  if (release?.slug) {
    const slug = await client.getSlug(app, release.slug.id);
    return { processTypes: slug.process_types, processTypesFrom: "slug" };
  }
  // Apps built into images ("Fir") have no slug: the formation lists each type's command.
  return { processTypes: Object.fromEntries(formation.map((f) => [f.type, f.command])), processTypesFrom: "formation" };
}

/** The current release, or none when the app has no release with a slug (a Fir app, or nothing deployed). */
async function currentReleaseOrNone(client: HerokuClient, app: string): Promise<Release | undefined> {
  try {
    return await client.currentRelease(app);
  } catch (e) {
    if (e instanceof HerokuApiError && e.errorId === "no_slug_release") return undefined;
    throw e;
  }
}

/** The add-on's monthly price: what it bills, else its plan's list price. */
async function addonCents(client: HerokuClient, addon: Addon): Promise<number | null> {
  const billed = addon.billed_price;
  if (billed && /^month/.test(billed.unit)) return billed.cents;
  try {
    const plan = await client.getAddonPlan(addon.addon_service.name, addon.plan.name);
    return /^month/.test(plan.price.unit) ? plan.price.cents : null;
  } catch (e) {
    if (e instanceof HerokuApiError && e.status === 404) return null;
    throw e;
  }
}

function drainHost(url: string): string {
  try {
    return new URL(url).host || "(unparsed drain)";
  } catch {
    return "(unparsed drain)";
  }
}

const by = <T>(key: (t: T) => string) => (a: T, b: T) => key(a).localeCompare(key(b));

async function readApp(client: HerokuClient, name: string, sizes: DynoSize[]): Promise<HerokuAppInventory> {
  const app = await client.getApp(name);
  // Lists come in id order (random): sort them, so the same app always drafts the same file.
  const formation = (await client.listFormation(name)).sort(by((f) => f.type));
  // The app's listing holds add-ons other apps share with it too, billed to their owner.
  const listed = (await client.listAddons(name)).sort(by((a) => a.name));
  const addons = listed.filter((a) => a.app.name === name);
  const attachments = (await client.listAttachments(name)).sort(by((a) => a.name));
  const domains = (await client.listDomains(name)).sort(by((d) => d.hostname));
  // Only the names: the values are secrets and never leave this function.
  const configVarNames = Object.keys(await client.getConfigVars(name)).sort();
  const drains = await client.listLogDrains(name);
  return {
    name: app.name,
    region: app.region?.name ?? null,
    ...(await processTypes(client, name, formation)),
    formation: formation.map((f) => ({ type: f.type, quantity: f.quantity, size: f.size, monthlyCentsEach: monthlyCents(f.size, sizes) })),
    addons: await Promise.all(addons.map(async (a) => ({
      name: a.name, service: a.addon_service.name, plan: a.plan.name, configVars: a.config_vars, monthlyCents: await addonCents(client, a),
    }))),
    attachments: attachments.map((a) => ({
      name: a.name, configVar: `${a.name}_URL`, addon: a.addon.name, addonApp: a.addon.app.name, service: listed.find((l) => l.name === a.addon.name)?.addon_service.name ?? null,
    })),
    domains: domains.map((d) => ({ hostname: d.hostname, kind: d.kind, cname: d.cname })),
    configVarNames,
    logDrains: drains.map((d) => drainHost(d.url)),
  };
}

/** Every app, in order; the first one that cannot be read stops the run with one line naming it. */
export async function readHerokuApps(client: HerokuClient, apps: string[]): Promise<HerokuAppInventory[]> {
  const sizes = await client.listDynoSizes().catch((e: unknown) => {
    throw asReadError(e, "dyno sizes");
  });
  const read: HerokuAppInventory[] = [];
  for (const name of apps) {
    try {
      read.push(await readApp(client, name, sizes));
    } catch (e) {
      throw asReadError(e, `app ${name}`);
    }
  }
  return read;
}

/**
 * The moved database's size, from the database: its URL is read from the app's config
 * vars for this one connection. A database init cannot reach (a Private Space, a
 * firewall) is recorded as unread with the reason: the stack is still drafted, and the
 * plan says the estimate lacks a size.
 */
export async function readHerokuDatabaseSize(client: HerokuClient, apps: HerokuAppInventory[]): Promise<Found<DatabaseSize> | undefined> {
  // The first store found (stores.ts): the one a stack of one Postgres store moves.
  const [pg] = storesFound(apps, "postgres");
  if (!pg) return undefined;
  const { configVar } = pg;
  let url: string | undefined;
  try {
    url = (await client.getConfigVars(pg.app))[configVar];
  } catch (e) {
    throw asReadError(e, `app ${pg.app}'s config vars`);
  }
  if (!url) return { found: false, reason: `${pg.app} has no ${configVar}` };
  try {
    return { found: true, value: { app: pg.app, addon: pg.addon, ...(await readDatabaseSize(url)) } };
  } catch (e) {
    return { found: false, reason: `${pg.addon} (${configVar} of ${pg.app}): ${(e as Error).message.split("\n")[0]}` };
  }
}

function asReadError(e: unknown, what: string): Error {
  if (!(e instanceof HerokuApiError)) return e as Error;
  return new InitReadError(`cannot read ${what}: ${e.message}`, INPUT_STATUSES.has(e.status) ? 2 : 1);
}
