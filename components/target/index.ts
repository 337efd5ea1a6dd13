// The AWS side that exists from the first `pulumi up`: network, firewall, storage, the
// data stores, the load balancer and the runner. It receives no traffic until a stage
// says so. App compute is built later (program.ts) because its environment
// depends on which data stores have been cut over.
import * as pulumi from "@pulumi/pulumi";
import type { FerryConfig } from "../../config";
import { atLeast, componentStage, componentsOf, postgresStrategy, redisMode, storesOnInternet } from "../../config";
import { sourceClients } from "./access";
import { Ec2Runner, LocalRunner, Runner } from "../runner";
import { Firewall, POSTGRES_PORT, REDIS_PORT } from "./firewall";
import { OriginCertificate } from "./certificate";
import { HTTPS_PORT, Ingress } from "./ingress";
import { Network } from "./network";
import { SpacePeering } from "./peering";
import { Postgres } from "./postgres";
import { Redis } from "./redis";
import { Storage } from "./storage";
import { RDS_CA_BUNDLE } from "./userData";

export { Compute } from "./compute";
export { subnetCidrs } from "./subnets";
export { postgresParameters } from "./postgres";

export interface TargetArgs {
  config: FerryConfig;
  /** The Vultr box's address, for the /32 rules the subscription, REPLICAOF and proxy need. */
  sourceAddress?: pulumi.Output<string>;
  secrets: { postgresPassword: pulumi.Output<string>; redisPassword: pulumi.Output<string>; sshPrivateKey?: pulumi.Output<string> };
  tags: Record<string, string>;
}

/**
 * The URL ferry's runner gets for RDS: sslmode=verify-full (RDS signs each instance's
 * certificate for its endpoint with the RDS CA, whose bundle Node and Debian do not
 * carry: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html),
 * with the bundle's path when the runner has one at a known place (the EC2 runner; a
 * local runner reads FERRY_PG_CA_FILE from the operator's environment).
 */
export function runnerPostgresUrl(url: string, opts: { caFile?: string } = {}): string {
  const u = new URL(url);
  u.searchParams.set("sslmode", "verify-full");
  if (opts.caFile) u.searchParams.set("sslrootcert", opts.caFile);
  return u.toString();
}

/** The port of a source URL (not secret), or the protocol's default. */
export function portOf(url: string | undefined, fallback: number): number {
  if (!url) return fallback;
  const port = new URL(url).port;
  return port ? Number(port) : fallback;
}

export class Target extends pulumi.ComponentResource {
  readonly network: Network;
  readonly firewall: Firewall;
  readonly storage: Storage;
  readonly postgres: Postgres;
  readonly redis: Redis;
  readonly ingress: Ingress;
  readonly runner: Runner;
  readonly runnerIp?: pulumi.Output<string>;
  readonly runnerPostgresUrl: pulumi.Output<string>;
  readonly runnerRedisUrl: pulumi.Output<string>;
  /** The peering a Heroku Private Space accepts (ferry:source.access kind: private-space). */
  readonly peering?: SpacePeering;

  /**
   * The target, as a list of named steps: the network, its firewall, the bucket, the two
   * stores, the load balancer, then the runner the stages' commands run on.
   */
  constructor(name: string, args: TargetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Target", name, {}, opts);
    const child = { parent: this };
    this.network = createNetwork(name, args, child);
    this.firewall = createFirewall(name, args, this.network, child);
    this.storage = new Storage(`${name}-storage`, { tags: args.tags, finalBackupRetentionDays: args.config.target.finalBackupRetentionDays }, child);
    this.postgres = createPostgres(name, args, this.network, this.firewall, child);
    this.redis = createRedis(name, args, this.network, this.firewall, this.storage, child);
    this.ingress = createIngress(name, args, this.network, this.firewall, child);
    this.peering = peerPrivateSpace(name, args, this.network, child);
    const runner = connectRunner(name, args, this, child);
    this.runner = runner.runner;
    this.runnerIp = runner.ip;
    this.runnerPostgresUrl = runner.postgresUrl;
    this.runnerRedisUrl = runner.redisUrl;
    this.registerOutputs({ loadBalancer: this.ingress.loadBalancer.dnsName });
  }
}

type Child = pulumi.ComponentResourceOptions;

function createNetwork(name: string, { config, tags }: TargetArgs, child: Child): Network {
  const target = config.target;
  const zones = target.availabilityZones ?? [`${target.region}a`, `${target.region}b`];
  return new Network(`${name}-net`, { region: target.region, cidr: target.vpcCidr, zones, tags }, child);
}

/** Who may reach what: the load balancer, the app, the stores, the runner, and the source's pulls. */
function createFirewall(name: string, args: TargetArgs, network: Network, child: Child): Firewall {
  const { config, tags } = args;
  const target = config.target;
  return new Firewall(`${name}-fw`, {
    vpcId: network.vpc.id,
    vpcCidr: target.vpcCidr,
    listenerPort: HTTPS_PORT,
    appPorts: Object.values(target.compute.processes).flatMap((p) => (p.port === undefined ? [] : [p.port])),
    runner: target.runner.kind === "ec2",
    sourceAddress: args.sourceAddress,
    proxyFromSource: config.source.kind === "vultr",
    postgresPullsFromSource: config.source.kind === "vultr" && postgresStrategy(config.source) === "logical",
    redisPullsFromSource: redisMode(config) === "replicaof",
    sourcePostgresPort: portOf(config.secrets.sourceDatabaseUrl, POSTGRES_PORT),
    sourceRedisPort: portOf(config.secrets.sourceRedisUrl, REDIS_PORT),
    redisOnEc2: target.redis.kind === "ec2",
    runnerSshCidrs: target.runner.kind === "ec2" ? target.runner.sshCidrs : [],
    sourceClients: sourceClients(config, args.sourceAddress),
    tags,
  }, child);
}

