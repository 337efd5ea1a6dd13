// The Heroku apps being moved off, read at provision and never changed here. There is
// no Heroku provider for Pulumi, so each configured app is read by two read-only steps
// (`ferry --json heroku addons|domains --app A`, HEROKU_API_KEY in `environment` only)
// whose output becomes the typed inventory. The inventory is checked against
// ferry:source: a configured add-on or hostname that Heroku does not list fails the
// update, naming the key, before a stage acts on a name Heroku does not know.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSourceConfig } from "../../config";
import type { Runner } from "../runner";
import * as contract from "../../dataplane/cli/contract";
import { shellJoin } from "../shell";

type HerokuApp = HerokuSourceConfig["apps"][number];
export type HerokuStore = "postgres" | "redis";

/** One add-on as `ferry --json heroku addons` prints it. */
export interface HerokuAddon {
  name: string;
  service: string;
  plan: string;
  state: string;
  /** Names of the config vars the add-on owns on the app (never their values). */
  configVars: string[];
}

/** One domain as `ferry --json heroku domains` prints it. */
export interface HerokuDomain {
  hostname: string;
  kind: "heroku" | "custom";
  /** The DNS target Heroku gives a custom domain (null for the herokuapp.com domain). */
  cname: string | null;
  status: string;
}

export interface HerokuAppInventory {
  app: string;
  addons: HerokuAddon[];
  domains: HerokuDomain[];
}

/** The add-on decommission releases for a store: the configured name, on its configured app. */
export interface ReleasedAddon {
  store: HerokuStore;
  app: string;
  addon: string;
}

// ---- pure: command lines, parsing, the check --------------------------------------

/** The read-only command lines (names only: the key travels in HEROKU_API_KEY). */
export const herokuReads = {
  addons: (app: string) => shellJoin(contract.heroku.addons(app).argv),
  domains: (app: string) => shellJoin(contract.heroku.domains(app).argv),
};

function listing(stdout: string, app: string, what: "addons" | "domains"): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`\`ferry heroku ${what} --app ${app}\` did not print JSON: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const body = parsed as { app?: unknown; [k: string]: unknown };
  if (!body || typeof body !== "object" || !Array.isArray(body[what])) {
    throw new Error(`\`ferry heroku ${what} --app ${app}\` printed no "${what}" list`);
  }
  if (body.app !== app) throw new Error(`\`ferry heroku ${what} --app ${app}\` answered for app ${JSON.stringify(body.app)}`);
  return body[what] as unknown[];
}

const isString = (v: unknown): v is string => typeof v === "string";

export function parseAddons(stdout: string, app: string): HerokuAddon[] {
  return listing(stdout, app, "addons").map((raw, i) => {
    const a = raw as Partial<HerokuAddon>;
    if (!isString(a.name) || !isString(a.service) || !isString(a.plan) || !isString(a.state) || !Array.isArray(a.configVars) || !a.configVars.every(isString)) {
      throw new Error(`\`ferry heroku addons --app ${app}\`: entry ${i} lacks name, service, plan, state or configVars`);
    }
    return { name: a.name, service: a.service, plan: a.plan, state: a.state, configVars: [...a.configVars] };
  });
}

export function parseDomains(stdout: string, app: string): HerokuDomain[] {
  return listing(stdout, app, "domains").map((raw, i) => {
    const d = raw as Partial<HerokuDomain>;
    if (!isString(d.hostname) || (d.kind !== "heroku" && d.kind !== "custom") || !(d.cname === null || isString(d.cname)) || !isString(d.status)) {
      throw new Error(`\`ferry heroku domains --app ${app}\`: entry ${i} lacks hostname, kind (heroku|custom), cname or status`);
    }
    return { hostname: d.hostname, kind: d.kind, cname: d.cname, status: d.status };
  });
}

export interface InventoryCheck {
  /** Each fails the update: the key, the configured name, and what Heroku lists instead. */
  errors: string[];
  /** Worth a reviewer's attention, but not wrong in itself. */
  warnings: string[];
}

const listed = (names: string[]) => (names.length ? names.join(", ") : "nothing");

/**
 * Compare ferry:source with what Heroku lists for each app: every configured hostname
 * must be one of its app's domains, every configured add-on must be on its app and not
 * deprovisioned. A configured config var owned by another add-on than the configured one
 * is a warning (the cutover would move that add-on's attachment).
 */
