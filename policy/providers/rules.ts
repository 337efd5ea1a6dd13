// What AWS, Cloudflare and the Pulumi engine refuse on a real `pulumi up`, as pure
// checks on one registration (type, name, inputs, options). The mocks of the program
// tests and of `npm run plan` run every registration through `checkRegistration`, so a
// name or a combination the provider would reject fails here first. Each rule cites the
// provider's documentation it comes from.
import { ECS_RULES } from "./ecs";

/** One resource as the program registers it. */
export interface Registration {
  type: string;
  /** The logical name (Pulumi's URN name). */
  name: string;
  /** Inputs as the provider receives them (secret wrappers removed by `plainInputs`). */
  inputs: Record<string, unknown>;
  options: RegistrationOptions;
}

export interface RegistrationOptions {
  /** `import` id: adopt an existing resource. */
  import?: string;
  /** Read with the static `X.get(name, id)`: Pulumi never creates, updates or deletes it. */
  read?: boolean;
  protect?: boolean;
  retainOnDelete?: boolean;
  deleteBeforeReplace?: boolean;
}

/** A live Cloudflare DNS record, as the stack config states it (`ferry:target.cloudflare.hostnames[].record`). */
export interface LiveDnsRecord {
  zoneId: string;
  id: string;
  name: string;
  type: string;
  content: string;
  proxied: boolean;
  ttl: number;
  comment?: string;
}

export interface ProviderWorld {
  /** Live records by import id (`<zoneId>/<recordId>`). */
  liveDnsRecords: Map<string, LiveDnsRecord>;
  /** Import ids already adopted into the stack's state by an earlier `pulumi up`. */
  adopted: Set<string>;
}

export type Rule = (r: Registration, world: ProviderWorld) => string[];

// ---- values ------------------------------------------------------------------

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Inputs with Pulumi's secret wrappers removed: providers see the plain value. */
export function plainInputs<T>(value: T): T {
  if (value && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG_KEY] !== undefined) {
    return plainInputs((value as unknown as { value: T }).value);
  }
  if (Array.isArray(value)) return value.map(plainInputs) as unknown as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainInputs(v)])) as T;
  }
  return value;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

function where(r: Registration, key: string): string {
  return `${r.type} ${r.name}: ${key}`;
}

// ---- Pulumi auto-naming ---------------------------------------------------------

/**
 * Pulumi AWS auto-names these properties when the program leaves them unset: the logical
 * name, "-", and 7 random hex characters, lowercased where AWS wants lowercase; a name
 * that would exceed the limit fails ("name 'x-' plus 7 random chars is longer than
 * maximum length 32"). https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming
 */
export const AUTONAMED: Record<string, { property: string; maxLength: number; lowercase?: boolean }> = {
  "aws:rds/instance:Instance": { property: "identifier", maxLength: 63, lowercase: true },
  "aws:rds/parameterGroup:ParameterGroup": { property: "name", maxLength: 255, lowercase: true },
  "aws:rds/subnetGroup:SubnetGroup": { property: "name", maxLength: 255, lowercase: true },
  "aws:elasticache/replicationGroup:ReplicationGroup": { property: "replicationGroupId", maxLength: 40, lowercase: true },
  "aws:elasticache/subnetGroup:SubnetGroup": { property: "name", maxLength: 255, lowercase: true },
  "aws:lb/loadBalancer:LoadBalancer": { property: "name", maxLength: 32 },
  "aws:lb/targetGroup:TargetGroup": { property: "name", maxLength: 32 },
  "aws:s3/bucket:Bucket": { property: "bucket", maxLength: 63, lowercase: true },
  "aws:ec2/securityGroup:SecurityGroup": { property: "name", maxLength: 255 },
  "aws:ec2/launchTemplate:LaunchTemplate": { property: "name", maxLength: 128 },
  "aws:ec2/keyPair:KeyPair": { property: "keyName", maxLength: 255 },
  "aws:iam/role:Role": { property: "name", maxLength: 64 },
  "aws:iam/instanceProfile:InstanceProfile": { property: "name", maxLength: 128 },
  "aws:iam/rolePolicy:RolePolicy": { property: "name", maxLength: 128 },
  "aws:cloudwatch/logGroup:LogGroup": { property: "name", maxLength: 512 },
  "aws:autoscaling/group:Group": { property: "name", maxLength: 255 },
  // https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html: Name 1..64.
  "aws:scheduler/schedule:Schedule": { property: "name", maxLength: 64 },
  // https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html: serviceName up to 255.
  "aws:ecs/service:Service": { property: "name", maxLength: 255 },
};

