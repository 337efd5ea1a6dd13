// `npm run prices` against offer files shaped like the AWS Price List bulk API's
// (index.json -> region_index.json -> the region's offer file; products by SKU,
// terms.OnDemand by SKU with priceDimensions), served on loopback; offline it exits
// with one line and the shipped table is untouched.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createServer, Server } from "node:http";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OFFERS, OfferFile, onDemandPrice, tableFromOffers } from "../../scripts/prices";
import { freePort } from "../../rehearsal/servers";
import { PRICES_DIR, readPriceTable } from "../../policy/plan/prices";
import type { PriceTable } from "../../policy/plan/prices";

const ROOT = join(__dirname, "..", "..");

type Product = { family: string; attributes: Record<string, string>; usd: string; unit: string };

/** An offer file as AWS publishes it, with one on-demand term per SKU (and a reserved one to ignore). */
function offerFile(code: string, products: Product[]): OfferFile & Record<string, unknown> {
  const sku = (i: number) => `${code.toUpperCase()}SKU${i}`;
  return {
    formatVersion: "v1.0", disclaimer: "This pricing list is for informational purposes only.", offerCode: code, version: "20261101000000", publicationDate: "2026-11-01T00:00:00Z",
    products: Object.fromEntries(products.map((p, i) => [sku(i), { sku: sku(i), productFamily: p.family, attributes: { servicecode: code, location: "US East (N. Virginia)", regionCode: "us-east-1", ...p.attributes } }])),
    terms: {
      OnDemand: Object.fromEntries(products.map((p, i) => [sku(i), { [`${sku(i)}.JRTCKXETXF`]: {
        offerTermCode: "JRTCKXETXF", sku: sku(i), effectiveDate: "2026-11-01T00:00:00Z", termAttributes: {},
        priceDimensions: { [`${sku(i)}.JRTCKXETXF.6YS6EN2CT7`]: { rateCode: `${sku(i)}.JRTCKXETXF.6YS6EN2CT7`, description: "on demand", beginRange: "0", endRange: "Inf", unit: p.unit, pricePerUnit: { USD: p.usd }, appliesTo: [] } },
      } }])),
      Reserved: {},
    },
  };
}

const linux = { operatingSystem: "Linux", tenancy: "Shared", preInstalledSw: "NA", capacitystatus: "Used", licenseModel: "No License required" };

const OFFER_FILES: Record<(typeof OFFERS)[number], OfferFile> = {
  AmazonEC2: offerFile("AmazonEC2", [
    // Decoys first: Windows, dedicated tenancy and SQL Server images of the same type must not be taken.
    { family: "Compute Instance", attributes: { ...linux, instanceType: "t3.medium", operatingSystem: "Windows" }, usd: "0.0600000000", unit: "Hrs" },
    { family: "Compute Instance", attributes: { ...linux, instanceType: "t3.medium", tenancy: "Dedicated" }, usd: "0.0500000000", unit: "Hrs" },
    { family: "Compute Instance", attributes: { ...linux, instanceType: "t3.medium", preInstalledSw: "SQL Web" }, usd: "0.0700000000", unit: "Hrs" },
    { family: "Compute Instance", attributes: { ...linux, instanceType: "t3.medium" }, usd: "0.0416000000", unit: "Hrs" },
    { family: "Storage", attributes: { volumeApiName: "gp2" }, usd: "0.1000000000", unit: "GB-Mo" },
    { family: "Storage", attributes: { volumeApiName: "gp3" }, usd: "0.0800000000", unit: "GB-Mo" },
    { family: "NAT Gateway", attributes: { usagetype: "NatGateway-Bytes" }, usd: "0.0450000000", unit: "GB" },
    { family: "NAT Gateway", attributes: { usagetype: "NatGateway-Hours" }, usd: "0.0450000000", unit: "Hrs" },
  ]),
  AmazonRDS: offerFile("AmazonRDS", [
    { family: "Database Instance", attributes: { instanceType: "db.t4g.medium", databaseEngine: "MySQL", deploymentOption: "Single-AZ" }, usd: "0.0680000000", unit: "Hrs" },
    { family: "Database Instance", attributes: { instanceType: "db.t4g.medium", databaseEngine: "PostgreSQL", deploymentOption: "Single-AZ" }, usd: "0.0650000000", unit: "Hrs" },
    { family: "Database Instance", attributes: { instanceType: "db.t4g.medium", databaseEngine: "PostgreSQL", deploymentOption: "Multi-AZ" }, usd: "0.1300000000", unit: "Hrs" },
    { family: "Database Storage", attributes: { volumeType: "General Purpose-GP3", databaseEngine: "PostgreSQL", deploymentOption: "Single-AZ" }, usd: "0.1150000000", unit: "GB-Mo" },
    { family: "Database Storage", attributes: { volumeType: "General Purpose-GP3", databaseEngine: "PostgreSQL", deploymentOption: "Multi-AZ" }, usd: "0.2300000000", unit: "GB-Mo" },
  ]),
  AmazonElastiCache: offerFile("AmazonElastiCache", [
    { family: "Cache Instance", attributes: { instanceType: "cache.t4g.small", cacheEngine: "Memcached" }, usd: "0.0300000000", unit: "Hrs" },
    { family: "Cache Instance", attributes: { instanceType: "cache.t4g.small", cacheEngine: "Redis" }, usd: "0.0320000000", unit: "Hrs" },
  ]),
  AWSELB: offerFile("AWSELB", [
    { family: "Load Balancer-Network", attributes: { usagetype: "LoadBalancerUsage" }, usd: "0.0225000000", unit: "Hrs" },
    { family: "Load Balancer-Application", attributes: { usagetype: "LCUUsage" }, usd: "0.0080000000", unit: "LCU-Hrs" },
    { family: "Load Balancer-Application", attributes: { usagetype: "LoadBalancerUsage" }, usd: "0.0225000000", unit: "Hrs" },
  ]),
  AmazonVPC: offerFile("AmazonVPC", [
    { family: "VpcEndpoint", attributes: { usagetype: "VpcEndpoint-Hours" }, usd: "0.0100000000", unit: "Hrs" },
    { family: "IP Address", attributes: { usagetype: "PublicIPv4:InUseAddress" }, usd: "0.0050000000", unit: "Hrs" },
  ]),
};

