// ferry-store-tls and ferry-store-auth (issue 31): each way the source app may reach the
// target stores (ferry:source.access) is refused when configured insecurely: a store that
// accepts plain text from outside the VPC, or any client without a password. And the two
// older rules' exemptions for a declared way in (rds-safe, open-ports) hold only for it.
import { describe, expect, it } from "vitest";
import { redisUserData } from "../../components/target/userData";
import { validateOpenPorts } from "../../policy/open-ports";
import { validateRdsSafe } from "../../policy/rds-safe";
import { validateStoreAuth, validateStoreTls } from "../../policy/store-access";
import { UNKNOWN_STRING, resourceArgs, violations } from "./args";
import { herokuConfig, vultrConfig, writeStackFile } from "./stacks";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const PARAMS = "aws:rds/parameterGroup:ParameterGroup";
const CACHE = "aws:elasticache/replicationGroup:ReplicationGroup";
const INSTANCE = "aws:ec2/instance:Instance";
const EC2_REDIS = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0123456789abcdef0" };

type Stack = Record<string, unknown>;
function stack(base: Stack, access?: object, redis?: object): string {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, Record<string, unknown>>;
  if (access) copy["ferry:source"].access = access;
  if (redis) copy["ferry:target"].redis = redis;
  return writeStackFile(copy);
}
const STACKS = {
  private: stack(herokuConfig()),
  egress: stack(herokuConfig(), { kind: "static-egress", addon: "quotaguard-static", addresses: ["54.173.229.200/32"] }, EC2_REDIS),
  published: stack(herokuConfig(), { kind: "published" }, EC2_REDIS),
  spaceEc2: stack(herokuConfig(), { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["10.0.128.0/20"] } }, EC2_REDIS),
  box: stack(vultrConfig(), { kind: "box" }, EC2_REDIS),
};

const run = (validate: typeof validateStoreTls, type: string, props: Record<string, unknown>, stackFile: string = STACKS.private) =>
  violations((report) => validate(resourceArgs(type, "r", props, { stackFile }), report));
const tls = (type: string, props: Record<string, unknown>, stackFile?: string) => run(validateStoreTls, type, props, stackFile);
const auth = (type: string, props: Record<string, unknown>, stackFile?: string) => run(validateStoreAuth, type, props, stackFile);

// What the program declares (components/target/postgres.ts, redis.ts, firewall.ts), in short.
const FORCED = { family: "postgres16", parameters: [{ name: "rds.force_ssl", value: "1", applyMethod: "immediate" }, { name: "log_min_duration_statement", value: "1000" }] };
const CACHE_OK = { transitEncryptionEnabled: true, authToken: "redis-Pw-0123456789ab", atRestEncryptionEnabled: true };
const USER_DATA = redisUserData({ region: "us-east-1", passwordParameter: "/ferry/x/redis-password", bucket: "b", tlsPort: 6380 });

describe("ferry-store-tls", () => {
  it("passes what the program declares for each way in", () => {
    expect(tls(PARAMS, FORCED)).toEqual([]);
    expect(tls(CACHE, CACHE_OK)).toEqual([]);
    for (const file of Object.values(STACKS)) {
      expect(tls(INGRESS, { ipProtocol: "tcp", fromPort: 6380, toPort: 6380, cidrIpv4: "54.173.229.200/32" }, file)).toEqual([]);
      expect(tls(INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, referencedSecurityGroupId: "sg-app" }, file)).toEqual([]);
    }
    // Published: the world on Redis on EC2's TLS port.
    expect(tls(INGRESS, { ipProtocol: "tcp", fromPort: 6380, toPort: 6380, cidrIpv4: "0.0.0.0/0" }, STACKS.published)).toEqual([]);
  });

  it.each([
    ["PostgreSQL without rds.force_ssl", PARAMS, { family: "postgres16", parameters: [{ name: "log_min_duration_statement", value: "1000" }] }, /rds\.force_ssl is not 1/],
    ["PostgreSQL with rds.force_ssl 0", PARAMS, { family: "postgres17", parameters: [{ name: "rds.force_ssl", value: "0" }] }, /rds\.force_ssl is not 1/],
    ["ElastiCache without encryption in transit", CACHE, { ...CACHE_OK, transitEncryptionEnabled: false }, /transitEncryptionEnabled is false/],
    ["ElastiCache in 'preferred' mode", CACHE, { ...CACHE_OK, transitEncryptionMode: "preferred" }, /"preferred" still accepts plain-text clients/],
  ])("fails %s", (_what, type, props, message) => {
    const found = tls(type, props);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it.each([
    ["an egress add-on's address", STACKS.egress, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "54.173.229.200/32" }, /54\.173\.229\.200\/32 reaches Redis on EC2's plain-text port 6379/],
    ["the world (published)", STACKS.published, { ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }, /0\.0\.0\.0\/0 reaches Redis on EC2's plain-text port/],
    ["a peered space's private range (outside the VPC all the same)", STACKS.spaceEc2, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "10.0.128.0/20" }, /10\.0\.128\.0\/20 reaches/],
    ["the box's address, by a port range", STACKS.box, { ipProtocol: "tcp", fromPort: 6000, toPort: 7000, cidrIpv4: "203.0.113.20/32" }, /203\.0\.113\.20\/32 reaches/],
    ["an IPv6 range", STACKS.egress, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv6: "2001:db8::/32" }, /2001:db8::\/32 reaches/],
  ])("fails Redis on EC2's plain-text port open to %s", (_what, file, props, message) => {
    const found = tls(INGRESS, props, file);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it("lets the VPC's own ranges reach the plain port, and ElastiCache's one (TLS) port anyone the group allows", () => {
    expect(tls(INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "10.60.16.0/20" }, STACKS.egress)).toEqual([]);
    expect(tls(INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "10.0.128.0/20" }, STACKS.private)).toEqual([]);
  });

  it("refuses to judge a range on Redis's plain port when the stack config cannot be read", () => {
    expect(tls(INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "54.173.229.200/32" }, "/nonexistent/Pulumi.test.yaml"))
      .toEqual([expect.stringMatching(/^cannot read the ferry stack config/)]);
  });
});

