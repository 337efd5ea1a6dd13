// The Postgres and Redis stores `ferry init` finds in Heroku apps: one per add-on,
// reached through every attachment of it on the apps being moved (its own app's
// DATABASE_URL and HEROKU_POSTGRESQL_ORANGE_URL, another app's DATABASE_URL when the
// add-on is shared). Add-on attachments are Heroku's link between an app and an add-on:
// https://devcenter.heroku.com/articles/platform-api-reference#add-on-attachment
import type { HerokuAppInventory } from "./inventory";

export type StoreKind = "postgres" | "redis";

export interface FoundStore {
  kind: StoreKind;
  /** The store's name in the named form (unique among the stack's stores of its kind). */
  name: string;
  addon: string;
  /** The add-on's plan, when its owner is one of the apps read (its listing holds it). */
  plan?: string;
  /** The app ferry reads the add-on through and the variable it is attached as there. */
  app: string;
  configVar: string;
  /** Every other attachment of the add-on on the apps read. */
  attachments: Array<{ app: string; configVar: string }>;
}

const DEFAULT_VAR: Record<StoreKind, string> = { postgres: "DATABASE_URL", redis: "REDIS_URL" };

export function kindOfService(service: string | null): StoreKind | undefined {
  if (service === "heroku-postgresql") return "postgres";
  if (service && (service === "heroku-redis" || /redis/.test(service))) return "redis";
  return undefined;
}

interface Reach {
  app: string;
  configVar: string;
  owner: string;
}

/**
 * Each app's attachments; an inventory written before init read them stands in with the
 * add-ons the app owns, each under its first config var (what init drafted then).
 */
function attachmentsOf(app: HerokuAppInventory): NonNullable<HerokuAppInventory["attachments"]> {
  if (app.attachments) return app.attachments;
  return app.addons.map((a) => ({ name: (a.configVars[0] ?? "").replace(/_URL$/, ""), configVar: a.configVars[0] ?? DEFAULT_VAR[kindOfService(a.service) ?? "postgres"], addon: a.name, addonApp: app.name, service: a.service }));
}

/** The add-ons of one kind in the order first attached, with every (app, variable) reaching each. */
function reachByAddon(apps: HerokuAppInventory[], kind: StoreKind): Map<string, Reach[]> {
  const byAddon = new Map<string, Reach[]>();
  for (const app of apps) {
    for (const a of attachmentsOf(app).filter((x) => kindOfService(x.service) === kind)) {
      byAddon.set(a.addon, [...(byAddon.get(a.addon) ?? []), { app: app.name, configVar: a.configVar, owner: a.addonApp }]);
    }
  }
  return byAddon;
}

/** Read through its owner when the owner moves, by the kind's usual variable when it has it. */
function primaryOf(reach: Reach[], kind: StoreKind): Reach {
  const rank = (r: Reach) => (r.app === r.owner ? 0 : 2) + (r.configVar === DEFAULT_VAR[kind] ? 0 : 1);
  return [...reach].sort((a, b) => rank(a) - rank(b))[0];
}

/** DATABASE_URL -> database, LEGACY_DATABASE_URL -> legacy-database, HEROKU_POSTGRESQL_ORANGE_URL -> orange. */
function nameFrom(configVar: string, taken: Set<string>): string {
  const base = configVar.replace(/_URL$/, "").replace(/^HEROKU_(POSTGRESQL|REDIS)_/, "").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^[^a-z]+|-+$/g, "").slice(0, 26) || "store";
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

function planOf(apps: HerokuAppInventory[], addon: string): string | undefined {
  return apps.flatMap((a) => a.addons).find((a) => a.name === addon)?.plan;
}

/** Every Postgres or Redis add-on the apps reach, as stores. */
export function storesFound(apps: HerokuAppInventory[], kind: StoreKind): FoundStore[] {
  const taken = new Set<string>();
  return [...reachByAddon(apps, kind)].map(([addon, reach]) => {
    const primary = primaryOf(reach, kind);
    const attachments = reach.filter((r) => r !== primary).map(({ app, configVar }) => ({ app, configVar }));
    return { kind, name: nameFrom(primary.configVar, taken), addon, plan: planOf(apps, addon), app: primary.app, configVar: primary.configVar, attachments };
  });
}
