// The source app's way to the target stores (ferry:source.access) as security-group
// sources and ports: pure, so a test checks them without Pulumi.
import * as pulumi from "@pulumi/pulumi";
import type { FerryConfig, SourceAccess } from "../../config";
import { componentsOf } from "../../config";
import { POSTGRES_PORT, REDIS_PORT, REDIS_TLS_PORT, SourceClients } from "./firewall";

/**
 * The port outside clients reach Redis on, always TLS: ElastiCache serves TLS on its one
 * port (transitEncryptionEnabled); Redis on EC2 on its own TLS listener, its plain port
 * staying reachable from the app and runner only.
 */
export function sourceRedisPort(config: Pick<FerryConfig, "target">): number {
  return config.target.redis.kind === "ec2" ? REDIS_TLS_PORT : REDIS_PORT;
}

/** Who is let in: the box's own address and its extras, the add-on's addresses, anyone (published), or the space's dyno ranges. */
export function sourceClientCidrs(access: SourceAccess, boxAddress?: pulumi.Input<string>): pulumi.Input<string>[] {
  switch (access.kind) {
    case "box": return [...(boxAddress === undefined ? [] : [pulumi.interpolate`${boxAddress}/32`]), ...access.addresses];
    case "static-egress": return access.addresses;
    case "published": return ["0.0.0.0/0"];
    case "private-space": return access.peering.spaceCidrs;
  }
}

function describeAccess(access: SourceAccess): string {
  switch (access.kind) {
    case "box": return "the source box";
    case "static-egress": return `the ${access.addon} egress addresses`;
    case "published": return "anywhere (published: TLS and password only)";
    case "private-space": return "the peered Heroku Private Space";
  }
}

/** The firewall's rules for the source app, on the stores this source moves; none without ferry:source.access. */
export function sourceClients(config: Pick<FerryConfig, "source" | "target">, boxAddress?: pulumi.Input<string>): SourceClients | undefined {
  const access = config.source.access;
  if (!access) return undefined;
  const stores = componentsOf(config.source);
  return {
    cidrs: sourceClientCidrs(access, boxAddress),
    postgresPort: stores.includes("postgres") ? POSTGRES_PORT : undefined,
    redisPort: stores.includes("redis") ? sourceRedisPort(config) : undefined,
    why: describeAccess(access),
  };
}
