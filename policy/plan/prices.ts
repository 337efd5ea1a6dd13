// The shipped AWS price tables (policy/plan/prices/aws-<region>.json): on-demand rates
// for the resource types and sizes ferry declares, with the date and source they were
// taken from. `npm run prices` rewrites them from the AWS Price List API.
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

const rate = z.number().min(0);

export const priceTableSchema = z.strictObject({
  region: z.string(),
  currency: z.literal("USD"),
  /** The day the figures were taken (YYYY-MM-DD). */
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  /** Where they were taken from: the pricing pages or the offer files' URLs. */
  source: z.string().min(1),
  hoursPerMonth: z.number().positive(),
  ec2Hourly: z.record(z.string(), rate),
  rdsPostgresHourly: z.record(z.string(), z.strictObject({ singleAz: rate, multiAz: rate })),
  rdsGp3GbMonth: z.strictObject({ singleAz: rate, multiAz: rate }),
  elasticacheHourly: z.record(z.string(), rate),
  ebsGp3GbMonth: rate,
  natGatewayHourly: rate,
  albHourly: rate,
  publicIpv4Hourly: rate,
  cloudflareLoadBalancerMonthly: rate,
  /** Fargate, Linux/x86, per vCPU-hour and per GB-hour (https://aws.amazon.com/fargate/pricing/); absent in a table refreshed without them: the services are then unpriced. */
  fargateVcpuHourly: rate.optional(),
  fargateGbHourly: rate.optional(),
});

export type PriceTable = z.infer<typeof priceTableSchema>;

export const PRICES_DIR = path.join(__dirname, "prices");

export function priceTablePath(region: string, dir = PRICES_DIR): string {
  return path.join(dir, `aws-${region}.json`);
}

/** The table for `region`; undefined when none is shipped for it. A malformed one fails naming the file. */
export function readPriceTable(region: string, dir = PRICES_DIR): PriceTable | undefined {
  const file = priceTablePath(region, dir);
  if (!fs.existsSync(file)) return undefined;
  const parsed = priceTableSchema.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue.path.join(".") || "(top)"}: ${issue.message}`);
  }
  return parsed.data;
}