export function checkInventory(source: HerokuSourceConfig, inventory: HerokuAppInventory[]): InventoryCheck {
  const errors: string[] = [];
  const warnings: string[] = [];
  const byApp = new Map(inventory.map((i) => [i.app, i]));
  source.apps.forEach((app, i) => {
    const inv = byApp.get(app.name);
    if (!inv) {
      errors.push(`ferry:source.apps[${i}].name: Heroku app ${app.name} was not read`);
      return;
    }
    const domains = inv.domains.map((d) => d.hostname);
    app.hostnames.forEach((host, j) => {
      if (!domains.includes(host)) {
        errors.push(`ferry:source.apps[${i}].hostnames[${j}]: "${host}" is not a domain of Heroku app ${app.name} (Heroku lists: ${listed(domains)}); add it with \`heroku domains:add\` or fix the name`);
      }
    });
  });
  for (const store of ["postgres", "redis"] as const) {
    const spec = source[store];
    if (!spec) continue;
    const inv = byApp.get(spec.app);
    if (!inv) {
      errors.push(`ferry:source.${store}.app: Heroku app ${spec.app} was not read`);
      continue;
    }
    const addon = inv.addons.find((a) => a.name === spec.addon);
    if (!addon) {
      errors.push(`ferry:source.${store}.addon: "${spec.addon}" is not an add-on of Heroku app ${spec.app} (Heroku lists: ${listed(inv.addons.map((a) => a.name))})`);
    } else if (addon.state === "deprovisioned") {
      errors.push(`ferry:source.${store}.addon: "${spec.addon}" on Heroku app ${spec.app} is deprovisioned`);
    }
    // The cutover moves the attachment that owns the var (`ferry heroku repoint`); owned by
    // another add-on than the one being moved, configVar is probably the wrong var.
    const owner = inv.addons.find((a) => a.configVars.includes(spec.configVar));
    if (owner && owner.name !== spec.addon) {
      warnings.push(`ferry:source.${store}.configVar: ${spec.configVar} on ${spec.app} belongs to add-on ${owner.name}, not ${spec.addon}; the cutover re-attaches ${owner.name} as FERRY_SOURCE_* to repoint it`);
    }
  }
  return { errors, warnings };
}

/** The inventory, or an error listing every mismatch (what the update fails with). */
export function assertInventory(source: HerokuSourceConfig, inventory: HerokuAppInventory[]): InventoryCheck {
  const result = checkInventory(source, inventory);
  if (result.errors.length > 0) {
    throw new Error(`the Heroku source does not match ferry:source:\n  ${result.errors.join("\n  ")}`);
  }
  return result;
}

/**
 * Where Cloudflare reaches an app on Heroku: the configured `origin`, else the
 * herokuapp.com domain Heroku lists for it (newer apps carry a random suffix), else
 * `<name>.herokuapp.com`.
 */
export function herokuOrigin(app: HerokuApp, inventory: HerokuAppInventory | undefined): string {
  if (app.origin) return app.origin;
  return inventory?.domains.find((d) => d.kind === "heroku")?.hostname ?? `${app.name}.herokuapp.com`;
}

// ---- the component ----------------------------------------------------------------

export interface HerokuSourceArgs {
  source: HerokuSourceConfig;
  /** Where the reads run (the same runner as every step: ferry is on its PATH). */
  runner: Runner;
  herokuApiKey: pulumi.Input<string>;
}

function stdoutOf(resource: pulumi.CustomResource): pulumi.Output<string | undefined> {
  if (resource instanceof command.local.Command || resource instanceof command.remote.Command) return resource.stdout;
  throw new Error("a Heroku read must be a command (local or remote)");
}

export class HerokuSource extends pulumi.ComponentResource {
  /** The read steps per app: `addons` and `domains`. */
  readonly reads: Record<string, { addons: pulumi.CustomResource; domains: pulumi.CustomResource }> = {};
  /**
   * What Heroku lists for each configured app, once checked against ferry:source; fails
   * the update on a mismatch. Before the reads have run (a first preview) it is unknown.
   */
  readonly inventory: pulumi.Output<HerokuAppInventory[]>;
  /** The add-ons decommission releases: the configured names, which the check finds on Heroku. */
  readonly releasedAddons: ReleasedAddon[];

  constructor(name: string, args: HerokuSourceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:source:HerokuSource", name, {}, opts);
    const source = args.source;
    const environment = { [contract.ENV.herokuApiKey]: pulumi.secret(args.herokuApiKey) };
    const perApp = source.apps.map((app) => {
      const read = (what: "addons" | "domains") =>
        args.runner.run(`${name}-${app.name}-${what}`, { create: herokuReads[what](app.name), environment, triggers: [app.name] }, { parent: this });
      const reads = { addons: read("addons"), domains: read("domains") };
      this.reads[app.name] = reads;
      return pulumi.all([stdoutOf(reads.addons), stdoutOf(reads.domains)]).apply(([addons, domains]): HerokuAppInventory | undefined =>
        // A Command's stdout is a string once it has run; without one there is nothing to check yet.
        addons === undefined || domains === undefined ? undefined : { app: app.name, addons: parseAddons(addons, app.name), domains: parseDomains(domains, app.name) },
      );
    });
    this.inventory = pulumi.all(perApp).apply((apps) => {
      const read = apps.filter((a): a is HerokuAppInventory => a !== undefined);
      if (read.length < apps.length) return read;
      const { warnings } = assertInventory(source, read);
      for (const w of warnings) pulumi.log.warn(w, this);
      return read;
    });
    this.releasedAddons = (["postgres", "redis"] as const).flatMap((store) => {
      const spec = source[store];
      return spec ? [{ store, app: spec.app, addon: spec.addon }] : [];
    });
    this.registerOutputs({ inventory: this.inventory, releasedAddons: this.releasedAddons });
  }

  /** The configured add-on of a store (what decommission releases). */
  addon(store: HerokuStore): ReleasedAddon | undefined {
    return this.releasedAddons.find((a) => a.store === store);
  }

  /** Where Cloudflare reaches `app` on Heroku, after the inventory check passed. */
  origin(app: HerokuApp): pulumi.Output<string> {
    if (app.origin) return pulumi.output(app.origin);
    return this.inventory.apply((apps) => herokuOrigin(app, apps.find((a) => a.app === app.name)));
  }
}
