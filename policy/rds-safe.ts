// The target database holds the only copy of the data after cutover: it must be
// encrypted at rest, unreachable from the internet unless the stack declares that the
// source app reaches it from there (ferry:source.access; TLS forced: ferry-store-tls),
// and keep automated backups and a final snapshot. Checked on the inputs, so a
// violation stops the preview.
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { storesOnInternet } from "../config/access";
import { UNKNOWN, knownOr, stackDeclares } from "./judge";
import { STACK_CONFIG_SCHEMA } from "./stack-config";

export const RDS_TYPES = ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance"];

/** Each rule: the property, whether its value is safe, and what to set instead. */
const RULES: { property: string; types: string[]; safe: (value: unknown) => boolean; fix: string }[] = [
  { property: "storageEncrypted", types: ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster"], safe: (v) => v === true, fix: "set storageEncrypted: true" },
  { property: "publiclyAccessible", types: ["aws:rds/instance:Instance", "aws:rds/clusterInstance:ClusterInstance"], safe: (v) => v !== true, fix: "set publiclyAccessible: false" },
  { property: "backupRetentionPeriod", types: ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster"], safe: (v) => typeof v === "number" && v >= 1, fix: "keep automated backups: backupRetentionPeriod 1 to 35" },
  { property: "skipFinalSnapshot", types: ["aws:rds/instance:Instance", "aws:rds/cluster:Cluster"], safe: (v) => v !== true, fix: "take a final snapshot: skipFinalSnapshot: false" },
];

/** An allowlisted or published source reaches RDS at a public address (config/access.ts). */
function declaredPublic(args: ResourceValidationArgs, property: string): boolean {
  return property === "publiclyAccessible" && stackDeclares(args, (config) => storesOnInternet(config.source));
}

export function validateRdsSafe(args: ResourceValidationArgs, report: ReportViolation): void {
  if (!RDS_TYPES.includes(args.type)) return;
  for (const rule of RULES.filter((r) => r.types.includes(args.type))) {
    // Unknown in a preview means computed from another resource: judged at `pulumi up`.
    const value = knownOr(() => args.props[rule.property], UNKNOWN);
    if (value === UNKNOWN || rule.safe(value) || declaredPublic(args, rule.property)) continue;
    report(`${args.name}: ${rule.property} is ${JSON.stringify(value) ?? "unset"}; ${rule.fix}`);
  }
}

export const rdsSafe: ResourceValidationPolicy = {
  name: "ferry-rds-safe",
  description: "RDS is encrypted at rest, not publicly accessible, and retains backups and a final snapshot.",
  enforcementLevel: "mandatory",
  configSchema: STACK_CONFIG_SCHEMA,
  validateResource: validateRdsSafe,
};
