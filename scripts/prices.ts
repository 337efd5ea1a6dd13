// `npm run prices [-- --region R ...]`: rewrite the shipped AWS price tables
// (policy/plan/prices/aws-<region>.json) from the AWS Price List bulk API's offer files
// (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-ppslong.html):
// index.json names each service's region index, which names the region's offer file;
// an offer file maps SKUs to products (attributes) and terms.OnDemand to prices per
// unit. The instance sizes kept are the ones the table already lists. Offline, it
// exits with one line and the shipped table stays as it is.
import * as fs from "fs";
import { Command } from "commander";
import { PRICES_DIR, PriceTable, priceTablePath, readPriceTable } from "../policy/plan/prices";

export const PRICE_LIST_BASE = "https://pricing.us-east-1.amazonaws.com";
const INDEX = "/offers/v1.0/aws/index.json";
/** The offers the table draws from: EC2 (instances, gp3, NAT), RDS, ElastiCache, ELB, VPC (public IPv4). */
export const OFFERS = ["AmazonEC2", "AmazonRDS", "AmazonElastiCache", "AWSELB", "AmazonVPC"] as const;
export type OfferCode = (typeof OFFERS)[number];

interface PriceDimension {
  unit: string;
  pricePerUnit: { USD?: string };
  beginRange?: string;
}

/** The parts of an offer file this reads. */
export interface OfferFile {
  offerCode: string;
  publicationDate?: string;
  products: Record<string, { sku: string; productFamily?: string; attributes: Record<string, string> }>;
  /** OnDemand is read; Reserved (and any other term type) is not. */
  terms: { OnDemand?: Record<string, Record<string, { priceDimensions: Record<string, PriceDimension> }>>; Reserved?: unknown };
}

/** The on-demand USD price per unit of the first product matching `match` (first tier when tiered). */
export function onDemandPrice(offer: OfferFile, match: (p: { productFamily?: string; attributes: Record<string, string> }) => boolean): number | undefined {
  for (const product of Object.values(offer.products)) {
    if (!match(product)) continue;
    for (const term of Object.values(offer.terms.OnDemand?.[product.sku] ?? {})) {
      const dims = Object.values(term.priceDimensions).sort((a, b) => Number(a.beginRange ?? 0) - Number(b.beginRange ?? 0));
      const usd = dims[0]?.pricePerUnit.USD;
      if (usd !== undefined && Number(usd) > 0) return Number(usd);
    }
  }
  return undefined;
}

const a = (p: { attributes: Record<string, string> }, key: string) => p.attributes[key];

/** Linux, shared tenancy, no pre-installed software, no reservation: the plain on-demand EC2 rate. */
const ec2Instance = (type: string) => (p: { productFamily?: string; attributes: Record<string, string> }) =>
  p.productFamily === "Compute Instance" && a(p, "instanceType") === type && a(p, "operatingSystem") === "Linux" && a(p, "tenancy") === "Shared" &&
  a(p, "preInstalledSw") === "NA" && a(p, "capacitystatus") === "Used" && a(p, "licenseModel") !== "Bring your own license";

const deployment = (multi: boolean) => (multi ? "Multi-AZ" : "Single-AZ");