const AUTONAME_SUFFIX = "-abcdef0"; // "-" + 7 hex characters

/** The physical name the provider will use: the explicit one, or the auto-name. */
export function physicalName(r: Registration): { name: string; explicit: boolean } | undefined {
  const auto = AUTONAMED[r.type];
  if (!auto) return undefined;
  const explicit = str(r.inputs[auto.property]);
  if (explicit !== undefined) return { name: explicit, explicit: true };
  // `namePrefix`: the provider appends a 26-character unique id (terraform's resource.UniqueId).
  const prefix = str(r.inputs.namePrefix);
  if (prefix !== undefined) return { name: `${prefix}${"0".repeat(26)}`, explicit: false };
  const generated = `${r.name}${AUTONAME_SUFFIX}`;
  return { name: auto.lowercase ? generated.toLowerCase() : generated, explicit: false };
}

function autonameLength(r: Registration): string[] {
  const auto = AUTONAMED[r.type];
  const physical = physicalName(r);
  if (!auto || !physical || physical.explicit || physical.name.length <= auto.maxLength) return [];
  return [`${where(r, auto.property)}: name '${r.name}-' plus 7 random chars is longer than maximum length ${auto.maxLength} (set a shorter logical name or an explicit ${auto.property})`];
}

// ---- AWS names -------------------------------------------------------------------

/** Letters, digits, hyphens; starts with a letter; no "--"; no trailing hyphen; 1..max. */
function awsIdentifier(value: string, max: number): string | undefined {
  if (value.length < 1 || value.length > max) return `must be 1 to ${max} characters (got ${value.length})`;
  if (!/^[A-Za-z]/.test(value)) return "must start with a letter";
  if (!/^[A-Za-z0-9-]+$/.test(value)) return "allows only letters, digits and hyphens";
  if (value.includes("--")) return "must not contain two consecutive hyphens";
  if (value.endsWith("-")) return "must not end with a hyphen";
  return undefined;
}

function namedBy(check: (name: string) => string | undefined, doc: string): Rule {
  return (r) => {
    const physical = physicalName(r);
    if (!physical) return [];
    const problem = check(physical.name);
    return problem ? [`${where(r, AUTONAMED[r.type].property)} '${physical.name}' ${problem} (${doc})`] : [];
  };
}

