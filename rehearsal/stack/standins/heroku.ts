// Heroku, as the rehearsal stands it in: the Platform API (rehearsal/servers/heroku-api.ts,
// which follows the documented API, serving the rehearsal app's slug as each app's
// current release), a dyno manager that keeps each app's formation running as processes
// of that slug, started by bin/slug-run as a dyno starts, with the app's config vars (and restarts
// them when a config var changes, as Heroku does), and the router that sends an app's
// domains to its web dynos: a request waits while the formation's web dynos start (H20 after
// 75 s), 503 when the formation has no web dyno (H14), both as Heroku's error codes say
// (boot-queue.ts); 503 for an app in maintenance mode, as Heroku's H80
// (https://devcenter.heroku.com/articles/maintenance-mode).
import { randomBytes } from "node:crypto";
import type { HerokuSourceConfig } from "../../../config";
import { FakeHerokuApi, startHerokuApi } from "../../servers/heroku-api";
import type { Hosts } from "../hosts";
import type { PrivateCa } from "./ca";
import { Fleet, FleetContext, FleetSpec } from "./fleet";
import { RehearsalSlug, SLUG_RUN } from "../slug";
import { oneAtATime, ProxyHost, VirtualServer } from "./proxies";
import { fires, ScheduleClock } from "./clock";
import { BootQueue, ROUTER_ERRORS } from "./boot-queue";

export interface HerokuPlatformOptions {
  source: HerokuSourceConfig;
  /** The add-ons' config var values: DATABASE_URL, REDIS_URL of the source stores. */
  addonVars: { postgres?: Record<string, string>; redis?: Record<string, string> };
  /** Each app's own config vars (`heroku config:set`): its settings, its S3 bucket and credentials. */
  appVars: Record<string, Record<string, string>>;
  hosts: Hosts;
  fleet: Omit<FleetContext, "changed">;
  /** Hostname -> the DNS target its zone record points at (the stack's adopted `*.herokudns.com` CNAME): served by the router too. */
  dnsTargets: Record<string, string>;
  /** Every app's current release: this slug, which the dynos run through bin/slug-run. */
  slug: RehearsalSlug;
  /** Heroku Scheduler: the stack's declared jobs, run on the shared clock while their app has the add-on. */
  scheduler?: { clock: ScheduleClock; jobs: DeclaredJob[] };
  /** Signs the router's certificate: Heroku serves every app on 443, *.herokuapp.com and each custom domain's (ACM). */
  ca: PrivateCa;
}

/** A job as the stack declares it (ferry:target.compute.schedules), with the app whose code and config it runs with. */
export interface DeclaredJob {
  name: string;
  /** The Heroku app (or, for a box, nothing: its crontab says what runs). */
  app?: string;
  command: string;
  expression: string;
  timezone: string;
}

/** The Heroku DNS target of a custom domain, as the stand-in API reports it. */
export const herokuDnsTarget = (hostname: string) => `${hostname.replace(/\./g, "-")}.herokudns.com`;

