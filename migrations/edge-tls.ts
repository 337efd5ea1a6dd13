// Cloudflare reaches AWS under Full (strict): over TLS to the origin, verifying its
// certificate for the hostname (https://developers.cloudflare.com/ssl/origin-configuration/ssl-modes/full-strict/).
// The load balancer listens on HTTPS only (port 80 redirects), so a weaker mode fails:
// Flexible speaks HTTP to port 80 and gets the redirect back, a loop for every visitor;
// Full or Full (strict) to a port that does not answer is error 522. Unless the zone
// already runs Full (strict) (ferry:target.cloudflare.sslMode), a Configuration Rule sets
// it for ferry's hostnames only: the zone-wide setting stays as it is, since other
// hostnames live in the zone (https://developers.cloudflare.com/rules/configuration-rules/settings/#ssl).
// A zone has one entry point ruleset per phase
// (https://developers.cloudflare.com/ruleset-engine/about/rulesets/#entry-point-ruleset):
// a zone that already has Configuration Rules must import that ruleset instead.
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../config";
import { StageContext, reached } from "./context";

/** The rule's expression: the request is for one of these hostnames. */
export function hostsExpression(hostnames: string[]): string {
  return `(http.host in {${hostnames.map((h) => JSON.stringify(h)).join(" ")}})`;
}

/** Whether the zone's own mode falls short of Full (strict) (an unknown mode is taken as short). */
export function needsStrictRule(cloudflareConfig: TargetConfig["cloudflare"]): boolean {
  return cloudflareConfig.sslMode !== "strict";
}

export class EdgeTls extends pulumi.ComponentResource {
  constructor(name: string, args: { ctx: StageContext }, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:EdgeTls", name, {}, opts);
    const { zoneId, hostnames } = args.ctx.config.target.cloudflare;
    const names = hostnames.map((h) => h.name);
    new cloudflare.Ruleset(`${name}-ssl`, {
      zoneId,
      kind: "zone",
      phase: "http_config_settings",
      name: "ferry: Full (strict) for the hostnames it moves",
      description: "ferry: Cloudflare reaches the AWS load balancer over verified TLS",
      rules: [{
        ref: "ferry_full_strict",
        description: `ferry: SSL Full (strict) for ${names.join(", ")}`,
        expression: hostsExpression(names),
        action: "set_config",
        actionParameters: { ssl: "strict" },
        enabled: true,
      }],
    }, { parent: this });
    this.registerOutputs({});
  }
}

/** From the proxy stage on, Cloudflare may send the hostnames' requests to AWS. */
export function edgeTlsActive(ctx: StageContext): boolean {
  return reached(ctx, "app", "proxy") && needsStrictRule(ctx.config.target.cloudflare);
}
