// The public entry of the target: an application load balancer in the public subnets,
// one target group per process that serves HTTP, and a host rule per hostname on an HTTPS
// listener. Cloudflare proxies to it (the security group only admits Cloudflare's ranges)
// under Full (strict): verified TLS to the origin, so the ALB always serves a certificate
// for the hostnames (ACM's, components/target/certificate.ts, or ferry:target.certificateArn).
// Port 80 only redirects to HTTPS, except the health gate's rule for the ALB's own name.
// On HTTPS listeners the ALB sets X-Forwarded-Proto: https on every request it forwards
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html),
// which is what an app that forces SSL (Rails' force_ssl) checks.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../../config";
import { HEALTH_CHECK_PORT } from "./firewall";

/**
 * The target groups' health checks. At cutover the old tasks point at the fenced stores
 * until a new one is healthy: two checks 5 s apart (ALB's shortest interval,
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html)
 * admit it after ~10 s instead of 30. The timeout must stay under the interval (ALB's
 * default timeout is 5 s).
 */
export const TARGET_HEALTH_CHECK = { interval: 5, timeout: 4, healthyThreshold: 2, unhealthyThreshold: 3 } as const;

export interface IngressArgs {
  vpcId: pulumi.Input<string>;
  subnetIds: pulumi.Input<string>[];
  securityGroupId: pulumi.Input<string>;
  processes: TargetConfig["compute"]["processes"];
  hostnames: TargetConfig["cloudflare"]["hostnames"];
  /** An issued certificate for the hostnames. */
  certificateArn: pulumi.Input<string>;
  tags: Record<string, string>;
}

/** Where Cloudflare (Full (strict)) and the old box's nginx reach the load balancer. */
export const HTTPS_PORT = 443;

/** Port 80's answer to everyone but the health gate: the same URL over HTTPS. */
export const REDIRECT_TO_HTTPS = { type: "redirect", redirect: { protocol: "HTTPS", port: String(HTTPS_PORT), statusCode: "HTTP_301" } };

export class Ingress extends pulumi.ComponentResource {
  readonly loadBalancer: aws.lb.LoadBalancer;
  /** Process name -> target group, for processes with a port. */
  readonly targetGroups: Record<string, aws.lb.TargetGroup> = {};
  /** What `ferry health` polls before traffic moves. */
  readonly healthUrl: pulumi.Output<string>;
  readonly healthPath: string;
  /** Where the old nginx forwards to (vultr proxy stage). */
  readonly origin: pulumi.Output<string>;

  constructor(name: string, args: IngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Ingress", name, {}, opts);
    const child = { parent: this };
    this.loadBalancer = new aws.lb.LoadBalancer(`${name}-alb`, {
      loadBalancerType: "application",
      internal: false,
      subnets: args.subnetIds,
      securityGroups: [args.securityGroupId],
      dropInvalidHeaderFields: true,
      // Streaming endpoints hold connections open (Mastodon streaming, websockets).
      idleTimeout: 300,
      tags: args.tags,
    }, child);

    for (const [process, spec] of Object.entries(args.processes)) {
      if (spec.port === undefined) continue;
      this.targetGroups[process] = new aws.lb.TargetGroup(`${name}-${process}`, {
        // Target group names stop at 32 characters, and an auto-name adds 8 to the logical
        // one: a prefix (at most 6) plus the provider's unique id always fits, and stays
        // unique across a replacement.
        namePrefix: `${process.replace(/[^a-z0-9]/g, "").slice(0, 5)}-`,
        vpcId: args.vpcId,
        port: spec.port,
        protocol: "HTTP",
        // Fargate tasks (awsvpc) register by IP: ECS refuses an `instance` target group for them
        // (Amazon ECS Developer Guide, "Use a load balancer": "you must choose ip as the target type").
        targetType: "ip",
        deregistrationDelay: 30,
        healthCheck: { path: spec.healthPath, matcher: "200-399", ...TARGET_HEALTH_CHECK },
        tags: args.tags,
      }, child);
    }

    const listener = new aws.lb.Listener(`${name}-listener`, {
      loadBalancerArn: this.loadBalancer.arn,
      port: HTTPS_PORT,
      protocol: "HTTPS",
      certificateArn: args.certificateArn,
      sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
      defaultActions: [{ type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "404", messageBody: "unknown host" } }],
      tags: args.tags,
    }, child);

    // The health gate calls http://<load balancer>/<health path>: route that host to the
    // first hostname's process on port 80, which the security group opens to the
    // runner/operator only; any other request there is redirected to HTTPS.
    const checkListener = new aws.lb.Listener(`${name}-check`, {
      loadBalancerArn: this.loadBalancer.arn,
      port: HEALTH_CHECK_PORT,
      protocol: "HTTP",
      defaultActions: [REDIRECT_TO_HTTPS],
      tags: args.tags,
    }, child);
    const checked = args.hostnames[0];
    this.healthPath = args.processes[checked.process].healthPath;
    new aws.lb.ListenerRule(`${name}-check`, {
      listenerArn: checkListener.arn,
      priority: 10,
      conditions: [{ hostHeader: { values: [this.loadBalancer.dnsName] } }],
      actions: [{ type: "forward", targetGroupArn: this.targetGroups[checked.process].arn }],
      tags: args.tags,
    }, child);
    this.healthUrl = pulumi.interpolate`http://${this.loadBalancer.dnsName}${this.healthPath}`;
    this.origin = pulumi.interpolate`https://${this.loadBalancer.dnsName}`;

    args.hostnames.forEach((host, i) => {
      new aws.lb.ListenerRule(`${name}-host-${i}`, {
        listenerArn: listener.arn,
        priority: 100 + i,
        conditions: [{ hostHeader: { values: [host.name] } }],
        actions: [{ type: "forward", targetGroupArn: this.targetGroups[host.process].arn }],
        tags: args.tags,
      }, child);
    });
    this.registerOutputs({ dnsName: this.loadBalancer.dnsName });
  }
}