export class HerokuPlatform {
  readonly apiKey = randomBytes(16).toString("hex");
  api!: FakeHerokuApi;
  private router?: ProxyHost;
  private routerAddress = "";
  private routerCertificate?: { cert: string; key: string };
  private readonly fleets = new Map<string, Fleet>();
  /** Each app's requests while its web dynos boot. */
  private readonly bootQueues = new Map<string, BootQueue>();
  private readonly seenVars = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private reconciling = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: HerokuPlatformOptions) {}

  async start(): Promise<void> {
    const { source, addonVars } = this.opts;
    const storeOf = (app: string) => (["postgres", "redis"] as const).filter((s) => source[s]?.app === app);
    this.api = await startHerokuApi({
      apiKey: this.apiKey,
      apps: source.apps.map((app) => ({
        name: app.name,
        formation: Object.entries(app.processes).map(([type, quantity]) => ({ type, quantity, size: "standard-1X" })),
        // The add-ons are attached to their app (their vars owned by the attachment); the
        // other apps of the stack read the same stores through plain config vars. An app
        // with declared jobs has Heroku Scheduler, which runs them.
        addons: [
          ...storeOf(app.name).map((s) => ({ name: source[s]!.addon, service: s === "postgres" ? "heroku-postgresql" : "heroku-redis", plan: s === "postgres" ? "heroku-postgresql:standard-0" : "heroku-redis:premium-0", configVars: addonVars[s] })),
          ...(this.opts.scheduler?.jobs.some((j) => j.app === app.name) ? [{ name: `scheduler-${app.name}`, service: "scheduler", plan: "scheduler:standard" }] : []),
        ],
        configVars: {
          ...this.opts.appVars[app.name],
          ...Object.fromEntries((["postgres", "redis"] as const).filter((s) => !storeOf(app.name).includes(s)).flatMap((s) => Object.entries(addonVars[s] ?? {}))),
        },
        domains: app.hostnames.map((hostname) => ({ hostname, kind: "custom" as const })),
        // One deploy: the rehearsal app's slug is the current release (`git push heroku`).
        releases: [{ description: "Deploy rehearsal", slug: { file: this.opts.slug.file, processTypes: this.opts.slug.processTypes, commit: "rehearsal" } }],
      })),
    });
    for (const app of source.apps) this.bootQueues.set(app.name, await BootQueue.start(this.webFormation(app.name)));
    this.routerAddress = await this.opts.hosts.allocate("Heroku router");
    // Heroku's router serves every app over TLS too: *.herokuapp.com, and each custom
    // domain's certificate (Automated Certificate Management), so Cloudflare's Full
    // (strict) verifies it (https://devcenter.heroku.com/articles/automated-certificate-management).
    this.routerCertificate = await this.opts.ca.issue("heroku-router", source.apps.flatMap((a) => [`${a.name}.herokuapp.com`, ...a.hostnames]));
    for (const app of source.apps) {
      this.opts.hosts.name(`${app.name}.herokuapp.com`, this.routerAddress);
      for (const h of app.hostnames) this.opts.hosts.name(herokuDnsTarget(h), this.routerAddress);
    }
    for (const target of Object.values(this.opts.dnsTargets)) this.opts.hosts.name(target, this.routerAddress);
    await this.reconcile();
    this.opts.scheduler?.clock.onMinute((slot) => this.runScheduler(slot));
    this.timer = setInterval(() => {
      this.reconciling = this.reconciling.then(() => this.reconcile()).catch((e) => this.opts.fleet.log(`      heroku dyno manager: ${(e as Error).message}`));
    }, 300);
  }

  /** Run the formation each app has now, on the config vars it has now. */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    for (const appSpec of this.opts.source.apps) {
      const app = this.api.app(appSpec.name)!;
      const vars = JSON.stringify(app.configVars);
      const varsChanged = this.seenVars.has(app.name) && this.seenVars.get(app.name) !== vars;
      this.seenVars.set(app.name, vars);
      for (const f of app.formation) {
        const key = `${app.name}-${f.type}`;
        const spec: FleetSpec = {
          name: `heroku-${key}`,
          platform: "heroku",
          http: f.type === "web",
          env: app.configVars,
          launch: { kind: "slug", file: this.opts.slug.file, slugRun: SLUG_RUN, processType: f.type },
        };
        let fleet = this.fleets.get(key);
        if (!fleet) {
          fleet = new Fleet(spec, { ...this.opts.fleet, changed: () => this.renderRouter() });
          this.fleets.set(key, fleet);
        } else if (varsChanged && fleet.size() > 0) {
          await fleet.roll(spec);
        }
        await fleet.scale(f.quantity);
      }
    }
    await this.renderRouter();
  }

  private oneOffs = 0;

  /**
   * Heroku Scheduler at one scheduled minute: each due job of an app that has the add-on,
   * as a one-off dyno of the app's release with its config vars (scheduler.N), whatever
   * its maintenance mode or formation: Scheduler starts one-off dynos itself.
   */
  private runScheduler(slot: Date): void {
    const scheduler = this.opts.scheduler;
    if (this.stopped || !scheduler) return;
    for (const job of scheduler.jobs) {
      const app = job.app ? this.api.app(job.app) : undefined;
      if (!app || !app.addons.some((a) => a.service.name === "scheduler") || !fires(job.expression, job.timezone, slot)) continue;
      scheduler.clock.runSlugCommand({
        job: job.name, slot, side: "heroku", slugRun: SLUG_RUN, slug: this.opts.slug.file, command: job.command,
        env: { ...app.configVars, APP_SCHEMA: this.opts.fleet.schema }, dyno: `scheduler.${++this.oneOffs}`,
      });
    }
  }

  /** An app's web dynos as its router sees them: those up, and how many its formation asks for. */
  private webFormation(app: string) {
    return {
      upPorts: () => this.fleets.get(`${app}-web`)?.ports() ?? [],
      quantity: () => this.api.app(app)?.formation.find((f) => f.type === "web")?.quantity ?? 0,
    };
  }

  /**
   * Where the router sends an app's requests: maintenance mode's page (H80); its web dynos
   * that are up; while its formation's web dynos start, its boot queue, which holds each
   * request until one is up (H20 after 75 s, so the router waits that long plus the dyno's
   * 30 s); no web dyno in the formation: H14.
   */
  private route(app: string): Pick<VirtualServer, "upstream" | "status" | "readTimeoutSeconds"> {
    if (this.api.app(app)?.maintenance === true) return { status: { code: 503, body: "Application offline for maintenance (H80)" } };
    const web = this.webFormation(app);
    const up = web.upPorts();
    if (up.length) return { upstream: { name: `heroku_${app}`, servers: up.map((p) => ({ address: `127.0.0.1:${p}`, weight: 1 })) } };
    const queue = this.bootQueues.get(app);
    if (web.quantity() > 0 && queue) return { upstream: { name: `heroku_${app}_booting`, servers: [{ address: queue.address(), weight: 1 }] }, readTimeoutSeconds: 105 };
    return { status: { code: 503, body: ROUTER_ERRORS.H14 } };
  }

  private readonly renderRouter = oneAtATime(() => this.renderRouterNow());
  private routed = "";

  private async renderRouterNow(): Promise<void> {
    if (!this.routerAddress) return;
    const listeners = [{ port: 80, certificate: undefined, proto: "http" }, { port: 443, certificate: this.routerCertificate, proto: "https" }];
    const servers: VirtualServer[] = listeners.flatMap(({ port, certificate, proto }) => [
      ...this.opts.source.apps.map((app): VirtualServer => ({
        listen: `${this.routerAddress}:${port}`,
        names: [`${app.name}.herokuapp.com`, ...app.hostnames, ...app.hostnames.map(herokuDnsTarget), ...app.hostnames.flatMap((h) => this.opts.dnsTargets[h] ?? [])],
        certificate,
        // Heroku's router sets X-Forwarded-Proto to the protocol the client used.
        forwardedProto: proto,
        ...this.route(app.name),
      })),
      { listen: `${this.routerAddress}:${port}`, names: ["_"], certificate, status: { code: 404, body: "no such app" } },
    ]);
    // The dyno manager looks every 300 ms; the router changes only when its routes do.
    const text = JSON.stringify(servers);
    if (text === this.routed) return;
    if (!this.router) this.router = await ProxyHost.start(servers);
    else await this.router.apply(servers);
    this.routed = text;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.reconciling.catch(() => undefined);
    await Promise.allSettled([...this.fleets.values()].map((f) => f.stop()));
    await this.router?.stop();
    await Promise.allSettled([...this.bootQueues.values()].map((q) => q.stop()));
    await this.api?.stop();
  }
}
