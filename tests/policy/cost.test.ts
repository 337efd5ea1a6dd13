// The plan's cost figures against a hand-computed example: a small price table with
// round rates, a Heroku inventory with Heroku's own prices, and the resources a
// stage declares.
import { describe, expect, it } from "vitest";
import { readStackConfig } from "../../policy/stack-file";
import { awsLines, PricedResource, stageCosts } from "../../policy/plan/cost";
import { priceTableSchema, readPriceTable } from "../../policy/plan/prices";
import type { PriceTable } from "../../policy/plan/prices";
import type { SourceInventory } from "../../dataplane/init/inventory";
import { herokuConfig, vultrConfig, writeStackFile } from "./stacks";

const PRICES: PriceTable = {
  region: "us-east-1", currency: "USD", date: "2026-11-30", source: "test", hoursPerMonth: 730,
  ec2Hourly: { "t3.small": 0.02 },
  rdsPostgresHourly: { "db.t4g.medium": { singleAz: 0.1, multiAz: 0.2 } },
  rdsGp3GbMonth: { singleAz: 0.1, multiAz: 0.2 },
  elasticacheHourly: { "cache.t4g.small": 0.05 },
  ebsGp3GbMonth: 0.1, natGatewayHourly: 0.05, albHourly: 0.02, publicIpv4Hourly: 0.005, cloudflareLoadBalancerMonthly: 5,
};

const TARGET: PricedResource[] = [
  { type: "aws:ec2/launchTemplate:LaunchTemplate", name: "ferry-app-web", inputs: { instanceType: "t3.small", blockDeviceMappings: [{ ebs: { volumeSize: 20 } }] } },
  { type: "aws:autoscaling/group:Group", name: "ferry-app-web", inputs: { desiredCapacity: 2, launchTemplate: { id: "ferry-app-web-id" } } },
  { type: "aws:rds/instance:Instance", name: "ferry-db", inputs: { instanceClass: "db.t4g.medium", allocatedStorage: 20, multiAz: false } },
  { type: "aws:elasticache/replicationGroup:ReplicationGroup", name: "ferry-cache", inputs: { nodeType: "cache.t4g.small", numCacheClusters: 1 } },
  { type: "aws:ec2/natGateway:NatGateway", name: "ferry-nat", inputs: {} },
  { type: "aws:ec2/eip:Eip", name: "ferry-nat", inputs: {} },
  { type: "aws:lb/loadBalancer:LoadBalancer", name: "ferry-lb", inputs: { loadBalancerType: "application" } },
  { type: "aws:ec2/vpc:Vpc", name: "ferry-vpc", inputs: {} },
];
const CLOUDFLARE_LB: PricedResource = { type: "cloudflare:index/loadBalancer:LoadBalancer", name: "ferry-split", inputs: {} };

