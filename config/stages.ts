// Stage rules. Flags are cumulative (replicate -> proxy -> cutover -> decommission);
// `ferry:hold` caps single components so one can move ahead of the others (Postgres
// first while Redis and the app stay on the source). All pure: tests and the stage
// plan tool call these without Pulumi.
import { FerryConfigError } from "./errors";
import { COMPONENTS, Component, FerryConfig, STAGE_FLAGS, STAGES, Stage, StageFlags } from "./schema";
import { ACCESS_KEY } from "./access";
import { componentsOf, postgresStrategy, redisMode } from "./strategy";

/** The stages each component goes through: data stores take no traffic, so they have no proxy stage. */
export const LADDERS: Record<Component, readonly Stage[]> = {
  postgres: ["provision", "replicate", "cutover", "decommission"],
  redis: ["provision", "replicate", "cutover", "decommission"],
  app: ["provision", "proxy", "cutover", "decommission"],
};

const rank = (s: Stage) => STAGES.indexOf(s);

/** The highest stage whose flag is set. */
export function globalStage(flags: StageFlags): Stage {
  return [...STAGE_FLAGS].reverse().find((f) => flags[f]) ?? "provision";
}

/** Where a component stands: the global stage, capped by its hold, on its own ladder. */
export function componentStage(component: Component, flags: StageFlags): Stage {
  const cap = flags.hold[component] ?? "decommission";
  const reached = rank(globalStage(flags)) < rank(cap) ? globalStage(flags) : cap;
  return [...LADDERS[component]].reverse().find((s) => rank(s) <= rank(reached)) ?? "provision";
}

export function atLeast(stage: Stage, wanted: Stage): boolean {
  return rank(stage) >= rank(wanted);
}

function fail(message: string): never {
  throw new FerryConfigError(message);
}

/** Names the furthest flag set, the one the operator just turned on. */
function checkOrder(flags: StageFlags): void {
  [...STAGE_FLAGS].reverse().forEach((flag) => {
    const missing = STAGE_FLAGS.slice(0, STAGE_FLAGS.indexOf(flag)).filter((before) => !flags[before]);
    if (flags[flag] && missing.length > 0) {
      fail(`ferry:${flag}: requires ${missing.map((m) => `ferry:${m}`).join(" and ")} (stages are cumulative: ${STAGE_FLAGS.join(" -> ")})`);
    }
  });
}

function checkHold(config: FerryConfig): void {
  const present = componentsOf(config.source);
  for (const [component, stage] of Object.entries(config.stages.hold) as [Component, Stage][]) {
    if (!(COMPONENTS as readonly string[]).includes(component)) {
      fail(`ferry:hold.${component}: unknown component; allowed: ${COMPONENTS.join(", ")}`);
    }
    if (!present.includes(component)) {
      fail(`ferry:hold.${component}: this ${config.source.kind} source has no ${component}; components here: ${present.join(", ")}`);
    }
    if (!LADDERS[component].includes(stage)) {
      fail(`ferry:hold.${component}: ${component} has no ${stage} stage; allowed: ${LADDERS[component].join(", ")}`);
    }
  }
}

function checkTraffic(config: FerryConfig): void {
  const percent = config.stages.trafficPercent ?? 0;
  if (percent > 0 && !config.stages.proxy) fail("ferry:trafficPercent: only applies once ferry:proxy is true");
  if (config.source.kind === "vultr" && !config.source.weightedSplit && percent !== 0 && percent !== 100) {
    fail("ferry:trafficPercent: this box's old nginx forwards all traffic (0 or 100); for a Cloudflare weighted split first, set weightedSplit: true in ferry:source");
  }
}

/**
 * The app takes over only from a split at 100 %. Below it, the Cloudflare load balancer
 * that shadows the hostnames' records keeps sending its share to the source for the whole
 * cutover (the engine deletes it only after every create and update), that is to a Heroku
 * in maintenance or a box whose units are stopped, and the jump itself would move the rest
 * of the load onto AWS untried. A user raises the share to 100 first and watches it.
 */
function checkSplitDoneBeforeCutover(config: FerryConfig): void {
  if (!componentsOf(config.source).includes("app") || !atLeast(componentStage("app", config.stages), "cutover")) return;
  const splits = config.source.kind === "heroku" || config.source.weightedSplit;
  const percent = config.stages.trafficPercent ?? 0;
  if (!splits || percent === 100) return;
  fail(`ferry:trafficPercent: ${percent} at ferry:cutover; set it to 100 and run \`pulumi up\` before ferry:cutover, so every request reaches AWS before the write window opens (below 100 the load balancer keeps sending ${100 - percent}% to the stopped source)`);
}

