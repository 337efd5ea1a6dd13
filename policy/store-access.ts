// Stores the source app may reach from outside the VPC (ferry:source.access: an
// allowlisted box or egress add-on, published to the internet, a peered Private Space)
// speak TLS only and answer only clients that authenticate. Checked on every stack, not
// only those declaring a way in: a store that accepts plain text or anonymous clients is
// one security-group rule away from doing so on the internet.
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { cidrWithin } from "../config/access";
import { UNKNOWN, knownOr, withFerryConfig } from "./judge";
import { STACK_CONFIG_SCHEMA } from "./stack-config";
import { covers, openingsOf } from "./open-ports";

/** Redis's plain-text port; Redis on EC2 serves outside clients on its TLS port instead (components/target/firewall.ts). */
const REDIS_PLAIN_PORT = 6379;

/**
 * RDS for PostgreSQL refuses plain-text connections only with rds.force_ssl = 1 ("Requiring
 * an SSL connection to a PostgreSQL DB instance",
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html).
 * There is no way to turn password authentication off on RDS, so no rule asks for one.
 */
function postgresForcesTls(args: ResourceValidationArgs, report: ReportViolation): void {
  if (args.type !== "aws:rds/parameterGroup:ParameterGroup") return;
  const family = knownOr(() => args.props.family, UNKNOWN);
  const parameters = knownOr(() => args.props.parameters, UNKNOWN);
  if (typeof family !== "string" || !family.startsWith("postgres") || parameters === UNKNOWN) return;
  const forced = Array.isArray(parameters) && parameters.some((p: { name?: unknown; value?: unknown }) => p?.name === "rds.force_ssl" && String(p.value) === "1");
  if (!forced) report(`${args.name}: rds.force_ssl is not 1, so PostgreSQL also accepts plain-text connections; add { name: "rds.force_ssl", value: "1" }`);
}

/**
 * ElastiCache encrypts in transit only with transitEncryptionEnabled, and its "preferred"
 * mode "allows your Valkey or Redis OSS clients to connect using both encrypted and
 * unencrypted connections" ("Enabling in-transit encryption",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption-enable.html).
 */
function elastiCacheTls(args: ResourceValidationArgs, report: ReportViolation): void {
  if (args.type !== "aws:elasticache/replicationGroup:ReplicationGroup") return;
  const enabled = knownOr(() => args.props.transitEncryptionEnabled, UNKNOWN);
  if (enabled !== UNKNOWN && enabled !== true) report(`${args.name}: transitEncryptionEnabled is ${JSON.stringify(enabled) ?? "unset"}; set transitEncryptionEnabled: true`);
  const mode = knownOr(() => args.props.transitEncryptionMode, UNKNOWN);
  if (mode === "preferred") report(`${args.name}: transitEncryptionMode "preferred" still accepts plain-text clients; leave it unset or set "required"`);
}

/**
 * Redis on EC2 keeps its plain port for the app and runner, which reach it by security
 * group; an address range let in there talks to it in plain text. Outside clients get the
 * TLS port ("tls-port", https://redis.io/topics/encryption). ElastiCache's one port is TLS
 * (elastiCacheTls), so the rule reads the stack's Redis kind.
 */
function redisPlainPortFromOutside(args: ResourceValidationArgs, report: ReportViolation): void {
  const ranges = knownOr(() => openingsOf(args.type, args.props), [])
    .filter((o) => covers(o, REDIS_PLAIN_PORT))
    .flatMap((o) => o.cidrs);
  if (ranges.length === 0) return;
  withFerryConfig(args, report, (config) => {
    if (config.target.redis.kind !== "ec2") return;
    const outside = ranges.filter((c) => c.includes(":") || !cidrWithin(c.trim(), config.target.vpcCidr));
    if (outside.length > 0) {
      report(`${args.name}: ingress from ${outside.join(" and ")} reaches Redis on EC2's plain-text port ${REDIS_PLAIN_PORT}; clients outside the VPC use its TLS port (ferry:source.access opens that one)`);
    }
  });
}

/**
 * ElastiCache answers anyone who reaches it unless an AUTH token (or RBAC user group) is
 * set: "Redis authentication tokens or passwords enable Redis to require a password before
 * allowing clients to run commands" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html).
 */
function elastiCacheAuth(args: ResourceValidationArgs, report: ReportViolation): void {
  if (args.type !== "aws:elasticache/replicationGroup:ReplicationGroup") return;
  const token = knownOr(() => args.props.authToken, UNKNOWN);
  const groups = knownOr(() => args.props.userGroupIds, UNKNOWN);
  if (token === UNKNOWN || groups === UNKNOWN) return;
  const hasToken = typeof token === "string" && token.length > 0;
  const hasUsers = Array.isArray(groups) && groups.length > 0;
  if (!hasToken && !hasUsers) report(`${args.name}: no authToken and no userGroupIds, so any client that reaches it runs commands; set authToken (ferry:targetRedisPassword)`);
}

/**
 * A self-run Redis without requirepass answers any client on an interface it binds ("Redis
 * is designed to be accessed by trusted clients inside trusted environments",
 * https://redis.io/topics/security): the boot script that installs it must set one.
 */
function ec2RedisAuth(args: ResourceValidationArgs, report: ReportViolation): void {
  if (args.type !== "aws:ec2/instance:Instance") return;
  const userData = knownOr(() => args.props.userData, UNKNOWN);
  if (typeof userData !== "string" || !userData.includes("redis-server")) return;
  if (!/\brequirepass\b/.test(userData)) report(`${args.name}: its user data installs redis-server without requirepass, so any client that reaches it runs commands; set a password (from SSM, never in user data)`);
}

export function validateStoreTls(args: ResourceValidationArgs, report: ReportViolation): void {
  postgresForcesTls(args, report);
  elastiCacheTls(args, report);
  redisPlainPortFromOutside(args, report);
}

export function validateStoreAuth(args: ResourceValidationArgs, report: ReportViolation): void {
  elastiCacheAuth(args, report);
  ec2RedisAuth(args, report);
}

export const storeTls: ResourceValidationPolicy = {
  name: "ferry-store-tls",
  description: "PostgreSQL forces TLS, ElastiCache encrypts in transit (never 'preferred'), and no address range reaches Redis on EC2's plain-text port.",
  enforcementLevel: "mandatory",
  configSchema: STACK_CONFIG_SCHEMA,
  validateResource: validateStoreTls,
};

export const storeAuth: ResourceValidationPolicy = {
  name: "ferry-store-auth",
  description: "ElastiCache requires an AUTH token or RBAC users; Redis on EC2 is installed with requirepass.",
  enforcementLevel: "mandatory",
  validateResource: validateStoreAuth,
};
