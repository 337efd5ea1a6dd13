// proxy: AWS starts serving requests, behind a `ferry health` gate that re-runs on every
// weight change. Heroku: a Cloudflare load balancer per hostname splits requests by
// ferry:trafficPercent between a Heroku pool and an AWS pool. Vultr: the old nginx
// forwards everything to AWS (`ferry proxy apply`; deleting it runs `ferry proxy revert`).
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSource, VultrSource } from "../../config";
import { effectiveTraffic } from "../../config";
import { traffic } from "./commands";
import { StageContext, herokuSource, sshEnv } from "./context";

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

export interface ProxyArgs {
  /** Resources that must exist before requests move (the app's instances). */
  after: pulumi.Resource[];
}

export class Proxy extends pulumi.ComponentResource {
  readonly healthGate: pulumi.Resource;

  constructor(ctx: StageContext, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Proxy", `${ctx.name}-proxy`, {}, opts);
    const percent = effectiveTraffic(ctx.config);
    this.healthGate = ctx.runner.run(`${ctx.name}-proxy-health`, {
      create: ctx.target.healthUrl.apply((url) => traffic.health(url, 5, 2)),
      triggers: [percent],
    }, { parent: this, dependsOn: args.after });
    const source = ctx.config.source;
    if (source.kind === "heroku") this.weightedSplit(ctx, source, percent);
    else this.oldNginx(ctx, source);
    this.registerOutputs({ trafficPercent: percent });
  }

  private weightedSplit(ctx: StageContext, source: HerokuSource, percent: number): void {
    const { accountId, zoneId } = ctx.config.target.cloudflare;
    const https = !!ctx.config.target.certificateArn;
    const weights = poolWeights(percent);
    ctx.config.target.cloudflare.hostnames.forEach((host, i) => {
      const app = source.apps.find((a) => a.hostnames.includes(host.name));
      if (!app) throw new Error(`no Heroku app serves ${host.name}`); // parseConfig guarantees one
      const prefix = `${ctx.name}-lb-${i}`;
      // Monitors and pools too wait for the health gate (and so for the rollback guards):
      // lowering ferry:cutover that the guards refuse must not recreate anything.
      const child = { parent: this, dependsOn: [this.healthGate] };
      const monitor = (side: string, secure: boolean) =>
        new cloudflare.LoadBalancerMonitor(`${prefix}-${side}`, {
          accountId,
          type: secure ? "https" : "http",
          port: secure ? 443 : 80,
          method: "GET",
          path: ctx.target.healthPath,
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
      // The app's herokuapp.com domain as Heroku lists it (or the configured origin).
      const herokuPool = pool("heroku", herokuSource(ctx).origin(app), monitor("heroku", true).id);
      const awsPool = pool("aws", ctx.target.loadBalancerDnsName, monitor("aws", https).id);
      new cloudflare.LoadBalancer(`${prefix}`, {
        zoneId,
        name: host.name,
        proxied: true,
        steeringPolicy: "random",
        randomSteering: {
          poolWeights: pulumi.all([herokuPool.id, awsPool.id]).apply(([h, a]) => ({ [h]: weights.source, [a]: weights.target })),
        },
        defaultPools: [herokuPool.id, awsPool.id],
        fallbackPool: herokuPool.id,
        description: `ferry: ${percent}% of ${host.name} to AWS`,
      }, { parent: this, dependsOn: [this.healthGate] });
    });
  }

  private oldNginx(ctx: StageContext, source: VultrSource): void {
    const address = ctx.sourceAddress;
    if (!address) throw new Error("the Vultr instance address is missing"); // set by buildFerry for vultr sources
    // validateStages requires both for a vultr proxy stage (one line naming the key).
    const site = source.nginx;
    if (!site || !ctx.config.target.certificateArn) throw new Error("ferry:source.nginx and ferry:target.certificateArn are required for the vultr proxy stage");
    const hostnames = ctx.config.target.cloudflare.hostnames.map((h) => h.name);
    const oldSite = { confFile: site.siteConf, listen: site.listen, sslListen: site.sslListen, sslCertificate: site.sslCertificate, sslCertificateKey: site.sslCertificateKey };
    const oldHost = address.apply((ip) => ({ ssh: `${source.ssh.user}@${ip}:${source.ssh.port}`, sudo: source.ssh.user !== "root" }));
    ctx.runner.run(`${ctx.name}-proxy-nginx`, {
      create: pulumi.all([oldHost, ctx.target.origin]).apply(([host, origin]) =>
        traffic.proxyApply(host, { origin, serverName: hostnames.join(" "), originServerName: hostnames[0], site: oldSite }),
      ),
      delete: oldHost.apply((host) => traffic.proxyRevert(host, oldSite)),
      environment: sshEnv(ctx),
    }, { parent: this, dependsOn: [this.healthGate] });
  }
}