/** The app may only take over once every data store it writes to has moved: otherwise it writes into a copy. */
function checkDataBeforeApp(config: FerryConfig): void {
  const appStage = componentStage("app", config.stages);
  if (!atLeast(appStage, "cutover")) return;
  for (const store of componentsOf(config.source).filter((c) => c !== "app")) {
    const stage = componentStage(store, config.stages);
    if (!atLeast(stage, "cutover")) {
      fail(`ferry:hold.${store}: the app cannot be cut over while ${store} is held at ${stage}; the app on AWS would write into a copy`);
    }
  }
}

/**
 * A data store moves while the source app still serves (AWS gets less than every request,
 * or the app never moves: stories 000 and 002) only through a declared way in
 * (ferry:source.access: config/access.ts): RDS and Redis are private to the VPC
 * otherwise. With it, the cutover fences the source app, moves the store, points the
 * app's setting at the target as the app reaches it, and lets the app serve again
 * (migrations/source-app.ts); checkSourceAppRepoint says what that needs.
 */
function checkTrafficBeforeData(config: FerryConfig): void {
  if (!componentsOf(config.source).includes("app") || config.source.access) return;
  const movedStores = componentsOf(config.source).filter((c) => c !== "app" && atLeast(componentStage(c, config.stages), "cutover"));
  if (movedStores.length === 0 || effectiveTraffic(config) === 100) return;
  const ways = config.source.kind === "heroku" ? "kind: static-egress, published or private-space" : "kind: box";
  fail(`${ACCESS_KEY}: required to cut over ${movedStores.join(" and ")} while the source app still serves (AWS gets ${effectiveTraffic(config)}% of requests): declare how it reaches the private target stores (${ways}), or move every request to AWS first (app at proxy with 100% or cut over)`);
}

/** With a way in declared, what pointing the source app at the moved stores takes. */
function checkSourceAppRepoint(config: FerryConfig): void {
  const { source } = config;
  if (!sourceAppStays(config)) return;
  const movedStores = componentsOf(source).filter((c) => c !== "app" && atLeast(componentStage(c, config.stages), "cutover"));
  if (movedStores.length === 0) return;
  const why = `to cut over ${movedStores.join(" and ")} with ${ACCESS_KEY} declared (the source app then serves from the moved stores)`;
  if (movedStores.includes("postgres") && !source.access?.postgresCaFile) {
    fail(`${ACCESS_KEY}.postgresCaFile: required ${why}: commit the RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) with the app and give its absolute path as the app sees it (a dyno's is under /app), so the app verifies RDS (sslmode=verify-full)`);
  }
  // A box's units (restarted on the moved stores) are required wherever it runs the app.
  if (source.kind === "vultr" && !source.access?.envFile) fail(`${ACCESS_KEY}.envFile: required ${why}: the app's env file on the box, whose store URLs the cutover rewrites`);
}

/**
 * Whether the source app keeps serving from the moved stores: the stack declares how it
 * reaches them, so each store's cutover lets the app serve again (on the target) after its
 * fence, until the app's own cutover stops it for good.
 */
export function sourceAppStays(config: FerryConfig): boolean {
  return config.source.access !== undefined && componentsOf(config.source).includes("app");
}

function checkProxyPossible(config: FerryConfig): void {
  const { source } = config;
  if (source.kind !== "vultr" || !componentsOf(source).includes("app")) return;
  if (componentStage("app", config.stages) === "proxy" && !source.services.includes("nginx")) {
    fail("ferry:proxy: the vultr box runs no nginx (ferry:source.services) to forward traffic to AWS; hold the app (ferry:hold.app: provision) or add nginx");
  }
  if (!atLeast(componentStage("app", config.stages), "proxy") || !source.services.includes("nginx")) return;
  // The old box forwards users' requests to the ALB across the internet over TLS it
  // verifies by the hostname (proxy_ssl_name): the ALB always serves a certificate for the
  // hostnames (ACM's, or ferry:target.certificateArn).
  if (!source.nginx) {
    fail("ferry:source.nginx: required for the vultr proxy stage: name the site's nginx file (siteConf), its listen addresses and its certificate, so the proxy replaces the site's server blocks (443 included)");
  }
}

/** Every stage rule; throws FerryConfigError naming the key. Runs before any resource exists. */
export function validateStages(config: FerryConfig): void {
  checkOrder(config.stages);
  checkHold(config);
  checkTraffic(config);
  checkDataBeforeApp(config);
  checkTrafficBeforeData(config);
  checkSourceAppRepoint(config);
  checkSplitDoneBeforeCutover(config);
  checkProxyPossible(config);
}

export interface StagePlan {
  /** The flags set, in order. */
  active: Stage[];
  /** Where each component of this source stands. */
  components: Partial<Record<Component, Stage>>;
  /** Share of traffic the target receives (0 until proxy, 100 from cutover). */
  trafficPercent: number;
  /** What setting the next flag will do, in plain words. */
  nextStep: string;
}

/** Share of requests that reach the target. */
export function effectiveTraffic(config: FerryConfig): number {
  const app = componentStage("app", config.stages);
  if (atLeast(app, "cutover")) return 100;
  if (app !== "proxy") return 0;
  if (config.source.kind === "vultr" && !config.source.weightedSplit) return 100;
  return config.stages.trafficPercent ?? 0;
}

