// proxy: AWS starts serving requests, behind a `ferry health` gate that re-runs on every
// weight change. A Cloudflare load balancer per hostname splits requests by
// ferry:trafficPercent between a pool for the source (the Heroku app, or the box behind
// Cloudflare) and a pool for AWS. A box then hands over whole: at 100% (or with no
// percentage set) its old nginx forwards everything to AWS, the stragglers that still
// reach it directly included (`ferry proxy apply`; deleting it runs `ferry proxy revert`).
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSourceConfig, VultrSourceConfig } from "../config";
import { effectiveTraffic, proxyWay } from "../config";
import { traffic } from "./commands";
import { StageContext, herokuSource, oldBoxHost, present, sshEnv } from "./context";

/** Cloudflare pool weights for a target share; pure so a test checks the arithmetic. */
export function poolWeights(percent: number): { source: number; target: number } {
  const target = Math.round(percent) / 100;
  return { source: Math.round((1 - target) * 100) / 100, target };
}

/**
 * A Cloudflare pool name for one side of a hostname's split. Pool names allow only
 * letters, digits, "-" and "_" (https://developers.cloudflare.com/api/resources/load_balancers/subresources/pools/methods/create/),
 * so the hostname's dots become "_" (a hostname has no "_", so names stay distinct).
 */
export function poolName(hostname: string, side: string): string {
  return `ferry-${hostname.replace(/\./g, "_")}-${side}`;
}

/** The source's side of a split: its pool's name and where Cloudflare reaches it. */
interface SourceOrigin {
  side: "heroku" | "box";
  address(hostname: string): pulumi.Input<string>;
  https: boolean;
}

function sourceOrigin(ctx: StageContext, source: HerokuSourceConfig | VultrSourceConfig): SourceOrigin {
  if (source.kind === "heroku") {
    return {
      side: "heroku",
      // The app's herokuapp.com domain as Heroku lists it (or the configured origin).
      address: (hostname) => {
        const app = source.apps.find((a) => a.hostnames.includes(hostname));
        if (!app) throw new Error(`no Heroku app serves ${hostname}`); // parseConfig guarantees one
        return herokuSource(ctx).origin(app);
      },
      https: true, // Heroku's router serves every app on 443
    };
  }
  const address = present(ctx.sourceAddress, "the Vultr instance address"); // set by buildFerry for vultr sources
  // The box serves its own share as it does today, on its site's TLS listener when it has one.
  return { side: "box", address: () => address, https: (source.nginx?.sslListen.length ?? 0) > 0 };
}

export interface ProxyArgs {
  ctx: StageContext;
  /** Resources that must exist before requests move (the app's instances). */
  after: pulumi.Resource[];
}

export class Proxy extends pulumi.ComponentResource {
  readonly healthGate: pulumi.Resource;

  constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Proxy", name, {}, opts);
    const { ctx } = args;
    const percent = effectiveTraffic(ctx.config);
    this.healthGate = ctx.runner.run(`${ctx.name}-proxy-health`, {
      create: ctx.target.healthUrl.apply((url) => traffic.health(url, 5, 2)),
      triggers: [percent],
    }, { parent: this, dependsOn: args.after });
    const source = ctx.config.source;
    if (proxyWay(ctx.config) === "split") this.weightedSplit(ctx, sourceOrigin(ctx, source), percent);
    else if (source.kind === "vultr") this.oldNginx(ctx, source);
    this.registerOutputs({ trafficPercent: percent });
  }

  private weightedSplit(ctx: StageContext, source: SourceOrigin, percent: number): void {
    const { accountId, zoneId } = ctx.config.target.cloudflare;
    const weights = poolWeights(percent);
    ctx.config.target.cloudflare.hostnames.forEach((host, i) => {
      const prefix = `${ctx.name}-lb-${i}`;
      // Each hostname's pools are probed where its own process answers, as that hostname:
      // a monitor on another process's path marks both pools unhealthy, and Cloudflare then
      // ignores the weights (every request to the fallback pool).
      const healthPath = ctx.config.target.compute.processes[host.process].healthPath;
      // Monitors and pools too wait for the health gate (and so for the rollback guards):
      // lowering ferry:cutover that the guards refuse must not recreate anything.
      const child = { parent: this, dependsOn: [this.healthGate] };
      const monitor = (side: string, secure: boolean) =>
        new cloudflare.LoadBalancerMonitor(`${prefix}-${side}`, {
          accountId,
          type: secure ? "https" : "http",
          port: secure ? 443 : 80,
          method: "GET",
          path: healthPath,
          expectedCodes: "2xx",
          header: { Host: [host.name] },
          interval: 60,
          retries: 2,
          timeout: 5,
          description: `ferry ${host.name} (${side})`,
        }, child);
      const pool = (side: string, address: pulumi.Input<string>, monitorId: pulumi.Input<string>) =>
        new cloudflare.LoadBalancerPool(`${prefix}-${side}`, {
          accountId,
          name: poolName(host.name, side),
          monitor: monitorId,
          origins: [{ name: side, address, enabled: true, weight: 1, header: { hosts: [host.name] } }],
          description: `ferry ${host.name} (${side})`,
        }, child);
      const sourcePool = pool(source.side, source.address(host.name), monitor(source.side, source.https).id);
      // The load balancer serves the hostnames over HTTPS only (port 80 redirects).
      const awsPool = pool("aws", ctx.target.loadBalancerDnsName, monitor("aws", true).id);
      new cloudflare.LoadBalancer(`${prefix}`, {
        zoneId,
        name: host.name,
        proxied: true,
        steeringPolicy: "random",
        randomSteering: {
          poolWeights: pulumi.all([sourcePool.id, awsPool.id]).apply(([s, a]) => ({ [s]: weights.source, [a]: weights.target })),
        },
        defaultPools: [sourcePool.id, awsPool.id],
        fallbackPool: sourcePool.id,
        description: `ferry: ${percent}% of ${host.name} to AWS`,
      }, { parent: this, dependsOn: [this.healthGate] });
    });
  }

  private oldNginx(ctx: StageContext, source: VultrSourceConfig): void {
    const address = ctx.sourceAddress;
    if (!address) throw new Error("the Vultr instance address is missing"); // set by buildFerry for vultr sources
    // validateStages requires both for a vultr proxy stage (one line naming the key).
    const site = source.nginx;
    if (!site) throw new Error("ferry:source.nginx is required for the vultr proxy stage");
    const hostnames = ctx.config.target.cloudflare.hostnames.map((h) => h.name);
    const oldSite = { confFile: site.siteConf, listen: site.listen, sslListen: site.sslListen, sslCertificate: site.sslCertificate, sslCertificateKey: site.sslCertificateKey };
    const oldHost = address.apply((ip) => oldBoxHost(ip, source));
    ctx.runner.run(`${ctx.name}-proxy-nginx`, {
      create: pulumi.all([oldHost, ctx.target.origin]).apply(([host, origin]) =>
        traffic.proxyApply(host, { origin, serverName: hostnames.join(" "), originServerName: hostnames[0], site: oldSite }),
      ),
      delete: oldHost.apply((host) => traffic.proxyRevert(host, oldSite)),
      environment: sshEnv(ctx),
    }, { parent: this, dependsOn: [this.healthGate] });
  }
}