// https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html (DBInstanceIdentifier)
const rdsInstance: Rule[] = [
  namedBy((n) => awsIdentifier(n, 63), "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html"),
  (r) => {
    const out: string[] = [];
    // MasterUserPassword: 8..128 printable ASCII, not / " @ or space (same page).
    const password = str(r.inputs.password);
    if (password !== undefined && (password.length < 8 || password.length > 128 || /[/"@\s]/.test(password))) {
      out.push(`${where(r, "password")}: RDS requires 8 to 128 printable characters without / " @ or spaces (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html)`);
    }
    const retention = num(r.inputs.backupRetentionPeriod);
    if (retention !== undefined && (retention < 0 || retention > 35)) out.push(`${where(r, "backupRetentionPeriod")}: must be 0 to 35 (same page)`);
    const storage = num(r.inputs.allocatedStorage);
    if (storage !== undefined && r.inputs.storageType === "gp3" && (storage < 20 || storage > 65536)) out.push(`${where(r, "allocatedStorage")}: gp3 takes 20 to 65536 GiB (same page)`);
    return out;
  },
];

// https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html
const rdsParameterGroup: Rule[] = [namedBy((n) => awsIdentifier(n, 255), "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html")];

// https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html: letters, digits,
// periods, underscores, spaces, hyphens; not "default".
const rdsSubnetGroup: Rule[] = [namedBy(
  (n) => (/^[A-Za-z0-9._ -]{1,255}$/.test(n) && n !== "default" ? undefined : "allows 1 to 255 letters, digits, periods, underscores, spaces or hyphens, and not 'default'"),
  "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html",
)];

// https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html
const replicationGroup: Rule[] = [
  namedBy((n) => awsIdentifier(n, 40), "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html"),
  (r) => {
    const out: string[] = [];
    const doc = "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html";
    const token = str(r.inputs.authToken);
    if (token !== undefined) {
      if (r.inputs.transitEncryptionEnabled !== true) out.push(`${where(r, "authToken")}: requires transitEncryptionEnabled: true (${doc})`);
      if (token.length < 16 || token.length > 128 || !/^[!&#$^<>\-A-Za-z0-9]+$/.test(token)) out.push(`${where(r, "authToken")}: 16 to 128 characters, letters, digits and !&#$^<>- only (${doc})`);
    }
    const clusters = num(r.inputs.numCacheClusters) ?? 1;
    if (r.inputs.automaticFailoverEnabled === true && clusters < 2) out.push(`${where(r, "automaticFailoverEnabled")}: needs numCacheClusters >= 2 (${doc})`);
    if (r.inputs.multiAzEnabled === true && r.inputs.automaticFailoverEnabled !== true) out.push(`${where(r, "multiAzEnabled")}: needs automaticFailoverEnabled (${doc})`);
    if (clusters < 1 || clusters > 6) out.push(`${where(r, "numCacheClusters")}: 1 to 6 (${doc})`);
    return out;
  },
];

// https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateCacheSubnetGroup.html
const cacheSubnetGroup: Rule[] = [namedBy(
  (n) => (/^[a-z0-9-]{1,255}$/.test(n) ? undefined : "allows 1 to 255 lowercase letters, digits or hyphens"),
  "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateCacheSubnetGroup.html",
)];

/** ELB names: up to 32 alphanumerics or hyphens, not starting or ending with a hyphen. */
function elbName(n: string): string | undefined {
  if (n.length < 1 || n.length > 32) return `must be 1 to 32 characters (got ${n.length})`;
  if (!/^[A-Za-z0-9-]+$/.test(n)) return "allows only letters, digits and hyphens";
  if (n.startsWith("-") || n.endsWith("-")) return "must not begin or end with a hyphen";
  return undefined;
}

// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html
const loadBalancer: Rule[] = [namedBy(
  (n) => elbName(n) ?? (n.startsWith("internal-") ? "must not begin with 'internal-'" : undefined),
  "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html",
)];

// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
const targetGroup: Rule[] = [
  namedBy(elbName, "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"),
  (r) => {
    const doc = "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html";
    const hc = (r.inputs.healthCheck ?? {}) as Record<string, unknown>;
    const out: string[] = [];
    const interval = num(hc.interval);
    if (interval !== undefined && (interval < 5 || interval > 300)) out.push(`${where(r, "healthCheck.interval")}: 5 to 300 seconds (${doc})`);
    // HTTP(S) target groups: timeout 2 to 120 s, default 5 s, and the API refuses a timeout
    // not under the interval ("ValidationError: Health check interval must be greater than the timeout").
    const timeout = num(hc.timeout);
    if (timeout !== undefined && (timeout < 2 || timeout > 120)) out.push(`${where(r, "healthCheck.timeout")}: 2 to 120 seconds (${doc})`);
    const effectiveTimeout = timeout ?? 5;
    if (interval !== undefined && effectiveTimeout >= interval) {
      out.push(`${where(r, "healthCheck.interval")}: must be greater than the timeout (${effectiveTimeout} s${timeout === undefined ? ", the default" : ""}) (${doc})`);
    }
    for (const k of ["healthyThreshold", "unhealthyThreshold"]) {
      const v = num(hc[k]);
      if (v !== undefined && (v < 2 || v > 10)) out.push(`${where(r, `healthCheck.${k}`)}: 2 to 10 (${doc})`);
    }
    const port = num(r.inputs.port);
    if (port !== undefined && (port < 1 || port > 65535)) out.push(`${where(r, "port")}: 1 to 65535 (${doc})`);
    return out;
  },
];

// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html:
// an HTTPS listener needs exactly one default certificate.
const listener: Rule[] = [(r) => {
  const out: string[] = [];
  if (r.inputs.protocol === "HTTPS" && !str(r.inputs.certificateArn)) out.push(`${where(r, "certificateArn")}: an HTTPS listener needs a certificate (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html)`);
  if (r.inputs.protocol === "HTTP" && r.inputs.sslPolicy !== undefined) out.push(`${where(r, "sslPolicy")}: only for HTTPS listeners (same page)`);
  return out;
}];

// https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html: priority 1..50000.
const listenerRule: Rule[] = [(r) => {
  const p = num(r.inputs.priority);
  return p !== undefined && (p < 1 || p > 50000) ? [`${where(r, "priority")}: 1 to 50000 (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html)`] : [];
}];

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
const bucket: Rule[] = [namedBy((n) => {
  if (n.length < 3 || n.length > 63) return `must be 3 to 63 characters (got ${n.length})`;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(n)) return "allows lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit";
  if (n.includes("..") || /^\d+\.\d+\.\d+\.\d+$/.test(n)) return "must not contain two adjacent periods or look like an IP address";
  if (n.startsWith("xn--") || n.endsWith("-s3alias")) return "must not start with xn-- or end with -s3alias";
  return undefined;
}, "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html")];

/** EC2 security group name and description character set. */
const EC2_SG_TEXT = /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]*$/;

// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html
const securityGroup: Rule[] = [
  namedBy((n) => (n.length > 255 || !EC2_SG_TEXT.test(n) ? "allows up to 255 of a-z A-Z 0-9 spaces and ._-:/()#,@[]+=&;{}!$*" : n.startsWith("sg-") ? "must not start with sg-" : undefined),
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html"),
  (r) => {
    const d = str(r.inputs.description);
    return d !== undefined && (d.length > 255 || !EC2_SG_TEXT.test(d))
      ? [`${where(r, "description")}: up to 255 of a-z A-Z 0-9 spaces and ._-:/()#,@[]+=&;{}!$* (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html)`]
      : [];
  },
];

// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AuthorizeSecurityGroupIngress.html and
// API_IpPermission.html: exactly one peer; ports for tcp/udp; the same description charset.
const securityGroupRule: Rule[] = [(r) => {
  const doc = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html";
  const out: string[] = [];
  const peers = ["cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"].filter((k) => r.inputs[k] !== undefined);
  if (peers.length !== 1) out.push(`${where(r, "cidrIpv4|cidrIpv6|prefixListId|referencedSecurityGroupId")}: exactly one peer is required (got ${peers.join(", ") || "none"}) (${doc})`);
  const protocol = String(r.inputs.ipProtocol ?? "");
  if (!protocol) out.push(`${where(r, "ipProtocol")}: required (${doc})`);
  if (protocol === "tcp" || protocol === "udp") {
    const from = num(r.inputs.fromPort);
    const to = num(r.inputs.toPort);
    if (from === undefined || to === undefined || from < 0 || to > 65535 || from > to) out.push(`${where(r, "fromPort/toPort")}: ${protocol} needs 0 <= fromPort <= toPort <= 65535 (${doc})`);
  }
  const cidr = str(r.inputs.cidrIpv4);
  if (cidr !== undefined && !/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(cidr)) out.push(`${where(r, "cidrIpv4")}: '${cidr}' is not an IPv4 CIDR (${doc})`);
  const d = str(r.inputs.description);
  if (d !== undefined && (d.length > 255 || !EC2_SG_TEXT.test(d))) out.push(`${where(r, "description")}: up to 255 of a-z A-Z 0-9 spaces and ._-:/()#,@[]+=&;{}!$* (${doc})`);
  return out;
}];

// https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html:
// a-zA-Z0-9_.-/ ; a name with "/" must be fully qualified (start with "/"), at most 15 levels;
// no "aws"/"ssm" prefix; values up to 4 KB (Standard tier).
const ssmParameter: Rule[] = [(r) => {
  const doc = "https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html";
  const out: string[] = [];
  const name = str(r.inputs.name);
  if (name !== undefined) {
    if (!/^[a-zA-Z0-9_.\-/]{1,1011}$/.test(name)) out.push(`${where(r, "name")} '${name}': allows a-z A-Z 0-9 _ . - / (${doc})`);
    if (name.includes("/") && !name.startsWith("/")) out.push(`${where(r, "name")} '${name}': a hierarchical name must start with / (${doc})`);
    if (name.split("/").length - 1 > 15) out.push(`${where(r, "name")} '${name}': at most 15 levels (${doc})`);
    if (/^\/?(aws|ssm)/i.test(name)) out.push(`${where(r, "name")} '${name}': must not start with aws or ssm (${doc})`);
  }
  const value = str(r.inputs.value);
  const tier = str(r.inputs.tier) ?? "Standard";
  if (value !== undefined && tier === "Standard" && Buffer.byteLength(value) > 4096) out.push(`${where(r, "value")}: ${Buffer.byteLength(value)} bytes exceed the Standard tier's 4 KB (${doc})`);
  return out;
}];

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html and
// API_PutRetentionPolicy.html (the allowed retention values).
const LOG_RETENTION = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
const logGroup: Rule[] = [
  namedBy((n) => (/^[.\-_/#A-Za-z0-9]{1,512}$/.test(n) ? undefined : "allows 1 to 512 of a-z A-Z 0-9 . - _ / #"), "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"),
  (r) => {
    const days = num(r.inputs.retentionInDays);
    return days !== undefined && days !== 0 && !LOG_RETENTION.includes(days)
      ? [`${where(r, "retentionInDays")}: ${days} is not one of ${LOG_RETENTION.join(", ")} (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html)`]
      : [];
  },
];

// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html (name 3..128 of
// a-zA-Z0-9().-/_) and https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html (16 KB, base64 in a template).
const USER_DATA_LIMIT = 16 * 1024;
const launchTemplate: Rule[] = [
  namedBy((n) => (/^[a-zA-Z0-9().\-/_]{3,128}$/.test(n) ? undefined : "allows 3 to 128 of a-z A-Z 0-9 ( ) . - / _"), "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html"),
  (r) => {
    const data = str(r.inputs.userData);
    if (data === undefined) return [];
    const doc = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html";
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) return [`${where(r, "userData")}: a launch template takes base64-encoded user data (${doc})`];
    const raw = Buffer.from(data, "base64").length;
    return raw > USER_DATA_LIMIT ? [`${where(r, "userData")}: ${raw} bytes exceed 16 KB (${doc})`] : [];
  },
];

const ec2Instance: Rule[] = [(r) => {
  const data = str(r.inputs.userData);
  return data !== undefined && Buffer.byteLength(data) > USER_DATA_LIMIT
    ? [`${where(r, "userData")}: ${Buffer.byteLength(data)} bytes exceed 16 KB (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/user-data.html)`]
    : [];
}];

// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html
const autoscalingGroup: Rule[] = [(r) => {
  const min = num(r.inputs.minSize) ?? 0;
  const max = num(r.inputs.maxSize) ?? 0;
  const desired = num(r.inputs.desiredCapacity);
  const out: string[] = [];
  if (min > max) out.push(`${where(r, "minSize")}: ${min} exceeds maxSize ${max} (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html)`);
  if (desired !== undefined && (desired < min || desired > max)) out.push(`${where(r, "desiredCapacity")}: must be within minSize..maxSize (same page)`);
  return out;
}];

// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html: [\w+=,.@-], 1..64.
const iamRole: Rule[] = [namedBy((n) => (/^[\w+=,.@-]{1,64}$/.test(n) ? undefined : "allows 1 to 64 of letters, digits and +=,.@_-"), "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html")];
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateInstanceProfile.html: [\w+=,.@-], 1..128.
const instanceProfile: Rule[] = [namedBy((n) => (/^[\w+=,.@-]{1,128}$/.test(n) ? undefined : "allows 1 to 128 of letters, digits and +=,.@_-"), "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateInstanceProfile.html")];

// ---- Cloudflare ------------------------------------------------------------------

const CF_DNS_DOC = "https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/create/";
const CF_TTL_DOC = "https://developers.cloudflare.com/dns/manage-dns-records/reference/ttl/";
const CF_PROXY_DOC = "https://developers.cloudflare.com/dns/proxy-status/";
const CF_COMMENT_DOC = "https://developers.cloudflare.com/dns/manage-dns-records/reference/record-attributes/";

const dnsRecord: Rule[] = [(r) => {
  const out: string[] = [];
  const type = str(r.inputs.type) ?? "";
  const content = str(r.inputs.content);
  const ttl = num(r.inputs.ttl);
  const name = str(r.inputs.name) ?? "";
  // TTL: 1 means automatic; otherwise 60..86400 (30 on Enterprise zones).
  if (ttl === undefined) out.push(`${where(r, "ttl")}: required by the v6 provider (${CF_DNS_DOC})`);
  else if (ttl !== 1 && (ttl < 60 || ttl > 86400)) out.push(`${where(r, "ttl")}: ${ttl} is not 1 (automatic) or 60 to 86400 (${CF_TTL_DOC})`);
  // Proxied records always have an automatic TTL.
  if (r.inputs.proxied === true) {
    if (!["A", "AAAA", "CNAME"].includes(type)) out.push(`${where(r, "proxied")}: only A, AAAA and CNAME records can be proxied (${CF_PROXY_DOC})`);
    if (ttl !== undefined && ttl !== 1) out.push(`${where(r, "ttl")}: a proxied record's TTL is automatic (1), got ${ttl} (${CF_TTL_DOC})`);
  }
  if (content !== undefined) {
    if (type === "A" && !/^(\d{1,3}\.){3}\d{1,3}$/.test(content)) out.push(`${where(r, "content")}: '${content}' is not an IPv4 address (${CF_DNS_DOC})`);
    if (type === "AAAA" && !content.includes(":")) out.push(`${where(r, "content")}: '${content}' is not an IPv6 address (${CF_DNS_DOC})`);
    if (type === "CNAME" && (/^(\d{1,3}\.){3}\d{1,3}$/.test(content) || !content.includes("."))) out.push(`${where(r, "content")}: a CNAME points at a hostname, got '${content}' (${CF_DNS_DOC})`);
  }
  if (name.length > 255 || name.split(".").some((label) => label.length > 63)) out.push(`${where(r, "name")}: at most 255 characters, 63 per label (${CF_DNS_DOC})`);
  const comment = str(r.inputs.comment);
  if (comment !== undefined && comment.length > 100) out.push(`${where(r, "comment")}: ${comment.length} characters; zones below Enterprise allow 100 (${CF_COMMENT_DOC})`);
  // A proxied record answers with Cloudflare's own addresses, never the CNAME: ACM would
  // wait for its validation record forever (the certificate stays PENDING_VALIDATION).
  if (content !== undefined && /\.acm-validations\.aws\.?$/.test(content) && r.inputs.proxied === true) {
    out.push(`${where(r, "proxied")}: ACM's DNS validation record must be DNS-only; proxied, it resolves to Cloudflare's addresses and ACM never sees the CNAME (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html, ${CF_PROXY_DOC})`);
  }
  return out;
}];

// https://developers.cloudflare.com/rules/configuration-rules/ (phase http_config_settings, action
// set_config) and .../configuration-rules/settings/#ssl (the SSL/TLS modes it may set).
const CF_CONFIG_RULES_DOC = "https://developers.cloudflare.com/rules/configuration-rules/settings/";
const SSL_MODES = ["off", "flexible", "full", "strict", "origin_pull"];
const ruleset: Rule[] = [(r) => {
  const out: string[] = [];
  if (r.inputs.kind === "zone" && !str(r.inputs.zoneId)) out.push(`${where(r, "zoneId")}: a zone ruleset needs its zone (https://developers.cloudflare.com/api/resources/rulesets/methods/create/)`);
  const rules = (r.inputs.rules ?? []) as Record<string, unknown>[];
  rules.forEach((rule, i) => {
    if (!str(rule.expression)) out.push(`${where(r, `rules[${i}].expression`)}: required (https://developers.cloudflare.com/ruleset-engine/rules-language/expressions/)`);
    if (r.inputs.phase !== "http_config_settings") return;
    if (rule.action !== "set_config") out.push(`${where(r, `rules[${i}].action`)}: the http_config_settings phase takes set_config only, got '${String(rule.action)}' (${CF_CONFIG_RULES_DOC})`);
    const ssl = (rule.actionParameters as Record<string, unknown> | undefined)?.ssl;
    if (ssl !== undefined && !SSL_MODES.includes(String(ssl))) out.push(`${where(r, `rules[${i}].actionParameters.ssl`)}: '${String(ssl)}' is not an SSL/TLS mode (${SSL_MODES.join(", ")}) (${CF_CONFIG_RULES_DOC}#ssl)`);
  });
  return out;
}];

const CF_POOL_DOC = "https://developers.cloudflare.com/api/resources/load_balancers/subresources/pools/methods/create/";
const loadBalancerPool: Rule[] = [(r) => {
  const out: string[] = [];
  const name = str(r.inputs.name) ?? "";
  // "A short name (tag) for the pool. Only alphanumeric characters, hyphens, and underscores are allowed."
  if (!/^[A-Za-z0-9_-]+$/.test(name)) out.push(`${where(r, "name")} '${name}': only letters, digits, - and _ are allowed (${CF_POOL_DOC})`);
  const origins = (r.inputs.origins ?? []) as Record<string, unknown>[];
  if (origins.length === 0) out.push(`${where(r, "origins")}: at least one origin (${CF_POOL_DOC})`);
  for (const [i, o] of origins.entries()) {
    const w = num(o.weight);
    if (w !== undefined && (w < 0 || w > 1)) out.push(`${where(r, `origins[${i}].weight`)}: 0 to 1 (${CF_POOL_DOC})`);
    if (!str(o.address)) out.push(`${where(r, `origins[${i}].address`)}: required (${CF_POOL_DOC})`);
  }
  return out;
}];

const CF_MONITOR_DOC = "https://developers.cloudflare.com/api/resources/load_balancers/subresources/monitors/methods/create/";
const loadBalancerMonitor: Rule[] = [(r) => {
  const out: string[] = [];
  const interval = num(r.inputs.interval) ?? 60;
  const timeout = num(r.inputs.timeout) ?? 5;
  const retries = num(r.inputs.retries) ?? 2;
  if (!["http", "https", "tcp", "udp_icmp", "icmp_ping", "smtp"].includes(String(r.inputs.type ?? "http"))) out.push(`${where(r, "type")}: not a monitor type (${CF_MONITOR_DOC})`);
  if (interval < 60 && interval !== 0) out.push(`${where(r, "interval")}: at least 60 seconds below Enterprise (https://developers.cloudflare.com/load-balancing/monitors/)`);
  if (retries < 0 || retries > 5) out.push(`${where(r, "retries")}: 0 to 5 (${CF_MONITOR_DOC})`);
  if (timeout < 1 || timeout > 10) out.push(`${where(r, "timeout")}: 1 to 10 seconds (${CF_MONITOR_DOC})`);
  if (timeout * (retries + 1) >= interval) out.push(`${where(r, "interval")}: must exceed timeout x (retries + 1) = ${timeout * (retries + 1)} (https://developers.cloudflare.com/load-balancing/monitors/)`);
  return out;
}];

const CF_LB_DOC = "https://developers.cloudflare.com/api/resources/load_balancers/methods/create/";
const cloudflareLoadBalancer: Rule[] = [(r) => {
  const out: string[] = [];
  const pools = (r.inputs.defaultPools ?? []) as unknown[];
  if (pools.length === 0) out.push(`${where(r, "defaultPools")}: at least one pool (${CF_LB_DOC})`);
  if (!r.inputs.fallbackPool) out.push(`${where(r, "fallbackPool")}: required (${CF_LB_DOC})`);
  const policy = str(r.inputs.steeringPolicy) ?? "";
  if (!["off", "geo", "random", "dynamic_latency", "proximity", "least_outstanding_requests", "least_connections", ""].includes(policy)) out.push(`${where(r, "steeringPolicy")}: '${policy}' is not a steering policy (${CF_LB_DOC})`);
  const weights = ((r.inputs.randomSteering ?? {}) as { poolWeights?: Record<string, unknown> }).poolWeights ?? {};
  for (const [pool, w] of Object.entries(weights)) {
    if (typeof w !== "number" || w < 0 || w > 1) out.push(`${where(r, `randomSteering.poolWeights.${pool}`)}: 0 to 1 (${CF_LB_DOC})`);
    if (!pools.includes(pool)) out.push(`${where(r, `randomSteering.poolWeights.${pool}`)}: not one of defaultPools (${CF_LB_DOC})`);
  }
  return out;
}];

// ---- ACM ---------------------------------------------------------------------------

// https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html: "Domain names per ACM
// certificate: 10" by default (a quota increase can raise it).
const acmCertificate: Rule[] = [(r) => {
  const names = [str(r.inputs.domainName), ...((r.inputs.subjectAlternativeNames ?? []) as unknown[]).map(str)].filter((n): n is string => n !== undefined);
  const unique = new Set(names);
  return unique.size > 10 ? [`${where(r, "subjectAlternativeNames")}: ${unique.size} domain names; ACM allows 10 per certificate by default (https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html)`] : [];
}];

// ---- ECR ---------------------------------------------------------------------------

// https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html: repositoryName
// 2..256 characters, (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*
const ECR_NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const ecrRepository: Rule[] = [(r) => {
  const name = str(r.inputs.name);
  if (name === undefined) return [];
  return name.length < 2 || name.length > 256 || !ECR_NAME.test(name)
    ? [`${where(r, "name")} '${name}': 2 to 256 lowercase letters, digits and . _ - between path components (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html)`]
    : [];
}];

// ---- the source: read, never managed ----------------------------------------------

/** ferry never creates a Vultr instance: the only one it declares is the source box, read with `.get`. */
const vultrInstance: Rule[] = [(r) =>
  r.options.read ? [] : [`${r.type} ${r.name}: ferry must only read the source box (vultr.Instance.get); a managed instance could be replaced or deleted`]];

// ---- resource options (the engine's rules) ----------------------------------------

const OPTIONS_DOC = "https://www.pulumi.com/docs/iac/concepts/options/";

/** Rules on options that hold for every resource type. */
export function checkOptions(r: Registration): string[] {
  const out: string[] = [];
  const o = r.options;
  // retainOnDelete skips the delete of a replacement, so with deleteBeforeReplace the new
  // resource is created while the old one still exists: a collision for anything unique.
  if (o.deleteBeforeReplace && o.retainOnDelete) {
    out.push(`${r.type} ${r.name}: deleteBeforeReplace with retainOnDelete never deletes the old one before creating the new one (${OPTIONS_DOC}retainondelete/)`);
  }
  // A read resource is never updated or deleted; `protect` and `retainOnDelete` on it are
  // not recorded by the engine, so a check that relies on them fails every real preview.
  if (o.read && (o.protect || o.retainOnDelete)) {
    out.push(`${r.type} ${r.name}: protect/retainOnDelete on a resource read with .get are not recorded by the engine (${OPTIONS_DOC}protect/)`);
  }
  if (o.read && o.import) out.push(`${r.type} ${r.name}: a resource is either read (.get) or imported, not both (${OPTIONS_DOC}import/)`);
  return out;
}

// ---- import must match ---------------------------------------------------------------

/** Inputs an import of a DnsRecord must state exactly as they are live. */
const DNS_IMPORT_FIELDS = ["name", "type", "content", "proxied", "ttl", "comment"] as const;

/**
 * "The inputs to import do not match the existing resource": an import registration
 * whose inputs differ from the live resource fails the whole `pulumi up`. An import id
 * already in state is not an import any more (the engine's step generator compares it
 * with the id recorded at adoption).
 * https://www.pulumi.com/docs/iac/adopting-pulumi/import/#import-resource-option
 */
export function checkImport(r: Registration, world: ProviderWorld): string[] {
  // Once adopted, the engine compares the import id with the recorded one and ignores it.
  if (!r.options.import || world.adopted.has(r.options.import)) return [];
  if (r.type !== "cloudflare:index/dnsRecord:DnsRecord") return [`${r.type} ${r.name}: ferry knows no live state to adopt for this type by import`];
  const live = world.liveDnsRecords.get(r.options.import);
  if (!live) return [`${r.type} ${r.name}: import id ${r.options.import} is not a record of ferry:target.cloudflare.hostnames`];
  const doc = "https://www.pulumi.com/docs/iac/adopting-pulumi/import/#import-resource-option";
  return DNS_IMPORT_FIELDS
    .filter((k) => (r.inputs[k] ?? undefined) !== (live[k] ?? undefined))
    .map((k) => `${where(r, k)}: import declares ${JSON.stringify(r.inputs[k])} but the live record has ${JSON.stringify(live[k])}; inputs to import must match the live resource (${doc})`);
}

export const RULES: Record<string, Rule[]> = {
  "aws:rds/instance:Instance": rdsInstance,
  "aws:rds/parameterGroup:ParameterGroup": rdsParameterGroup,
  "aws:rds/subnetGroup:SubnetGroup": rdsSubnetGroup,
  "aws:elasticache/replicationGroup:ReplicationGroup": replicationGroup,
  "aws:elasticache/subnetGroup:SubnetGroup": cacheSubnetGroup,
  "aws:lb/loadBalancer:LoadBalancer": loadBalancer,
  "aws:lb/targetGroup:TargetGroup": targetGroup,
  "aws:lb/listener:Listener": listener,
  "aws:lb/listenerRule:ListenerRule": listenerRule,
  "aws:s3/bucket:Bucket": bucket,
  "aws:ec2/securityGroup:SecurityGroup": securityGroup,
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": securityGroupRule,
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": securityGroupRule,
  "aws:ssm/parameter:Parameter": ssmParameter,
  "aws:cloudwatch/logGroup:LogGroup": logGroup,
  "aws:ec2/launchTemplate:LaunchTemplate": launchTemplate,
  "aws:ec2/instance:Instance": ec2Instance,
  "aws:autoscaling/group:Group": autoscalingGroup,
  "aws:iam/role:Role": iamRole,
  "aws:iam/instanceProfile:InstanceProfile": instanceProfile,
  "cloudflare:index/dnsRecord:DnsRecord": dnsRecord,
  "cloudflare:index/loadBalancerPool:LoadBalancerPool": loadBalancerPool,
  "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor": loadBalancerMonitor,
  "cloudflare:index/loadBalancer:LoadBalancer": cloudflareLoadBalancer,
  "cloudflare:index/ruleset:Ruleset": ruleset,
  "aws:acm/certificate:Certificate": acmCertificate,
  "aws:ecr/repository:Repository": ecrRepository,
  "vultr:index/instance:Instance": vultrInstance,
  ...ECS_RULES,
};

/** Everything the provider or the engine would refuse about one registration. */
export function checkRegistration(registration: Registration, world: ProviderWorld): string[] {
  const r = { ...registration, inputs: plainInputs(registration.inputs) };
  if (r.type.startsWith("ferry:") || r.type.startsWith("pulumi:providers:")) return [];
  return [...autonameLength(r), ...(RULES[r.type] ?? []).flatMap((rule) => rule(r, world)), ...checkOptions(r), ...checkImport(r, world)];
}
