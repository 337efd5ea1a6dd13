// Security groups: the load balancer takes requests only from Cloudflare, the app only
// from the load balancer, the database and cache only from the app and the runner.
// Rules are separate resources (the provider's advice), one source per rule.
import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;
/** Redis on EC2's TLS listener for clients outside the VPC (its plain port stays inside). */
export const REDIS_TLS_PORT = 6380;
/** Plain-HTTP listener port the health gate uses (Cloudflare uses the main listener). */
export const HEALTH_CHECK_PORT = 80;

export interface FirewallArgs {
  vpcId: pulumi.Input<string>;
  vpcCidr: string;
  /** The port Cloudflare (and the old box's forward) reaches the load balancer on: HTTPS. */
  listenerPort: number;
  appPorts: number[];
  /** The old box forwards requests to the load balancer during the vultr proxy stage. */
  proxyFromSource: boolean;
  /** Whether a runner instance in the VPC runs the data-plane commands. */
  runner: boolean;
  /** Outbound paths the data stores need to pull from the source (subscription, REPLICAOF). */
  sourceAddress?: pulumi.Input<string>;
  postgresPullsFromSource: boolean;
  redisPullsFromSource: boolean;
  /** Ports the source listens on (from the source URLs; not secret). */
  sourcePostgresPort: number;
  sourceRedisPort: number;
  /** Redis on EC2 installs packages and writes backups to S3 over HTTPS. */
  redisOnEc2: boolean;
  runnerSshCidrs: string[];
  /** The source app's way to the stores it reaches while it stays on the source (ferry:source.access). */
  sourceClients?: SourceClients;
  tags: Record<string, string>;
}

/**
 * Where the source app connects from, and which store ports it gets: PostgreSQL (RDS
 * forces TLS) and Redis's TLS port. Only the stores the source moves are opened.
 */
export interface SourceClients {
  cidrs: pulumi.Input<string>[];
  postgresPort?: number;
  redisPort?: number;
  why: string;
}

type Rule = { port: number; from: { sg: pulumi.Input<string> } | { cidr: pulumi.Input<string> } | { prefixList: pulumi.Input<string> }; why: string };

export class Firewall extends pulumi.ComponentResource {
  readonly loadBalancer: aws.ec2.SecurityGroup;
  readonly app: aws.ec2.SecurityGroup;
  readonly postgres: aws.ec2.SecurityGroup;
  readonly redis: aws.ec2.SecurityGroup;
  readonly runner?: aws.ec2.SecurityGroup;
  private readonly base: string;

  constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Firewall", name, {}, opts);
    this.base = name;
    const group = (role: string, description: string) =>
      new aws.ec2.SecurityGroup(`${name}-${role}`, { vpcId: args.vpcId, description, tags: { ...args.tags, Name: `${name}-${role}` } }, { parent: this });

    this.loadBalancer = group("lb", "ferry: load balancer, reachable from Cloudflare only");
    this.app = group("app", "ferry: app instances, reachable from the load balancer only");
    this.postgres = group("postgres", "ferry: PostgreSQL, reachable from the app and runner only");
    this.redis = group("redis", "ferry: Redis, reachable from the app and runner only");
    this.runner = args.runner ? group("runner", "ferry: data-plane runner, SSH from operators only") : undefined;

    const cloudflareRanges = new aws.ec2.ManagedPrefixList(`${name}-cloudflare`, {
      addressFamily: "IPv4",
      maxEntries: 20,
      entries: cloudflare.getIpRangesOutput({}, { parent: this }).ipv4Cidrs.apply((cidrs) => cidrs.map((cidr) => ({ cidr, description: "Cloudflare" }))),
      tags: args.tags,
    }, { parent: this });

