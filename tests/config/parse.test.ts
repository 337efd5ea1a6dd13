// parseConfig / validateStages / planStages: pure, no Pulumi runtime involved.
import { describe, expect, it } from "vitest";
import { FerryConfigError, parseConfig, planStages, postgresStrategy, proxyWay } from "../../config";
import { FAKE_SECRETS, stackConfig, upTo, withFlags } from "../program/stacks";

const heroku = () => stackConfig("staging");
const vultr = () => stackConfig("prod");

function patchJson(raw: Record<string, string>, key: string, patch: (value: any) => void): Record<string, string> {
  const value = JSON.parse(raw[key]);
  patch(value);
  return { ...raw, [key]: JSON.stringify(value) };
}

function without(raw: Record<string, string>, key: string): Record<string, string> {
  const copy = { ...raw };
  delete copy[key];
  return copy;
}

describe("parseConfig accepts the example stacks", () => {
  it("parses staging (heroku) and prod (vultr) with defaults filled in", () => {
    const staging = parseConfig(heroku());
    expect(staging.source.kind).toBe("heroku");
    expect(staging.target.postgres.multiAz).toBe(false);
    expect(staging.stages.hold).toEqual({});
    const prod = parseConfig(vultr());
    expect(prod.source.kind).toBe("vultr");
    expect(prod.target.runner.kind).toBe("ec2");
  });

  it("a Heroku source's Postgres moves by capture (the staging example) or dump (the default); a box's keeps logical", () => {
    expect(postgresStrategy(parseConfig(heroku()).source)).toBe("capture");
    expect(postgresStrategy(parseConfig(patchJson(heroku(), "ferry:source", (s) => (s.postgres.strategy = "dump"))).source)).toBe("dump");
    expect(postgresStrategy(parseConfig(patchJson(heroku(), "ferry:source", (s) => delete s.postgres.strategy)).source)).toBe("dump");
    expect(postgresStrategy(parseConfig(vultr()).source)).toBe("logical");
  });

  it("treats an empty optional secret (Pulumi.yaml default) as not set", () => {
    // Optional in the schema, required for a stack with an EC2 runner: "" is not a key.
    expect(() => parseConfig({ ...heroku(), "ferry:sshPrivateKey": "" })).toThrow(/^ferry:sshPrivateKey: required to run commands on the ec2 runner/);
  });
});

