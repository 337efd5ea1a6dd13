// The hostnames' Cloudflare records. A record that already serves a hostname is adopted
// unchanged at provision (import), switched to a proxied CNAME at the AWS load balancer at
// cutover, and switched back to exactly its old content when the flag is lowered.
// Hostnames without an existing record get a record only at cutover.
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { Target } from "../../config";
import { StageContext, reached } from "./context";

type Hostname = Target["cloudflare"]["hostnames"][number];

/** What a hostname's record holds at a given stage: pure, so a test checks it. */
export function recordFor(host: Hostname, cutOver: boolean, loadBalancer: pulumi.Input<string>): { type: string; content: pulumi.Input<string> } | undefined {
  if (cutOver) return { type: "CNAME", content: loadBalancer };
  return host.record ? { type: host.record.type, content: host.record.content } : undefined;
}

export class Dns extends pulumi.ComponentResource {
  constructor(ctx: StageContext, gates: pulumi.Resource[], opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Dns", `${ctx.name}-dns`, {}, opts);
    const cutOver = reached(ctx, "app", "cutover");
    const { zoneId } = ctx.config.target.cloudflare;
    ctx.config.target.cloudflare.hostnames.forEach((host, i) => {
      const record = recordFor(host, cutOver, ctx.target.loadBalancerDnsName);
      if (!record) return;
      new cloudflare.DnsRecord(`${ctx.name}-dns-${i}`, {
        zoneId,
        name: host.name,
        type: record.type,
        content: record.content,
        proxied: true,
        ttl: 1,
        comment: cutOver ? "ferry: cut over to AWS" : "ferry: adopted, still at the source",
      }, {
        parent: this,
        // Only at cutover: the record waits for every data-plane gate (a failed one stops it).
        dependsOn: cutOver ? gates : [],
        import: host.record ? `${zoneId}/${host.record.id}` : undefined,
        // A -> CNAME cannot coexist under one name; and destroying ferry's stack must never
        // take a live hostname down with it.
        deleteBeforeReplace: true,
        retainOnDelete: !!host.record,
      });
    });
    this.registerOutputs({});
  }
}
