// How the source app reaches the target stores (ferry:source.access), as the rest of the
// program needs it: whether the stores get public addresses, and the checks that span
// this key and the target's. Pure, so tests and the stage plan call it without Pulumi.
import { FerryConfigError } from "./errors";
import type { FerryConfig, SourceAccess, SourceConfig } from "./schema";
import { componentsOf } from "./strategy";

export const ACCESS_KEY = "ferry:source.access";

/**
 * Who besides the app and runner on AWS may reach the stores: nobody ("private"), a list
 * of static addresses ("allowlist": the box, an egress add-on), anyone with the password
 * over TLS ("world": published), or a peered Heroku Private Space ("peered").
 */
export type StoreExposure = "private" | "allowlist" | "world" | "peered";

export function sourceAccess(source: SourceConfig): SourceAccess | undefined {
  return source.access;
}

export function storeExposure(source: SourceConfig): StoreExposure {
  switch (source.access?.kind) {
    case undefined: return "private";
    case "box": case "static-egress": return "allowlist";
    case "published": return "world";
    case "private-space": return "peered";
  }
}

/**
 * Allowlisted or published stores need addresses the internet can route to: a private
 * RDS or EC2 instance has none, whatever its security group allows. A peered space
 * reaches their private addresses.
 */
export function storesOnInternet(source: SourceConfig): boolean {
  const exposure = storeExposure(source);
  return exposure === "allowlist" || exposure === "world";
}

function fail(message: string): never {
  throw new FerryConfigError(message);
}

function range(cidr: string): [number, number] {
  const [ip, bits] = cidr.split("/");
  const start = ip.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  const base = start - (start % size);
  return [base, base + size - 1];
}

/** Whether every address of `inner` is in `outer`. */
export function cidrWithin(inner: string, outer: string): boolean {
  const [iStart, iEnd] = range(inner);
  const [oStart, oEnd] = range(outer);
  return oStart <= iStart && iEnd <= oEnd;
}

export function cidrsOverlap(a: string, b: string): boolean {
  const [aStart, aEnd] = range(a);
  const [bStart, bEnd] = range(b);
  return aStart <= bEnd && bStart <= aEnd;
}

/**
 * ElastiCache has no public endpoint: its nodes live in the VPC and are reached from it
 * ("All current generation nodes are launched in Amazon Virtual Private Cloud only";
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/VPCs.html). An address
 * allowlisted on its security group still has no route to it.
 */
function checkRedisReachable(config: FerryConfig, access: SourceAccess): void {
  if (!storesOnInternet(config.source) || !componentsOf(config.source).includes("redis")) return;
  if (config.target.redis.kind !== "elasticache") return;
  fail(`${ACCESS_KEY}.kind: ${access.kind} gives the stores internet addresses, and ElastiCache has none (its nodes are reached from inside the VPC only); use ferry:target.redis.kind: ec2 (Redis on EC2, TLS on its own port), or a Heroku Private Space peered with the VPC (kind: private-space)`);
}

/** The space's ranges and the VPC's must not overlap (https://devcenter.heroku.com/articles/private-space-peering). */
function checkPeering(config: FerryConfig, access: SourceAccess): void {
  if (access.kind !== "private-space") return;
  access.peering.spaceCidrs.forEach((cidr, i) => {
    if (cidrsOverlap(cidr, config.target.vpcCidr)) {
      fail(`${ACCESS_KEY}.peering.spaceCidrs[${i}]: ${cidr} overlaps ferry:target.vpcCidr (${config.target.vpcCidr}); peered networks must not overlap: pick another ferry:target.vpcCidr before the first pulumi up`);
    }
  });
}

export function checkAccess(config: FerryConfig): void {
  const access = sourceAccess(config.source);
  if (!access) return;
  checkRedisReachable(config, access);
  checkPeering(config, access);
}