    const clients = (port: number, why: string): Rule[] => [
      { port, from: { sg: this.app.id }, why: `${why} from app` },
      ...(this.runner ? [{ port, from: { sg: this.runner.id }, why: `${why} from runner` }] : []),
    ];
    this.ingress("lb", this.loadBalancer, [
      { port: args.listenerPort, from: { prefixList: cloudflareRanges.id }, why: "HTTP(S) from Cloudflare" },
      ...(args.proxyFromSource && args.sourceAddress
        ? [{ port: args.listenerPort, from: { cidr: pulumi.interpolate`${args.sourceAddress}/32` }, why: "old nginx forwarding (proxy stage)" }]
        : []),
    ]);
    this.ingress("app", this.app, [...new Set(args.appPorts)].map((port) => ({ port, from: { sg: this.loadBalancer.id }, why: `app port ${port} from load balancer` })));
    this.ingress("postgres", this.postgres, clients(POSTGRES_PORT, "PostgreSQL"));
    this.ingress("redis", this.redis, clients(REDIS_PORT, "Redis"));
    if (args.sourceClients) this.allowSourceClients(args.sourceClients);
    if (this.runner) {
      this.ingress("runner", this.runner, args.runnerSshCidrs.map((cidr) => ({ port: 22, from: { cidr }, why: "SSH from operator" })));
    }

    this.egress("lb", this.loadBalancer, [...new Set(args.appPorts)].map((port) => ({ port, from: { cidr: args.vpcCidr }, why: "to app instances" })));
    this.egressAll("app", this.app);
    if (this.runner) this.egressAll("runner", this.runner);
    if (args.postgresPullsFromSource && args.sourceAddress) {
      this.egress("postgres", this.postgres, [{ port: args.sourcePostgresPort, from: { cidr: pulumi.interpolate`${args.sourceAddress}/32` }, why: "subscription to the source publisher" }]);
    }
    const redisOut: Rule[] = [
      ...(args.redisPullsFromSource && args.sourceAddress ? [{ port: args.sourceRedisPort, from: { cidr: pulumi.interpolate`${args.sourceAddress}/32` }, why: "REPLICAOF the source" }] : []),
      ...(args.redisOnEc2 ? [443, 80].map((port) => ({ port, from: { cidr: "0.0.0.0/0" }, why: "packages, SSM and S3 backups" })) : []),
    ];
    this.egress("redis", this.redis, redisOut);
    this.registerOutputs({});
  }

  /** Separate roles, so the rules of a stack without ferry:source.access keep their names. */
  private allowSourceClients(clients: SourceClients): void {
    const from = (port: number | undefined, what: string): Rule[] =>
      port === undefined ? [] : clients.cidrs.map((cidr) => ({ port, from: { cidr }, why: `${what} from ${clients.why}` }));
    this.ingress("postgres-source", this.postgres, from(clients.postgresPort, "PostgreSQL (TLS forced)"));
    this.ingress("redis-source", this.redis, from(clients.redisPort, "Redis over TLS"));
  }

  /** The health gate (`ferry health`) reaches the load balancer's check listener from here. */
  allowHealthChecksFrom(label: string, cidrs: pulumi.Input<string>[]): void {
    this.ingress(`lb-check-${label}`, this.loadBalancer, cidrs.map((cidr) => ({ port: HEALTH_CHECK_PORT, from: { cidr }, why: "ferry health gate" })));
  }

  private ingress(role: string, group: aws.ec2.SecurityGroup, rules: Rule[]): void {
    rules.forEach((rule, i) => new aws.vpc.SecurityGroupIngressRule(`${this.ruleName(role)}-in-${i}`, { securityGroupId: group.id, ...ruleArgs(rule) }, { parent: this }));
  }

  private egress(role: string, group: aws.ec2.SecurityGroup, rules: Rule[]): void {
    rules.forEach((rule, i) => new aws.vpc.SecurityGroupEgressRule(`${this.ruleName(role)}-out-${i}`, { securityGroupId: group.id, ...ruleArgs(rule) }, { parent: this }));
  }

  private egressAll(role: string, group: aws.ec2.SecurityGroup): void {
    new aws.vpc.SecurityGroupEgressRule(`${this.ruleName(role)}-out-all`, { securityGroupId: group.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "outbound (federation, APIs, packages)" }, { parent: this });
  }

  private ruleName(role: string): string {
    return `${this.base}-${role}`;
  }
}

function ruleArgs(rule: Rule) {
  const from = rule.from;
  return {
    ipProtocol: "tcp",
    fromPort: rule.port,
    toPort: rule.port,
    description: rule.why,
    ...("sg" in from ? { referencedSecurityGroupId: from.sg } : "cidr" in from ? { cidrIpv4: from.cidr } : { prefixListId: from.prefixList }),
  };
}