const HEROKU: SourceInventory = {
  kind: "heroku",
  takenAt: "2026-11-30T00:00:00Z",
  apps: [{
    name: "mastodon-web", region: "us", processTypes: { web: "bin/web", worker: "bin/worker" }, processTypesFrom: "slug",
    formation: [
      { type: "web", quantity: 1, size: "standard-2X", monthlyCentsEach: 5000 },
      { type: "worker", quantity: 1, size: "standard-1X", monthlyCentsEach: 2500 },
      { type: "release", quantity: 0, size: "standard-1X", monthlyCentsEach: 2500 },
    ],
    addons: [
      { name: "postgresql-curved-12345", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", configVars: ["DATABASE_URL"], monthlyCents: 5000 },
      { name: "redis-round-67890", service: "heroku-redis", plan: "heroku-redis:premium-0", configVars: ["REDIS_URL"], monthlyCents: 1500 },
      { name: "papertrail-1", service: "papertrail", plan: "papertrail:choklad", configVars: [], monthlyCents: 700 },
    ],
    domains: [], configVarNames: [], logDrains: [],
  }],
};

const heroku = readStackConfig(writeStackFile(herokuConfig()));

describe("AWS cost of declared resources", () => {
  it("prices each billed resource by the hour or GB-month (hand-computed)", () => {
    const lines = awsLines(TARGET, PRICES);
    // web: 2 × (0.02 × 730 + 20 GB × 0.1) = 33.2; RDS 0.1 × 730 + 20 × 0.1 = 75; cache 0.05 × 730 = 36.5;
    // NAT 36.5; IPv4 0.005 × 730 = 3.65; ALB 0.02 × 730 = 14.6. The VPC is free.
    expect(lines.map((l) => l.usd)).toEqual([33.2, 75, 36.5, 36.5, 3.65, 14.6]);
    expect(lines[0].label).toBe("EC2 ferry-app-web: 2 × t3.small + 20 GB gp3");
  });

  it("leaves a size missing from the table out of the total and names it", () => {
    const [line] = awsLines([{ type: "aws:ec2/instance:Instance", name: "big", inputs: { instanceType: "x9.huge" } }], PRICES);
    expect(line).toEqual({ label: "EC2 big: 1 × x9.huge + 8 GB gp3", usd: null, note: "x9.huge is not in the price table" });
  });

  it("doubles a Multi-AZ database's instance and storage rate", () => {
    const [line] = awsLines([{ type: "aws:rds/instance:Instance", name: "db", inputs: { instanceClass: "db.t4g.medium", allocatedStorage: 50, multiAz: true } }], PRICES);
    expect(line.usd).toBe(0.2 * 730 + 50 * 0.2); // 156
  });
});

describe("cost per stage", () => {
  const stages = [
    { stage: "provision" as const, config: heroku, declared: TARGET },
    { stage: "proxy" as const, config: heroku, declared: [...TARGET, CLOUDFLARE_LB] },
    { stage: "decommission" as const, config: heroku, declared: TARGET },
  ];

  it("bills both sides until decommission, then only what ferry does not release", () => {
    const [provision, proxy, decommission] = stageCosts(stages, HEROKU, PRICES);
    // Heroku: 50 + 25 dynos, 50 + 15 + 7 add-ons = 147; AWS 199.45 (+5 for the Cloudflare split).
    expect(provision).toMatchObject({ sourceUsd: 147, awsUsd: 199.45, totalUsd: 346.45, overlap: true, unpriced: [] });
    expect(proxy).toMatchObject({ sourceUsd: 147, awsUsd: 204.45, totalUsd: 351.45, overlap: true });
    // Dynos at 0, Postgres and Redis released; Papertrail is still billed.
    expect(decommission).toMatchObject({ sourceUsd: 7, awsUsd: 199.45, totalUsd: 206.45, overlap: true });
    expect(decommission!.source.find((l) => l.label.includes("papertrail"))!.note).toMatch(/still billed/);
  });

  it("keeps a held data store billed at decommission", () => {
    const held = { ...heroku, stages: { ...heroku.stages, hold: { postgres: "cutover" as const } } };
    const [cost] = stageCosts([{ stage: "decommission", config: held, declared: [] }], HEROKU, PRICES);
    expect(cost!.sourceUsd).toBe(57);
  });

  it("says the source is unpriced without an inventory, and a box's price is the user's to fill in", () => {
    const [none] = stageCosts([{ stage: "provision", config: heroku, declared: [] }], undefined, PRICES);
    expect(none!.unpriced).toEqual([expect.stringMatching(/run `ferry init`/)]);
    const vultr = readStackConfig(writeStackFile(vultrConfig()));
    const box: SourceInventory = {
      kind: "box", takenAt: "2026-11-30T00:00:00Z",
      box: {
        host: "203.0.113.20", user: "root", port: 22, monthlyCents: 4800,
        postgres: { found: false, reason: "psql: not found" }, redis: { found: false, reason: "x" }, nginx: { found: false, reason: "x" },
        processes: { found: false, reason: "x" }, crontab: { found: false, reason: "x" },
      },
    };
    const [, last] = stageCosts([{ stage: "provision", config: vultr, declared: [] }, { stage: "decommission", config: vultr, declared: [] }], box, PRICES);
    expect(last).toMatchObject({ sourceUsd: 48, overlap: false });
    expect(last!.source[0].note).toMatch(/until you destroy the box/);
  });

  it("skips a stage the holds make unreachable", () => {
    expect(stageCosts([{ stage: "cutover" }], HEROKU, PRICES)).toEqual([undefined]);
  });
});

describe("shipped price tables", () => {
  it.each(["us-east-1", "eu-central-1"])("%s validates and prices what the example stacks declare", (region) => {
    const table = readPriceTable(region)!;
    expect(priceTableSchema.parse(table).date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    for (const t of ["t3.small", "t3.medium", "t4g.small"]) expect(table.ec2Hourly[t]).toBeGreaterThan(0);
    for (const c of ["db.t4g.medium", "db.m7g.large"]) expect(table.rdsPostgresHourly[c].multiAz).toBeGreaterThan(table.rdsPostgresHourly[c].singleAz);
    expect(table.elasticacheHourly["cache.t4g.small"]).toBeGreaterThan(0);
  });
});
