// The source app's way to the target stores (ferry:source.access, issue 31): what each
// way declares on AWS, under mocked Pulumi as the program builds it. Every way opens only
// the stores the source moves, only to its own addresses, and only over TLS; a stack
// without the key declares exactly what it did before.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { sourceClients } from "../../components/target/access";
import { REDIS_TLS_PORT } from "../../components/target/firewall";
import { Redis } from "../../components/target/redis";
import * as aws from "@pulumi/aws";
import { Recorded, outputValue, plain, providerRules, resourcesOf, stackConfig, upTo, withFlags } from "../program/harness";
import { withoutPooler } from "./pooler-config";

type Raw = Record<string, string>;
const patch = (raw: Raw, key: string, change: (v: any) => void): Raw => {
  const value = JSON.parse(raw[key]);
  change(value);
  return { ...raw, [key]: JSON.stringify(value) };
};
const withAccess = (raw: Raw, access: object) => patch(raw, "ferry:source", (s) => (s.access = access));
const ec2Redis = (raw: Raw) => patch(raw, "ferry:target", (t) => (t.redis = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0123456789abcdef0" }));
const QUOTAGUARD = { kind: "static-egress", addon: "quotaguard-static", addresses: ["54.173.229.200/32", "54.175.230.252/32"] };
const SPACE = { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["10.0.128.0/20", "10.0.144.0/20"] } };

let builds = 0;
async function build(raw: Raw): Promise<{ name: string; resources: Recorded[] }> {
  const name = `acc${String(++builds).padStart(2, "0")}`;
  const config = parseConfig(raw);
  buildFerry(config, { name, transformations: [providerRules(config, name)] });
  return { name, resources: await resourcesOf(name) };
}

const ofType = (resources: Recorded[], type: string) => resources.filter((r) => r.type === type);
const one = (resources: Recorded[], type: string) => {
  const found = ofType(resources, type);
  expect(found, type).toHaveLength(1);
  return found[0];
};
/** Ingress rules by the security group role their name carries (`<name>-fw-<role>-in-<i>`). */
const ingress = (b: { name: string; resources: Recorded[] }, role: string) =>
  ofType(b.resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    .filter((r) => new RegExp(`^${b.name}-fw-${role}-in-\\d+$`).test(r.name))
    .map((r) => ({ port: r.inputs.fromPort, to: r.inputs.toPort, cidr: plain(r.inputs.cidrIpv4), group: r.inputs.securityGroupId }));
const sourceRules = (b: { name: string; resources: Recorded[] }) => [...ingress(b, "postgres-source"), ...ingress(b, "redis-source")];
const db = (b: { resources: Recorded[] }) => one(b.resources, "aws:rds/instance:Instance");
const redisBox = (b: { name: string; resources: Recorded[] }) => b.resources.find((r) => r.type === "aws:ec2/instance:Instance" && r.name.endsWith("-redis-redis"))!;

describe("sourceClients: who each way lets in, on which store ports", () => {
  const config = (raw: Raw) => parseConfig(raw);
  it("a box: its own address and its extras, Redis on EC2's TLS port", () => {
    const clients = sourceClients(config(withAccess(withoutPooler(stackConfig("prod")), { kind: "box", addresses: ["198.51.100.9/32"] })), "203.0.113.20");
    expect(clients).toMatchObject({ postgresPort: 5432, redisPort: REDIS_TLS_PORT, why: "the source box" });
    expect(clients!.cidrs).toHaveLength(2);
    expect(clients!.cidrs[1]).toBe("198.51.100.9/32");
  });

  it("an egress add-on: its addresses only; ElastiCache on its one (TLS) port", () => {
    const clients = sourceClients(config(withAccess(withoutPooler(stackConfig("staging")), SPACE)));
    expect(clients).toEqual({ cidrs: SPACE.peering.spaceCidrs, postgresPort: 5432, redisPort: 6379, why: "the peered Heroku Private Space" });
    expect(sourceClients(config(ec2Redis(withAccess(withoutPooler(stackConfig("staging")), QUOTAGUARD))))).toEqual({ cidrs: QUOTAGUARD.addresses, postgresPort: 5432, redisPort: REDIS_TLS_PORT, why: "the quotaguard-static egress addresses" });
  });

  it("opens only the stores the source moves, and nothing without the key", () => {
    const redisOnly = patch(ec2Redis(withAccess(withoutPooler(stackConfig("staging")), { kind: "published" })), "ferry:source", (s) => delete s.postgres);
    expect(sourceClients(config(redisOnly))).toEqual({ cidrs: ["0.0.0.0/0"], postgresPort: undefined, redisPort: REDIS_TLS_PORT, why: "anywhere (published: TLS and password only)" });
    expect(sourceClients(config(withoutPooler(stackConfig("staging"))))).toBeUndefined();
  });
});

describe("the example stacks declare no way in", () => {
  it.each(["staging", "prod"] as const)("%s: no source rules, RDS private, Redis without a TLS listener or public address", async (stack) => {
    const b = await build(withFlags(withoutPooler(stackConfig(stack)), upTo("cutover")));
    expect(sourceRules(b)).toEqual([]);
    expect(db(b).inputs).toMatchObject({ publiclyAccessible: false, dbSubnetGroupName: `${b.name}-pg-subnets-0a1b2c3` });
    expect(b.resources.filter((r) => r.name.endsWith("-public-subnets") || r.type === "ferry:target:SpacePeering")).toEqual([]);
    const redis = redisBox(b);
    if (redis) {
      expect(redis.inputs.associatePublicIpAddress).toBe(false);
      expect(String(redis.inputs.userData)).not.toContain("tls-port");
    }
  });
});

describe("each way, as declared on AWS", () => {
  it("a static-IP egress add-on (story 000, Postgres first): the add-on's addresses on PostgreSQL and Redis's TLS port; both stores get internet addresses", async () => {
    const b = await build(withFlags(ec2Redis(withAccess(withoutPooler(stackConfig("staging")), QUOTAGUARD)), upTo("replicate")));
    const pgGroup = one(b.resources.filter((r) => r.name === `${b.name}-fw-postgres`), "aws:ec2/securityGroup:SecurityGroup");
    expect(ingress(b, "postgres-source")).toEqual(QUOTAGUARD.addresses.map((cidr) => ({ port: 5432, to: 5432, cidr, group: `${pgGroup.name}-id` })));
    expect(ingress(b, "redis-source").map((r) => [r.port, r.cidr])).toEqual(QUOTAGUARD.addresses.map((cidr) => [REDIS_TLS_PORT, cidr]));
    // A public RDS in the public subnets: its security group alone decides who gets in.
    const publicGroup = b.resources.find((r) => r.name === `${b.name}-pg-public-subnets`)!;
    expect(publicGroup.type).toBe("aws:rds/subnetGroup:SubnetGroup");
    expect(plain(publicGroup.inputs.subnetIds)).toEqual([`${b.name}-net-public-0-id`, `${b.name}-net-public-1-id`]);
    expect(db(b).inputs).toMatchObject({ publiclyAccessible: true, dbSubnetGroupName: `${publicGroup.name}-0a1b2c3` });
    const redis = redisBox(b);
    expect(redis.inputs).toMatchObject({ associatePublicIpAddress: true, subnetId: `${b.name}-net-public-0-id` });
    expect(String(redis.inputs.userData)).toMatch(/^tls-port 6380$/m);
    expect(String(redis.inputs.userData)).toMatch(/^tls-auth-clients no$/m);
    // The plain port stays for the app and runner only.
    expect(ingress(b, "redis").every((r) => r.port === 6379 && r.cidr === undefined)).toBe(true);
  });

  it("a box (story 001's box keeping its app): its address from Vultr and its extras, /32 each", async () => {
    const b = await build(withFlags(withAccess(withoutPooler(stackConfig("prod")), { kind: "box", addresses: ["198.51.100.9/32"] }), upTo("replicate")));
    expect(sourceRules(b).map((r) => `${r.port} ${r.cidr}`).sort()).toEqual([
      "5432 198.51.100.9/32", "5432 203.0.113.20/32", `${REDIS_TLS_PORT} 198.51.100.9/32`, `${REDIS_TLS_PORT} 203.0.113.20/32`,
    ]);
    expect(db(b).inputs.publiclyAccessible).toBe(true);
  });

  it("published (story 002, Redis only): the world on Redis's TLS port only, never on its plain one; no PostgreSQL rule for a store that does not move", async () => {
    const raw = patch(ec2Redis(withAccess(withoutPooler(stackConfig("staging")), { kind: "published" })), "ferry:source", (s) => delete s.postgres);
    const b = await build(withFlags(Object.fromEntries(Object.entries(raw).filter(([k]) => k !== "ferry:sourceDatabaseUrl")), upTo("replicate")));
    expect(sourceRules(b)).toEqual([{ port: REDIS_TLS_PORT, to: REDIS_TLS_PORT, cidr: "0.0.0.0/0", group: `${b.name}-fw-redis-id` }]);
    const world = ofType(b.resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => plain(r.inputs.cidrIpv4) === "0.0.0.0/0");
    expect(world.map((r) => r.inputs.fromPort)).toEqual([REDIS_TLS_PORT]);
    expect(db(b).inputs.publiclyAccessible).toBe(false);
  });

  it("a Heroku Private Space: a peering request to the space's VPC, its dyno ranges routed from the private subnets; the stores stay private", async () => {
    const b = await build(withFlags(withAccess(withoutPooler(stackConfig("staging")), SPACE), upTo("replicate")));
    const pcx = one(b.resources, "aws:ec2/vpcPeeringConnection:VpcPeeringConnection");
    expect(pcx.name).toBe(`${b.name}-peering-pcx`);
    expect(pcx.inputs).toMatchObject({ vpcId: `${b.name}-net-vpc-id`, peerOwnerId: "847227832372", peerVpcId: "vpc-e291cc85" });
    expect(pcx.inputs.autoAccept).toBeUndefined();
    expect(pcx.inputs.peerRegion).toBeUndefined();
    const routes = ofType(b.resources, "aws:ec2/route:Route");
    expect(routes.map((r) => [r.name, r.inputs.routeTableId, r.inputs.destinationCidrBlock, r.inputs.vpcPeeringConnectionId])).toEqual(
      SPACE.peering.spaceCidrs.map((cidr, i) => [`${b.name}-peering-route-0-${i}`, `${b.name}-net-private-id`, cidr, `${pcx.name}-id`]),
    );
    expect(sourceRules(b).map((r) => [r.port, r.cidr])).toEqual([
      ...SPACE.peering.spaceCidrs.map((c) => [5432, c]), ...SPACE.peering.spaceCidrs.map((c) => [6379, c]),
    ]);
    expect(db(b).inputs.publiclyAccessible).toBe(false);
    expect(one(b.resources, "aws:elasticache/replicationGroup:ReplicationGroup").inputs.transitEncryptionEnabled).toBe(true);
  });
});

describe("the URL the source app gets for Redis (what a repoint writes into its config var)", () => {
  const spec = { kind: "ec2" as const, instanceType: "t4g.small", ami: "ami-0123456789abcdef0", volumeGb: 20 };
  const redis = (name: string, over: Partial<ConstructorParameters<typeof Redis>[1]>) => new Redis(name, {
    spec, region: "us-east-1", subnetIds: ["subnet-private"], securityGroupId: "sg-redis", password: "redis-Pw-0123456789ab",
    bucket: new aws.s3.Bucket(`${name}-bucket`, {}), parameterPrefix: `/ferry/${name}`, holdsLiveData: false, tags: {}, ...over,
  });

  it("Redis on EC2 reached through a peering: rediss:// on the TLS port at its private address", async () => {
    const r = redis("accurl1", { sourceAccess: {} });
    expect(await outputValue(r.sourceUrl!)).toBe("rediss://:redis-Pw-0123456789ab@10.60.64.10:6380/0");
    // Inside the VPC nothing changes: the app and runner keep the plain port.
    expect(await outputValue(r.url)).toBe("redis://:redis-Pw-0123456789ab@10.60.64.10:6379/0");
  });

  it("Redis on EC2 published: rediss:// on the TLS port at its public DNS name, the kind of host Heroku Redis's URLs name", async () => {
    const r = redis("accurl4", { sourceAccess: { publicSubnetId: "subnet-public" } });
    expect(await outputValue(r.sourceUrl!)).toBe("rediss://:redis-Pw-0123456789ab@ec2-198-51-100-7.compute-1.amazonaws.com:6380/0");
    expect(await outputValue(r.url)).toBe("redis://:redis-Pw-0123456789ab@10.60.64.10:6379/0");
  });

  it("ElastiCache: its own TLS endpoint, and no source URL without ferry:source.access", async () => {
    const cache = redis("accurl2", { spec: { kind: "elasticache", nodeType: "cache.t4g.small", replicas: 0, snapshotRetentionDays: 7 }, sourceAccess: {} });
    expect(await outputValue(cache.sourceUrl!)).toBe("rediss://:redis-Pw-0123456789ab@master.accurl2-cache.cache.amazonaws.com:6379/0");
    expect(redis("accurl3", {}).sourceUrl).toBeUndefined();
  });
});