/** A new table for `region`: every rate the old table has, read from the offers; missing ones fail naming themselves. */
export function tableFromOffers(old: PriceTable, offers: Record<OfferCode, OfferFile>, sources: string[], date: string): PriceTable {
  const missing: string[] = [];
  const need = (what: string, price: number | undefined): number => {
    if (price === undefined) missing.push(what);
    return price ?? 0;
  };
  const { AmazonEC2: ec2, AmazonRDS: rds, AmazonElastiCache: cache, AWSELB: elb, AmazonVPC: vpc } = offers;
  const rdsInstance = (cls: string, multi: boolean) => (p: { productFamily?: string; attributes: Record<string, string> }) =>
    p.productFamily === "Database Instance" && a(p, "instanceType") === cls && a(p, "databaseEngine") === "PostgreSQL" && a(p, "deploymentOption") === deployment(multi);
  const rdsGp3 = (multi: boolean) => (p: { productFamily?: string; attributes: Record<string, string> }) =>
    p.productFamily === "Database Storage" && a(p, "volumeType") === "General Purpose-GP3" && a(p, "databaseEngine") === "PostgreSQL" && a(p, "deploymentOption") === deployment(multi);
  const table: PriceTable = {
    ...old,
    date,
    source: `AWS Price List API offer files: ${sources.join(", ")}`,
    ec2Hourly: Object.fromEntries(Object.keys(old.ec2Hourly).map((t) => [t, need(`EC2 ${t}`, onDemandPrice(ec2, ec2Instance(t)))])),
    rdsPostgresHourly: Object.fromEntries(Object.keys(old.rdsPostgresHourly).map((c) => [c, {
      singleAz: need(`RDS ${c} Single-AZ`, onDemandPrice(rds, rdsInstance(c, false))),
      multiAz: need(`RDS ${c} Multi-AZ`, onDemandPrice(rds, rdsInstance(c, true))),
    }])),
    rdsGp3GbMonth: { singleAz: need("RDS gp3 Single-AZ", onDemandPrice(rds, rdsGp3(false))), multiAz: need("RDS gp3 Multi-AZ", onDemandPrice(rds, rdsGp3(true))) },
    elasticacheHourly: Object.fromEntries(Object.keys(old.elasticacheHourly).map((n) => [n, need(`ElastiCache ${n}`, onDemandPrice(cache, (p) =>
      p.productFamily === "Cache Instance" && a(p, "instanceType") === n && /redis/i.test(a(p, "cacheEngine") ?? "")))])),
    ebsGp3GbMonth: need("EBS gp3", onDemandPrice(ec2, (p) => p.productFamily === "Storage" && a(p, "volumeApiName") === "gp3")),
    natGatewayHourly: need("NAT gateway hours", onDemandPrice(ec2, (p) => p.productFamily === "NAT Gateway" && /NatGateway-Hours$/.test(a(p, "usagetype") ?? ""))),
    albHourly: need("ALB hours", onDemandPrice(elb, (p) => p.productFamily === "Load Balancer-Application" && /LoadBalancerUsage$/.test(a(p, "usagetype") ?? ""))),
    publicIpv4Hourly: need("public IPv4 hours", onDemandPrice(vpc, (p) => /PublicIPv4:InUseAddress$/.test(a(p, "usagetype") ?? ""))),
  };
  if (missing.length) throw new Error(`the ${old.region} offer files have no on-demand price for: ${missing.join(", ")}`);
  return table;
}

async function getJson<T>(base: string, path: string): Promise<T> {
  const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(600_000) });
  if (!res.ok) throw new Error(`${res.status} on ${path}`);
  return (await res.json()) as T;
}

/** The region's current offer file of each service, through index.json and each region index. */
async function fetchOffers(base: string, region: string): Promise<{ offers: Record<OfferCode, OfferFile>; urls: string[] }> {
  const index = await getJson<{ offers: Record<string, { currentRegionIndexUrl: string }> }>(base, INDEX);
  const offers = {} as Record<OfferCode, OfferFile>;
  const urls: string[] = [];
  for (const code of OFFERS) {
    const regions = await getJson<{ regions: Record<string, { currentVersionUrl: string }> }>(base, index.offers[code].currentRegionIndexUrl);
    const url = regions.regions[region]?.currentVersionUrl;
    if (!url) throw new Error(`${code} has no offer file for ${region}`);
    offers[code] = await getJson<OfferFile>(base, url);
    urls.push(new URL(url, base).toString());
  }
  return { offers, urls };
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("prices")
    .option("--region <region...>", "regions to refresh (default: every shipped table)", ["us-east-1", "eu-central-1"])
    .option("--base <url>", "Price List API base URL", PRICE_LIST_BASE)
    .option("--dir <dir>", "where the tables are", PRICES_DIR)
    .exitOverride()
    .parse(argv)
    .opts<{ region: string[]; base: string; dir: string }>();
  for (const region of opts.region) {
    const old = readPriceTable(region, opts.dir);
    if (!old) throw new Error(`no shipped table for ${region} (${priceTablePath(region, opts.dir)}): copy one to start from`);
    let fetched: Awaited<ReturnType<typeof fetchOffers>>;
    try {
      fetched = await fetchOffers(opts.base, region);
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      process.stderr.write(`npm run prices: cannot read the AWS Price List API at ${opts.base} (${err.cause?.code ?? err.message}); the shipped ${region} table of ${old.date} stays\n`);
      process.exitCode = 1;
      return;
    }
    const table = tableFromOffers(old, fetched.offers, fetched.urls, new Date().toISOString().slice(0, 10));
    fs.writeFileSync(priceTablePath(region, opts.dir), `${JSON.stringify(table, null, 2)}\n`);
    process.stdout.write(`${region}: wrote ${priceTablePath(region, opts.dir)} (${table.date})\n`);
  }
}

if (require.main === module) {
  main(process.argv).catch((e: unknown) => {
    process.stderr.write(`npm run prices: ${(e as Error).message.split("\n")[0]}\n`);
    process.exitCode = (e as { exitCode?: number }).exitCode === undefined ? 1 : 2;
  });
}