/** Whether the source app reaches `store` from outside the VPC: the store then serves it (TLS, and a public address unless peered). */
function reachedFromSource(config: FerryConfig, store: "postgres" | "redis"): boolean {
  return config.source.access !== undefined && componentsOf(config.source).includes(store);
}

/** A Heroku Private Space's dynos reach the stores' private addresses through a peering. */
function peerPrivateSpace(name: string, { config, tags }: TargetArgs, network: Network, child: Child): SpacePeering | undefined {
  const access = config.source.access;
  if (access?.kind !== "private-space") return undefined;
  return new SpacePeering(`${name}-peering`, {
    vpcId: network.vpc.id,
    routeTableIds: [network.privateRouteTableId],
    peering: { ...access.peering, region: access.peering.region === config.target.region ? undefined : access.peering.region },
    tags,
  }, child);
}

function createPostgres(name: string, args: TargetArgs, network: Network, firewall: Firewall, child: Child): Postgres {
  const { config, tags } = args;
  return new Postgres(`${name}-pg`, {
    spec: config.target.postgres,
    strategy: postgresStrategy(config.source),
    subnetIds: network.privateSubnetIds,
    securityGroupId: firewall.postgres.id,
    password: args.secrets.postgresPassword,
    // From replicate on the target holds a copy the cutover makes the live one: the
    // protection stays on through a rollback from cutover, so a rollback that the guards
    // refuse has changed nothing (the engine may run this update before they refuse).
    holdsLiveData: atLeast(componentStage("postgres", config.stages), "replicate"),
    publicSubnetIds: reachedFromSource(config, "postgres") && storesOnInternet(config.source) ? network.publicSubnetIds : undefined,
    tags,
  }, child);
}

function createRedis(name: string, args: TargetArgs, network: Network, firewall: Firewall, storage: Storage, child: Child): Redis {
  const { config, tags } = args;
  return new Redis(`${name}-redis`, {
    spec: config.target.redis,
    region: config.target.region,
    subnetIds: network.privateSubnetIds,
    securityGroupId: firewall.redis.id,
    password: args.secrets.redisPassword,
    bucket: storage.bucket,
    parameterPrefix: `/ferry/${name}`,
    holdsLiveData: atLeast(componentStage("redis", config.stages), "replicate"),
    sourceAccess: reachedFromSource(config, "redis")
      ? { publicSubnetId: storesOnInternet(config.source) ? network.publicSubnetIds[0] : undefined }
      : undefined,
    tags,
  }, child);
}

/**
 * The certificate the load balancer serves: the one the stack names, or an ACM
 * certificate for the hostnames, validated through the Cloudflare zone.
 */
function originCertificate(name: string, { config, tags }: TargetArgs, child: Child): pulumi.Input<string> {
  const target = config.target;
  if (target.certificateArn) return target.certificateArn;
  return new OriginCertificate(`${name}-origin`, { hostnames: target.cloudflare.hostnames.map((h) => h.name), zoneId: target.cloudflare.zoneId, tags }, child).arn;
}

function createIngress(name: string, args: TargetArgs, network: Network, firewall: Firewall, child: Child): Ingress {
  const { config, tags } = args;
  const target = config.target;
  return new Ingress(`${name}-ingress`, {
    vpcId: network.vpc.id,
    subnetIds: network.publicSubnetIds,
    securityGroupId: firewall.loadBalancer.id,
    processes: target.compute.processes,
    hostnames: target.cloudflare.hostnames,
    certificateArn: originCertificate(name, args, child),
    tags,
  }, child);
}

interface ConnectedRunner {
  runner: Runner;
  ip?: pulumi.Output<string>;
  /** The stores as the runner reaches them: directly, from the VPC (EC2, with RDS's CA bundle). */
  postgresUrl: pulumi.Output<string>;
  redisUrl: pulumi.Output<string>;
}

/** Where the stages' commands run: an EC2 instance in the VPC, or the operator's machine. */
function connectRunner(name: string, args: TargetArgs, target: Target, child: Child): ConnectedRunner {
  const runner = args.config.target.runner;
  if (runner.kind === "ec2") {
    const ec2 = new Ec2Runner(`${name}-runner`, {
      spec: runner,
      subnetId: target.network.publicSubnetIds[0],
      securityGroupId: target.firewall.runner!.id,
      privateKey: args.secrets.sshPrivateKey ?? pulumi.output(""),
      tags: args.tags,
    }, child);
    target.firewall.allowHealthChecksFrom("runner", [pulumi.interpolate`${ec2.publicIp}/32`]);
    return {
      runner: ec2,
      ip: ec2.publicIp,
      postgresUrl: pulumi.secret(target.postgres.url.apply((u) => runnerPostgresUrl(u, { caFile: RDS_CA_BUNDLE }))),
      redisUrl: target.redis.url,
    };
  }
  // A local runner serves sources without data stores (config/references.ts refuses it
  // otherwise): it never reaches the private stores.
  target.firewall.allowHealthChecksFrom("operator", runner.operatorCidrs);
  return {
    runner: new LocalRunner(target),
    postgresUrl: pulumi.secret(target.postgres.url.apply((u) => runnerPostgresUrl(u))),
    redisUrl: target.redis.url,
  };
}