/**
 * How requests reach AWS at the proxy stage. Heroku: a Cloudflare load balancer splits
 * them (a dyno cannot forward). A box: its own nginx forwards everything; with
 * `weightedSplit`, only once ferry:trafficPercent reaches 100, after a Cloudflare load
 * balancer split below it. The forward also catches the stragglers that still reach the
 * box directly (a cached DNS-only answer, a client pinned to the IP).
 */
export function proxyWay(config: FerryConfig): "split" | "forward" {
  if (config.source.kind === "heroku") return "split";
  return effectiveTraffic(config) < 100 ? "split" : "forward";
}

function describeReplication(config: FerryConfig): string {
  const parts: string[] = [];
  const present = componentsOf(config.source);
  if (present.includes("postgres")) parts.push(`postgres (${postgresStrategy(config.source)})`);
  if (present.includes("redis")) parts.push(`redis (${redisMode(config)})`);
  return parts.length ? parts.join(" and ") : "nothing (no data stores)";
}

/** capture installs triggers and a change log on the source; every other strategy only reads it. */
function replicateTouchesSource(config: FerryConfig): boolean {
  return componentsOf(config.source).includes("postgres") && postgresStrategy(config.source) === "capture";
}

function nextFlagSentence(config: FerryConfig, traffic: number): string {
  const heroku = config.source.kind === "heroku";
  switch (globalStage(config.stages)) {
    case "provision":
      return `Target provisioned and receiving no traffic. Next: \`pulumi config set ferry:replicate true\` starts copying ${describeReplication(config)} into AWS; ${replicateTouchesSource(config) ? "the source stays writable and gets ferry's change-capture triggers and log (removed when the flag is lowered and at decommission)" : "the source is only read"}.`;
    case "replicate":
      return heroku
        ? "Replicating. Next: `pulumi config set ferry:proxy true` (with ferry:trafficPercent N) puts a Cloudflare load balancer in front and sends N% of requests to AWS once the health check passes."
        : config.source.kind === "vultr" && config.source.weightedSplit
          ? "Replicating. Next: `pulumi config set ferry:proxy true` with ferry:trafficPercent N puts a Cloudflare load balancer in front that sends N% of requests to AWS (the app on AWS still uses the old databases); at 100 the old nginx forwards everything."
          : "Replicating. Next: `pulumi config set ferry:proxy true` makes the old nginx forward every request to AWS (the app on AWS still uses the old databases).";
    case "proxy":
      return traffic < 100
        ? heroku
          ? `AWS receives ${traffic}% of requests. Next: raise ferry:trafficPercent step by step, then \`pulumi config set ferry:cutover true\` fences and moves the data stores and points Cloudflare DNS at AWS.`
          : `AWS receives ${traffic}% of requests through a Cloudflare load balancer. Next: raise ferry:trafficPercent step by step; at 100 the old nginx forwards everything (stragglers that reach the box directly too) and the load balancer goes.`
        : "AWS receives all requests through the proxy. Next: `pulumi config set ferry:cutover true` fences and moves the data stores and points Cloudflare DNS at AWS.";
    case "cutover":
      if (sourceAppStays(config) && !atLeast(componentStage("app", config.stages), "cutover")) {
        return `Stores cut over; the ${heroku ? "Heroku app" : "box's app"} serves from them. Next, after your verification period: \`pulumi config set ferry:decommission true\` backs up and releases ${heroku ? "the moved stores' add-ons only (cannot be undone)" : "the moved stores' replication on the box"}; the app moves when its hold is lifted, or never.`;
      }
      return heroku
        ? "Cut over. Next, after your verification period: `pulumi config set ferry:decommission true` scales the Heroku dynos to zero and releases the add-ons (the add-on release cannot be undone)."
        : "Cut over. Next, after your verification period: `pulumi config set ferry:decommission true` stops the app on the old box and drops the replication slot there.";
    case "decommission":
      return "Decommissioned: the migration is complete. The old Vultr instance or Heroku app is left for you to delete by hand.";
  }
}

/** Which stages are active per component, and what the next flag will do. */
export function planStages(config: FerryConfig): StagePlan {
  const components = Object.fromEntries(componentsOf(config.source).map((c) => [c, componentStage(c, config.stages)]));
  const traffic = effectiveTraffic(config);
  const held = Object.entries(config.stages.hold).map(([c, s]) => `${c} at ${s} (ferry:hold.${c})`);
  const heldNote = held.length ? ` Held back: ${held.join(", ")}; remove the hold to let it follow.` : "";
  return {
    active: STAGES.filter((s) => s === "provision" || config.stages[s as keyof StageFlags] === true),
    components,
    trafficPercent: traffic,
    nextStep: nextFlagSentence(config, traffic) + heldNote,
  };
}