describe("ferry-store-auth", () => {
  it("passes ElastiCache with a token or RBAC users, and the program's Redis on EC2 (requirepass from SSM)", () => {
    expect(auth(CACHE, CACHE_OK)).toEqual([]);
    expect(auth(CACHE, { transitEncryptionEnabled: true, userGroupIds: ["ferry-users"] })).toEqual([]);
    expect(auth(INSTANCE, { userData: USER_DATA })).toEqual([]);
    expect(auth(INSTANCE, { userData: "#!/bin/bash\napt-get install -y nginx\n" })).toEqual([]);
  });

  it.each([
    ["ElastiCache without a token", CACHE, { transitEncryptionEnabled: true }, /no authToken and no userGroupIds/],
    ["ElastiCache with an empty token", CACHE, { transitEncryptionEnabled: true, authToken: "", userGroupIds: [] }, /no authToken and no userGroupIds/],
    ["Redis on EC2 installed without requirepass", INSTANCE, { userData: USER_DATA.replace(/^printf 'requirepass.*$/m, "") }, /installs redis-server without requirepass/],
  ])("fails %s", (_what, type, props, message) => {
    const found = auth(type, props);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it("waits for a token computed at pulumi up", () => {
    expect(auth(CACHE, { transitEncryptionEnabled: true, authToken: UNKNOWN_STRING })).toEqual([]);
  });
});

describe("the older rules' exemptions hold only for a declared way in", () => {
  const publicDb = { engine: "postgres", storageEncrypted: true, publiclyAccessible: true, backupRetentionPeriod: 7, skipFinalSnapshot: false };
  const rds = (file: string) => violations((report) => validateRdsSafe(resourceArgs("aws:rds/instance:Instance", "db", publicDb, { stackFile: file }), report));
  const ports = (props: Record<string, unknown>, file: string) => violations((report) => validateOpenPorts(resourceArgs(INGRESS, "rule", props, { stackFile: file }), report));

  it("ferry-rds-safe: a public RDS only for an allowlisted or published source", () => {
    expect(rds(STACKS.egress)).toEqual([]);
    expect(rds(STACKS.box)).toEqual([]);
    expect(rds(STACKS.published)).toEqual([]);
    for (const file of [STACKS.private, STACKS.spaceEc2, "/nonexistent/Pulumi.test.yaml"]) expect(rds(file)).toEqual([expect.stringMatching(/publiclyAccessible is true/)]);
  });

  it("ferry-no-open-data-ports: the world on PostgreSQL only when published; never on Redis's plain port", () => {
    const pgWorld = { ipProtocol: "tcp", fromPort: 5432, toPort: 5432, cidrIpv4: "0.0.0.0/0" };
    expect(ports(pgWorld, STACKS.published)).toEqual([]);
    for (const file of [STACKS.egress, STACKS.private, "/nonexistent/Pulumi.test.yaml"]) expect(ports(pgWorld, file)).toEqual([expect.stringMatching(/reaches port 5432/)]);
    expect(ports({ ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }, STACKS.published)).toEqual([expect.stringMatching(/reaches port 6379[,;]/)]);
  });
});