// Each case: a broken stack and the key its one-line error must name.
const INVALID: [string, () => Record<string, string>, RegExp][] = [
  ["unknown top-level key", () => ({ ...heroku(), "ferry:replicat": "true" }), /^ferry:replicat: unknown key/],
  ["unknown nested key", () => patchJson(heroku(), "ferry:target", (t) => (t.postgres.iops = 3000)), /ferry:target\.postgres\.iops: unknown key/],
  ["wrong type for a flag", () => ({ ...heroku(), "ferry:replicate": "yes" }), /ferry:replicate: expected true or false/],
  ["wrong type nested", () => patchJson(heroku(), "ferry:target", (t) => (t.postgres.storageGb = "lots")), /ferry:target\.postgres\.storageGb: expected a whole number/],
  ["final backups kept no day", () => patchJson(heroku(), "ferry:target", (t) => (t.finalBackupRetentionDays = 0)), /^ferry:target\.finalBackupRetentionDays: expected a whole number from 1 to 36500$/],
  ["bad instance class", () => patchJson(heroku(), "ferry:target", (t) => (t.postgres.instanceClass = "m5.large")), /ferry:target\.postgres\.instanceClass: expected an RDS instance class/],
  ["missing source", () => without(heroku(), "ferry:source"), /^ferry:source: required/],
  ["missing Heroku API key", () => without(heroku(), "ferry:herokuApiKey"), /^ferry:herokuApiKey: required .*--secret/],
  ["missing source database URL", () => without(heroku(), "ferry:sourceDatabaseUrl"), /^ferry:sourceDatabaseUrl: required/],
  ["missing SSH key for vultr", () => without(vultr(), "ferry:sshPrivateKey"), /^ferry:sshPrivateKey: required/],
  ["missing Cloudflare token", () => without(heroku(), "ferry:cloudflareApiToken"), /ferry:cloudflareApiToken: expected a Cloudflare API token/],
  ["source URL of the wrong scheme", () => ({ ...heroku(), "ferry:sourceDatabaseUrl": "mysql://u:p@h/db" }), /ferry:sourceDatabaseUrl: expected a postgres or postgresql URL/],
  ["stage skipped (proxy without replicate)", () => withFlags(heroku(), { proxy: true }), /^ferry:proxy: requires ferry:replicate/],
  ["cutover without replicate", () => withFlags(heroku(), { cutover: true, proxy: true }), /^ferry:cutover: requires ferry:replicate/],
  ["decommission without cutover", () => withFlags(heroku(), { replicate: true, proxy: true, decommission: true }), /^ferry:decommission: requires ferry:cutover/],
  ["percent out of range", () => withFlags(heroku(), { ...upTo("proxy"), trafficPercent: 101 }), /^ferry:trafficPercent: expected a whole number from 0 to 100/],
  ["percent without proxy", () => withFlags(heroku(), { replicate: true, trafficPercent: 20 }), /^ferry:trafficPercent: only applies once ferry:proxy is true/],
  ["weighted split on a box not declared behind Cloudflare", () => withFlags(patchJson(vultr(), "ferry:source", (s) => (s.weightedSplit = false)), { ...upTo("proxy"), trafficPercent: 40 }), /^ferry:trafficPercent: this box's old nginx forwards all traffic \(0 or 100\); for a Cloudflare weighted split first, set weightedSplit: true in ferry:source$/],
  ["box stores cut over while the app is held at a 40% split", () => withFlags(patchJson(vultr(), "ferry:source", (s) => (s.weightedSplit = true)), { ...upTo("cutover", { trafficPercent: 40 }), hold: { app: "proxy" } }), /^ferry:source\.access: required to cut over postgres and redis while the source app still serves \(AWS gets 40% of requests\): declare how it reaches the private target stores \(kind: box\)/],
  ["unknown component name", () => withFlags(heroku(), { hold: { mysql: "provision" } }), /ferry:hold\.mysql: unknown component/],
  ["component the source lacks", () => patchJson(withFlags(vultr(), { hold: { redis: "replicate" } }), "ferry:source", (s) => (s.services = ["postgres", "nginx", "app"])), /^ferry:hold\.redis: this vultr source has no redis/],
  ["stage a component does not have", () => withFlags(heroku(), { hold: { postgres: "proxy" } }), /^ferry:hold\.postgres: postgres has no proxy stage/],
  ["app cut over before its database", () => withFlags(heroku(), { ...upTo("cutover"), hold: { postgres: "replicate" } }), /^ferry:hold\.postgres: the app cannot be cut over while postgres is held at replicate/],
  ["data cut over while the source app still serves", () => withFlags(heroku(), { ...upTo("cutover", { trafficPercent: 30 }), hold: { app: "proxy" } }), /^ferry:source\.access: required to cut over postgres and redis while the source app still serves \(AWS gets 30% of requests\): declare how it reaches the private target stores \(kind: static-egress, published or private-space\)/],
  ["Postgres cut over at provision with the dynos on Heroku and no declared way in", () => withFlags(heroku(), { ...upTo("cutover", { trafficPercent: 100 }), hold: { app: "provision", redis: "replicate" } }), /^ferry:source\.access: required to cut over postgres while the source app still serves \(AWS gets 0% of requests\)/],
  ["a way in for a box on a Heroku source", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "box" })), /^ferry:source\.access\.kind: expected kind: static-egress, published or private-space/],
  ["a Heroku way in on a box", () => patchJson(vultr(), "ferry:source", (s) => (s.access = { kind: "published" })), /^ferry:source\.access\.kind: expected kind: box/],
  ["an egress add-on that proxies HTTP only", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "static-egress", addon: "fixie", addresses: ["54.173.229.200/32"] })), /^ferry:source\.access\.addon: allowed: quotaguard-static, fixie-socks/],
  ["an egress add-on without its addresses", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "static-egress", addon: "quotaguard-static", addresses: [] })), /^ferry:source\.access\.addresses: list the add-on's static addresses/],
  ["an allowlisted range instead of an address", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "static-egress", addon: "quotaguard-static", addresses: ["0.0.0.0/0"] })), /^ferry:source\.access\.addresses\[0\]: expected one IPv4 address as a \/32/],
  ["a box's extra address that is a range", () => patchJson(vultr(), "ferry:source", (s) => (s.access = { kind: "box", addresses: ["198.51.100.0/24"] })), /^ferry:source\.access\.addresses\[0\]: expected one IPv4 address as a \/32/],
  ["an unknown key in a way in", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "published", tls: false })), /^ferry:source\.access\.tls: unknown key$/],
  ["published stores with ElastiCache, which has no public endpoint", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "published" })), /^ferry:source\.access\.kind: published gives the stores internet addresses, and ElastiCache has none/],
  ["a peered space without its account id", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "private-space", peering: { vpcId: "vpc-e291cc85", spaceCidrs: ["10.0.128.0/20"] } })), /^ferry:source\.access\.peering\.accountId: expected the space's AWS account id/],
  ["a peered space with a public range", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["54.0.0.0/16"] } })), /^ferry:source\.access\.peering\.spaceCidrs\[0\]: expected an RFC 1918 IPv4 CIDR/],
  ["a peered space overlapping the stack's VPC", () => patchJson(heroku(), "ferry:source", (s) => (s.access = { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["10.0.128.0/20", "10.60.16.0/20"] } })), /^ferry:source\.access\.peering\.spaceCidrs\[1\]: 10\.60\.16\.0\/20 overlaps ferry:target\.vpcCidr \(10\.60\.0\.0\/16\)/],
  ["heroku app cut over from a 10% split", () => withFlags(heroku(), upTo("cutover", { trafficPercent: 10 })), /^ferry:trafficPercent: 10 at ferry:cutover; set it to 100 and run `pulumi up` before ferry:cutover, so every request reaches AWS before the write window opens \(below 100 the load balancer keeps sending 90% to the stopped source\)$/],
  ["heroku app cut over with no share ever moved (the stack file's 0)", () => withFlags(heroku(), upTo("cutover", { trafficPercent: 0 })), /^ferry:trafficPercent: 0 at ferry:cutover; set it to 100/],
  ["box behind a weighted split cut over from 50%", () => withFlags(vultr(), upTo("cutover", { trafficPercent: 50 })), /^ferry:trafficPercent: 50 at ferry:cutover; set it to 100/],
  ["decommission from a split below 100", () => withFlags(heroku(), upTo("decommission", { trafficPercent: 90 })), /^ferry:trafficPercent: 90 at ferry:cutover/],
  ["box with schedules but no crontab named", () => patchJson(vultr(), "ferry:source", (s) => delete s.cron), /^ferry:source\.cron: required with ferry:target\.compute\.schedules: name the crontab the jobs come from/],
  ["box crontab named both ways", () => patchJson(vultr(), "ferry:source", (s) => (s.cron = { user: "mastodon", file: "/etc/cron.d/x" })), /^ferry:source\.cron: expected \{user: NAME\}/],
  ["physical standby on RDS", () => patchJson(vultr(), "ferry:source", (s) => (s.postgres.strategy = "physical")), /^ferry:source\.postgres\.strategy: physical needs a self-run PostgreSQL target/],
  ["logical replication from Heroku Postgres", () => patchJson(heroku(), "ferry:source", (s) => (s.postgres.strategy = "logical")), /^ferry:source\.postgres\.strategy: Heroku Postgres grants no REPLICATION role: allowed: dump \(.*\) or capture \(.*\)$/],
  ["change capture on a box", () => patchJson(vultr(), "ferry:source", (s) => (s.postgres.strategy = "capture")), /^ferry:source\.postgres\.strategy: capture is for sources that grant no REPLICATION role \(Heroku Postgres\); a box grants it, so use logical/],
  ["hostname no Heroku app serves", () => patchJson(heroku(), "ferry:target", (t) => t.cloudflare.hostnames.push({ name: "other.example.com", process: "web" })), /ferry:target\.cloudflare\.hostnames\[2\]\.name: "other\.example\.com" is not in any ferry:source\.apps/],
  ["hostname served by an unknown process", () => patchJson(heroku(), "ferry:target", (t) => (t.cloudflare.hostnames[0].process = "api")), /ferry:target\.cloudflare\.hostnames\[0\]\.process: "api" is not in ferry:target\.compute\.processes/],
  ["a process with a port but no hostname (a target group no listener uses: ECS refuses the service)", () => patchJson(heroku(), "ferry:target", (t) => (t.compute.processes.sidekiq.port = 7000)), /^ferry:target\.compute\.processes\.sidekiq\.port: no hostname in ferry:target\.cloudflare\.hostnames is served by sidekiq, so its target group would have no listener and ECS refuses the service; remove the port or add a hostname for it$/],
  ["a box without its recorded SSH host key (a new runner's known_hosts is empty)", () => patchJson(vultr(), "ferry:source", (s) => delete s.ssh.hostKey), /^ferry:source\.ssh\.hostKey: expected the box's public SSH host key \(ferry init --box records it/],
  ["a local runner for stores it cannot reach (RDS and ElastiCache are private; the program declares no way in for the operator's machine)", () => patchJson(vultr(), "ferry:target", (t) => (t.runner = { kind: "local", operatorCidrs: ["203.0.113.7/32"] })), /^ferry:target\.runner\.kind: a local runner cannot reach the private RDS and Redis the postgres and redis steps use .*use kind: ec2/],
  ["an operator's port forward the program does not declare", () => patchJson(vultr(), "ferry:target", (t) => (t.runner = { kind: "local", operatorCidrs: ["203.0.113.7/32"], postgresAddress: "localhost:15432" })), /^ferry:target\.runner\.postgresAddress: /],
  ["Heroku data store on an unknown app", () => patchJson(heroku(), "ferry:source", (s) => (s.postgres.app = "masto-api")), /ferry:source\.postgres\.app: "masto-api" is not one of ferry:source\.apps/],
  ["wrong source kind", () => patchJson(heroku(), "ferry:source", (s) => (s.kind = "aws")), /ferry:source\.kind: expected kind: heroku or kind: vultr/],
  ["SSH open to the world on the runner", () => patchJson(vultr(), "ferry:target", (t) => (t.runner.sshCidrs = ["0.0.0.0/0"])), /ferry:target\.runner\.sshCidrs: 0\.0\.0\.0\/0 opens SSH/],
  ["password too short", () => ({ ...heroku(), "ferry:targetPostgresPassword": "short" }), /ferry:targetPostgresPassword: expected a password of 16\+ characters/],
  ["not JSON where an object is expected", () => ({ ...heroku(), "ferry:target": "{region: us-east-1" }), /^ferry:target: not valid JSON/],
  ["zone outside the region", () => patchJson(heroku(), "ferry:target", (t) => (t.availabilityZones = ["eu-west-1a", "eu-west-1b"])), /ferry:target\.availabilityZones: every zone must be in ferry:target\.region/],
  ["Heroku custom domain whose live CNAME is not adopted", () => patchJson(heroku(), "ferry:target", (t) => delete t.cloudflare.hostnames[1].record), /^ferry:target\.cloudflare\.hostnames\[1\]\.record: required: Heroku serves streaming\.staging\.social\.example\.com/],
  ["vultr proxy without the site's nginx file", () => patchJson(withFlags(vultr(), upTo("proxy")), "ferry:source", (s) => delete s.nginx), /^ferry:source\.nginx: required for the vultr proxy stage/],
  ["adopted record without its live TTL", () => patchJson(vultr(), "ferry:target", (t) => delete t.cloudflare.hostnames[0].record.ttl), /^ferry:target\.cloudflare\.hostnames\[0\]\.record\.ttl: expected the record's TTL/],
  ["adopted proxied record with a TTL Cloudflare does not keep", () => patchJson(vultr(), "ferry:target", (t) => (t.cloudflare.hostnames[0].record.ttl = 300)), /^ferry:target\.cloudflare\.hostnames\[0\]\.record\.ttl: a proxied record's TTL is 1/],
];

describe("parseConfig rejects bad stacks with one line naming the key", () => {
  it.each(INVALID)("%s", (_label, raw, expected) => {
    let error: unknown;
    try {
      parseConfig(raw());
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FerryConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(expected);
    expect(message).not.toContain("\n");
    // A config error never echoes a secret back.
    for (const secret of Object.values(FAKE_SECRETS)) expect(message).not.toContain(secret);
  });

  it("has at least 15 distinct cases", () => {
    expect(new Set(INVALID.map(([label]) => label)).size).toBeGreaterThanOrEqual(15);
  });
});

// Stores first, the app later or never (issue 31): with a way in declared, a store cuts
// over while the source app still serves; what pointing that app at the moved store takes
// (the RDS CA it verifies with, a box's env file and units) is refused in one line when missing.
describe("ferry:source.access: a store's cutover while the source app stays", () => {
  const CA_FILE = "/app/config/rds-global-bundle.pem";
  const QUOTAGUARD = { kind: "static-egress", addon: "quotaguard-static", addresses: ["54.173.229.200/32", "54.175.230.252/32"] };
  const ec2Redis = (raw: Record<string, string>) => patchJson(raw, "ferry:target", (t) => (t.redis = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0123456789abcdef0" }));
  const withAccess = (raw: Record<string, string>, access: object) => patchJson(raw, "ferry:source", (s) => (s.access = access));
  const PG_FIRST = { ...upTo("cutover"), hold: { app: "provision", redis: "replicate" } };

  it("story 000: Postgres first with every dyno on Heroku, through a static-IP add-on and the RDS CA the app carries", () => {
    const config = parseConfig(withFlags(ec2Redis(withAccess(heroku(), { ...QUOTAGUARD, postgresCaFile: CA_FILE })), PG_FIRST));
    expect(config.source.access).toEqual({ ...QUOTAGUARD, postgresCaFile: CA_FILE });
    expect(planStages(config).components).toEqual({ postgres: "cutover", redis: "replicate", app: "provision" });
    expect(planStages(config).nextStep).toMatch(/^Stores cut over; the Heroku app serves from them\. Next, .*releases the moved stores' add-ons only/);
    // The same order without the declaration names the missing key (the INVALID table above).
    expect(() => parseConfig(withFlags(ec2Redis(heroku()), PG_FIRST))).toThrow(/^ferry:source\.access: required/);
  });

  it("Postgres without the RDS CA's path: refused in one line naming the key, before anything moves", () => {
    expect(() => parseConfig(withFlags(ec2Redis(withAccess(heroku(), QUOTAGUARD)), PG_FIRST)))
      .toThrow(/^ferry:source\.access\.postgresCaFile: required to cut over postgres with ferry:source\.access declared \(the source app then serves from the moved stores\): commit the RDS CA bundle/);
    // Also once AWS takes every request: the dynos serve again from RDS after the window.
    expect(() => parseConfig(withFlags(ec2Redis(withAccess(heroku(), QUOTAGUARD)), upTo("cutover"))))
      .toThrow(/^ferry:source\.access\.postgresCaFile: required to cut over postgres and redis /);
    expect(() => parseConfig(withFlags(ec2Redis(withAccess(heroku(), { ...QUOTAGUARD, postgresCaFile: "config/rds.pem" })), upTo("replicate"))))
      .toThrow(/^ferry:source\.access\.postgresCaFile: expected an absolute path to the RDS CA bundle/);
  });

  it("story 002: Redis only, published, the app never leaves Heroku: no CA needed", () => {
    const redisOnly = patchJson(ec2Redis(withAccess(heroku(), { kind: "published" })), "ferry:source", (s) => delete s.postgres);
    const config = parseConfig(without(withFlags(redisOnly, { ...upTo("cutover"), hold: { app: "provision" } }), "ferry:sourceDatabaseUrl"));
    expect(planStages(config).components).toEqual({ redis: "cutover", app: "provision" });
  });

  it("a peered Private Space keeps ElastiCache and cuts over while the app takes 30%", () => {
    const access = { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["10.0.128.0/20", "10.0.144.0/20"] }, postgresCaFile: CA_FILE };
    const config = parseConfig(withFlags(withAccess(heroku(), access), { ...upTo("cutover", { trafficPercent: 30 }), hold: { app: "proxy" } }));
    expect(config.target.redis.kind).toBe("elasticache");
    expect(planStages(config).trafficPercent).toBe(30);
  });

  it("a box's stores while its app still takes 40% of requests: its env file is required, in one line", () => {
    const split = patchJson(vultr(), "ferry:source", (s) => (s.weightedSplit = true));
    const flags = { ...upTo("cutover", { trafficPercent: 40 }), hold: { app: "proxy" } };
    expect(parseConfig(withFlags(withAccess(split, { kind: "box" }), upTo("replicate"))).source.access).toEqual({ kind: "box", addresses: [], postgresVar: "DATABASE_URL", redisVar: "REDIS_URL" });
    expect(() => parseConfig(withFlags(withAccess(split, { kind: "box", postgresCaFile: "/etc/ssl/rds.pem" }), flags))).toThrow(/^ferry:source\.access\.envFile: required to cut over postgres and redis /);
    const envFile = "/home/mastodon/live/.env.production";
    expect(parseConfig(withFlags(withAccess(split, { kind: "box", postgresCaFile: "/etc/ssl/rds.pem", envFile }), flags)).source.access).toMatchObject({ envFile });
  });

  it("still refuses the app's cutover before its stores: a way in does not make a copy the live data", () => {
    expect(() => parseConfig(withFlags(ec2Redis(withAccess(heroku(), { ...QUOTAGUARD, postgresCaFile: CA_FILE })), { ...upTo("cutover", { trafficPercent: 100 }), hold: { redis: "replicate" } })))
      .toThrow(/^ferry:hold\.redis: the app cannot be cut over while redis is held at replicate/);
  });
});

describe("planStages", () => {
  it("says what the next flag does at every stage", () => {
    const provision = planStages(parseConfig(heroku()));
    expect(provision.active).toEqual(["provision"]);
    expect(provision.components).toEqual({ postgres: "provision", redis: "provision", app: "provision" });
    expect(provision.nextStep).toMatch(/ferry:replicate true.*postgres \(capture\) and redis \(copy\) into AWS; the source stays writable and gets ferry's change-capture triggers/);
    const dumped = planStages(parseConfig(patchJson(heroku(), "ferry:source", (s) => (s.postgres.strategy = "dump"))));
    expect(dumped.nextStep).toMatch(/postgres \(dump\) and redis \(copy\) into AWS; the source is only read\./);

    const proxy = planStages(parseConfig(withFlags(heroku(), upTo("proxy", { trafficPercent: 25 }))));
    expect(proxy.components).toEqual({ postgres: "replicate", redis: "replicate", app: "proxy" });
    expect(proxy.trafficPercent).toBe(25);
    expect(proxy.nextStep).toMatch(/AWS receives 25% of requests/);

    const vultrReplicate = planStages(parseConfig(withFlags(vultr(), upTo("replicate"))));
    expect(vultrReplicate.nextStep).toMatch(/old nginx forward/);
    expect(planStages(parseConfig(withFlags(vultr(), upTo("decommission", { trafficPercent: 100 })))).nextStep).toMatch(/complete/);
  });

  it("splits a box behind Cloudflare by weight below 100%, then lets its nginx forward everything", () => {
    const splitBox = () => patchJson(vultr(), "ferry:source", (s) => (s.weightedSplit = true));
    const forwardBox = () => patchJson(vultr(), "ferry:source", (s) => (s.weightedSplit = false));
    const split = parseConfig(withFlags(splitBox(), upTo("proxy", { trafficPercent: 30 })));
    expect(proxyWay(split)).toBe("split");
    expect(planStages(split)).toMatchObject({ trafficPercent: 30, nextStep: expect.stringMatching(/30% of requests through a Cloudflare load balancer.*at 100 the old nginx forwards/) });
    // 0 on a split box is the way back: nothing to AWS, not everything.
    expect([proxyWay(parseConfig(withFlags(splitBox(), upTo("proxy")))), planStages(parseConfig(withFlags(splitBox(), upTo("proxy")))).trafficPercent]).toEqual(["split", 0]);
    const forwards = [withFlags(splitBox(), upTo("proxy", { trafficPercent: 100 })), withFlags(splitBox(), upTo("cutover", { trafficPercent: 100 })), withFlags(forwardBox(), upTo("cutover")), withFlags(forwardBox(), upTo("proxy")), withFlags(forwardBox(), upTo("proxy", { trafficPercent: 100 }))];
    for (const raw of forwards) {
      const config = parseConfig(raw);
      expect([proxyWay(config), planStages(config).trafficPercent]).toEqual(["forward", 100]);
    }
    expect(proxyWay(parseConfig(withFlags(heroku(), upTo("proxy", { trafficPercent: 100 }))))).toBe("split");
  });

  it("lets Postgres move first while Redis and the app hold (a Heroku app whose database moves first)", () => {
    const config = parseConfig(withFlags(heroku(), { ...upTo("cutover", { trafficPercent: 100 }), hold: { redis: "replicate", app: "proxy" } }));
    const plan = planStages(config);
    expect(plan.components).toEqual({ postgres: "cutover", redis: "replicate", app: "proxy" });
    expect(plan.nextStep).toMatch(/Held back: redis at replicate \(ferry:hold\.redis\), app at proxy/);
  });

  it("derives REPLICAOF only for a self-managed Redis going to Redis on EC2", () => {
    expect(planStages(parseConfig(vultr())).nextStep).toMatch(/postgres \(logical\) and redis \(replicaof\)/);
    const toElastiCache = patchJson(vultr(), "ferry:target", (t) => (t.redis = { kind: "elasticache", nodeType: "cache.t4g.small" }));
    expect(planStages(parseConfig(toElastiCache)).nextStep).toMatch(/redis \(copy\)/);
  });
});

describe("ferry:target.finalBackupRetentionDays", () => {
  it("defaults to a year and takes what the stack says", () => {
    expect(parseConfig(heroku()).target.finalBackupRetentionDays).toBe(365);
    expect(parseConfig(patchJson(heroku(), "ferry:target", (t) => (t.finalBackupRetentionDays = 3650))).target.finalBackupRetentionDays).toBe(3650);
  });
});
