// The hostnames' Cloudflare records. A record that already serves a hostname (an A record
// at the old box, or the CNAME at *.herokudns.com a Heroku custom domain already has) is
// adopted at provision by `import`, declaring exactly what is live (type, content,
// proxied, ttl, comment): the provider refuses an import whose inputs differ. At cutover the
// same record is updated in place to a proxied CNAME at the AWS load balancer (Cloudflare's
// provider changes `type` and `content` by update; only `zoneId` replaces), and lowering
// the flag updates it back to exactly its live fields. Never a second record under the
// same name: Cloudflare refuses a CNAME beside any other record. Hostnames without an
// existing record get a new record only at cutover.
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../config";
import { StageContext, reached } from "./context";

type Hostname = TargetConfig["cloudflare"]["hostnames"][number];

export interface RecordFields {
  type: string;
  content: pulumi.Input<string>;
  proxied: boolean;
  ttl: number;
  comment?: string;
}

export const CUTOVER_COMMENT = "ferry: cut over to AWS";

/** What a hostname's record holds at a given stage: pure, so a test checks it. */
export function recordFor(host: Hostname, cutOver: boolean, loadBalancer: pulumi.Input<string>): RecordFields | undefined {
  if (cutOver) return { type: "CNAME", content: loadBalancer, proxied: true, ttl: 1, comment: CUTOVER_COMMENT };
  if (!host.record) return undefined;
  const { type, content, proxied, ttl, comment } = host.record;
  return { type, content, proxied, ttl, ...(comment !== undefined ? { comment } : {}) };
}

/**
 * Options for a hostname's record. The first `pulumi up` (provision) adopts the live record
 * by import, declaring it exactly as it is; later runs find it in state, and the engine
 * ignores an import whose id matches the one recorded at adoption, so the cutover is an
 * update of the same record. retainOnDelete: destroying ferry's stack must never take a
 * live hostname down. No deleteBeforeReplace: with retainOnDelete the delete would be
 * skipped and the new record would collide with the old one.
 */
export function recordOptions(host: Hostname, zoneId: string): Pick<pulumi.CustomResourceOptions, "import" | "retainOnDelete"> {
  if (!host.record) return {};
  return { import: `${zoneId}/${host.record.id}`, retainOnDelete: true };
}

export interface DnsArgs {
  ctx: StageContext;
  /** What must succeed before a record moves: the cutover's gates and the app's services. */
  gates: pulumi.Resource[];
}

export class Dns extends pulumi.ComponentResource {
  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Dns", name, {}, opts);
    const { ctx, gates } = args;
    const cutOver = reached(ctx, "app", "cutover");
    const { zoneId } = ctx.config.target.cloudflare;
    ctx.config.target.cloudflare.hostnames.forEach((host, i) => {
      const record = recordFor(host, cutOver, ctx.target.loadBalancerDnsName);
      if (!record) return;
      new cloudflare.DnsRecord(`${ctx.name}-dns-${i}`, { zoneId, name: host.name, ...record }, {
        parent: this,
        // At cutover the record waits for every data-plane gate; below it, for the guards
        // that refuse a rollback losing data (a record moving back first would send users
        // to a fenced, stale source).
        dependsOn: gates,
        ...recordOptions(host, zoneId),
      });
    });
    this.registerOutputs({});
  }
}