const OLD: PriceTable = {
  region: "us-east-1", currency: "USD", date: "2020-01-01", source: "old", hoursPerMonth: 730,
  ec2Hourly: { "t3.medium": 1 }, rdsPostgresHourly: { "db.t4g.medium": { singleAz: 1, multiAz: 1 } }, rdsGp3GbMonth: { singleAz: 1, multiAz: 1 },
  elasticacheHourly: { "cache.t4g.small": 1 }, ebsGp3GbMonth: 1, natGatewayHourly: 1, albHourly: 1, publicIpv4Hourly: 1, cloudflareLoadBalancerMonthly: 5,
};

describe("reading offer files", () => {
  it("takes the plain on-demand rate of each size the table lists, not the decoys", () => {
    const table = tableFromOffers(OLD, OFFER_FILES, ["u1"], "2026-11-30");
    expect(table).toEqual({
      ...OLD, date: "2026-11-30", source: "AWS Price List API offer files: u1",
      ec2Hourly: { "t3.medium": 0.0416 }, rdsPostgresHourly: { "db.t4g.medium": { singleAz: 0.065, multiAz: 0.13 } }, rdsGp3GbMonth: { singleAz: 0.115, multiAz: 0.23 },
      elasticacheHourly: { "cache.t4g.small": 0.032 }, ebsGp3GbMonth: 0.08, natGatewayHourly: 0.045, albHourly: 0.0225, publicIpv4Hourly: 0.005,
    });
  });

  it("fails naming every size the offers do not price", () => {
    const old = { ...OLD, ec2Hourly: { "t3.medium": 1, "x9.huge": 1 } };
    expect(() => tableFromOffers(old, OFFER_FILES, [], "2026-11-30")).toThrow("the us-east-1 offer files have no on-demand price for: EC2 x9.huge");
  });

  it("returns undefined for a product the offer does not have", () => {
    expect(onDemandPrice(OFFER_FILES.AmazonEC2, () => false)).toBeUndefined();
  });
});

describe("npm run prices", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const routes: Record<string, unknown> = {
      "/offers/v1.0/aws/index.json": { formatVersion: "v1.0", offers: Object.fromEntries(OFFERS.map((c) => [c, { offerCode: c, currentVersionUrl: `/offers/v1.0/aws/${c}/current/index.json`, currentRegionIndexUrl: `/offers/v1.0/aws/${c}/current/region_index.json` }])) },
      ...Object.fromEntries(OFFERS.flatMap((c) => [
        [`/offers/v1.0/aws/${c}/current/region_index.json`, { regions: { "us-east-1": { regionCode: "us-east-1", currentVersionUrl: `/offers/v1.0/aws/${c}/20261101000000/us-east-1/index.json` } } }],
        [`/offers/v1.0/aws/${c}/20261101000000/us-east-1/index.json`, OFFER_FILES[c]],
      ])),
    };
    server = createServer((req, res) => {
      const body = routes[req.url ?? ""];
      res.writeHead(body ? 200 : 404, { "Content-Type": "application/json" }).end(JSON.stringify(body ?? { message: "not found" }));
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  // Asynchronous: the stand-in price server answers from this process's event loop.
  const run = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/prices.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
      return { status: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout: string; stderr: string };
      return { status: err.code ?? 1, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it("follows index.json to each region's offer file and rewrites the table with its date and the offer URLs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-prices-"));
    const shipped = readPriceTable("us-east-1")!;
    writeFileSync(join(dir, "aws-us-east-1.json"), JSON.stringify({ ...shipped, ...OLD }));
    const result = await run(["--region", "us-east-1", "--base", base, "--dir", dir]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const table = readPriceTable("us-east-1", dir)!;
    expect(table.ec2Hourly).toEqual({ "t3.medium": 0.0416 });
    expect(table.date).toBe(new Date().toISOString().slice(0, 10));
    expect(table.source).toBe(`AWS Price List API offer files: ${OFFERS.map((c) => `${base}/offers/v1.0/aws/${c}/20261101000000/us-east-1/index.json`).join(", ")}`);
  });

  it("offline: one line, exit 1, the shipped table unchanged", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-prices-"));
    copyFileSync(join(PRICES_DIR, "aws-us-east-1.json"), join(dir, "aws-us-east-1.json"));
    const before = readFileSync(join(dir, "aws-us-east-1.json"), "utf8");
    const result = await run(["--region", "us-east-1", "--base", `http://127.0.0.1:${await freePort()}`, "--dir", dir]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^npm run prices: cannot read the AWS Price List API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); the shipped us-east-1 table of \d{4}-\d{2}-\d{2} stays\n$/);
    expect(readFileSync(join(dir, "aws-us-east-1.json"), "utf8")).toBe(before);
  });
});
