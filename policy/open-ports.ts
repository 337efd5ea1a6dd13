// No security group lets the whole internet (0.0.0.0/0 or ::/0) reach a database,
// Redis or pooler port. Covers the three ways the AWS provider opens a port: standalone
// ingress rules (what ferry uses), legacy SecurityGroupRule, and inline `ingress` blocks.
// One exemption: a stack that publishes its stores (ferry:source.access kind: published)
// opens PostgreSQL to the world, where RDS refuses plain text (rds.force_ssl, judged by
// ferry-store-tls); Redis's plain port stays refused (the source reaches its TLS port).
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { knownOr, stackDeclares } from "./judge";
import { STACK_CONFIG_SCHEMA } from "./stack-config";

/** PostgreSQL, Redis, and the Postgres pooler's PgBouncer and control API (components/target/pooler). */
export const DEFAULT_PORTS = [5432, 6379, 6432, 6433];
/** The one guarded port a published stack opens to the world, TLS forced. */
const PUBLISHED_TLS_PORT = 5432;
const WORLD = ["0.0.0.0/0", "::/0"];

/** One way into a group, normalised across the three resource shapes. */
export interface Opening {
  protocol: string;
  fromPort?: number;
  toPort?: number;
  cidrs: string[];
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []);

/** Read inside `knownOr`: an unknown CIDR (computed) is never a literal /0. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- @pulumi/policy hands props over as Record<string, any>
export function openingsOf(type: string, props: Record<string, any>): Opening[] {
  switch (type) {
    case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
      return [{ protocol: String(props.ipProtocol), fromPort: props.fromPort, toPort: props.toPort, cidrs: [...list(props.cidrIpv4), ...list(props.cidrIpv6)] }];
    case "aws:ec2/securityGroupRule:SecurityGroupRule":
      if (props.type !== "ingress") return [];
      return [{ protocol: String(props.protocol), fromPort: props.fromPort, toPort: props.toPort, cidrs: [...list(props.cidrBlocks), ...list(props.ipv6CidrBlocks)] }];
    case "aws:ec2/securityGroup:SecurityGroup":
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- an ingress block of those props
      return (Array.isArray(props.ingress) ? props.ingress : []).map((rule: Record<string, any>) => ({
        protocol: String(rule.protocol), fromPort: rule.fromPort, toPort: rule.toPort, cidrs: [...list(rule.cidrBlocks), ...list(rule.ipv6CidrBlocks)],
      }));
    default:
      return [];
  }
}

/** Whether the opening reaches `port`: all protocols ("-1"), or TCP over a range containing it. */
export function covers(opening: Opening, port: number): boolean {
  if (opening.protocol === "-1" || opening.protocol === "all") return true;
  if (!["tcp", "6"].includes(opening.protocol.toLowerCase())) return false;
  const from = opening.fromPort ?? 0;
  const to = opening.toPort ?? 65535;
  return from <= port && port <= to;
}

function published(args: ResourceValidationArgs): boolean {
  return stackDeclares(args, (config) => config.source.access?.kind === "published");
}

export function validateOpenPorts(args: ResourceValidationArgs, report: ReportViolation): void {
  const extra = args.getConfig<{ ports?: number[] }>().ports ?? [];
  const ports = [...new Set([...DEFAULT_PORTS, ...extra])];
  const openings = knownOr(() => openingsOf(args.type, args.props), []);
  for (const opening of openings) {
    const world = opening.cidrs.filter((c) => WORLD.includes(c.trim()));
    const hit = ports.filter((p) => covers(opening, p) && !(p === PUBLISHED_TLS_PORT && published(args)));
    if (world.length > 0 && hit.length > 0) {
      report(`${args.name}: ingress from ${world.join(" and ")} reaches port ${hit.join(", ")}; allow the app and runner security groups or operator /32s only`);
    }
  }
}

export const noOpenDataPorts: ResourceValidationPolicy = {
  name: "ferry-no-open-data-ports",
  description: "No security group ingress open to 0.0.0.0/0 or ::/0 on a database or Redis port.",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      ports: { type: "array", items: { type: "integer" }, description: "More database/cache ports to guard besides 5432, 6379, 6432 and 6433" },
      ...STACK_CONFIG_SCHEMA.properties,
    },
  },
  validateResource: validateOpenPorts,
};
