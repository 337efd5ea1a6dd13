// The shape of a ferry stack's configuration (namespace `ferry:`), as zod schemas.
// Pulumi's requireObject does not check shapes, so every key is validated here and
// unknown keys are rejected: a typo must fail before any resource is declared.
import { z } from "zod";
import type { StoreSet } from "./stores/model";

export const COMPONENTS = ["postgres", "redis", "app"] as const;
export type Component = (typeof COMPONENTS)[number];

/** Stages in order; `provision` is the implicit first one (no flag). */
export const STAGES = ["provision", "replicate", "proxy", "cutover", "decommission"] as const;
export type Stage = (typeof STAGES)[number];
export type StageFlag = Exclude<Stage, "provision">;
export const STAGE_FLAGS: readonly StageFlag[] = ["replicate", "proxy", "cutover", "decommission"];

const name = (what: string, re: RegExp, example: string) =>
  z.string({ error: `expected ${what}, e.g. ${example}` }).regex(re, { error: `expected ${what}, e.g. ${example}` });

const hostname = name("a hostname", /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, "social.example.com");
const cidr = name("an IPv4 CIDR", /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/, "203.0.113.7/32");
const processType = name("a process type (lowercase letters, digits, - or _)", /^[a-z][a-z0-9_-]{0,29}$/, "web");
const herokuApp = name("a Heroku app name", /^[a-z][a-z0-9-]{2,29}$/, "mastodon-web");
const int = (min: number, max: number) =>
  z.number({ error: `expected a whole number from ${min} to ${max}` }).int({ error: `expected a whole number from ${min} to ${max}` })
    .min(min, { error: `expected a whole number from ${min} to ${max}` }).max(max, { error: `expected a whole number from ${min} to ${max}` });
const bool = z.boolean({ error: "expected true or false" });
const envName = name("an environment variable name", /^[A-Z_][A-Z0-9_]*$/, "DATABASE_URL");

// ---- source ---------------------------------------------------------------

const herokuAppSchema = z.strictObject({
  name: herokuApp,
  /** Process type -> dyno count today; decommission scales these to 0 and rollback restores them. */
  processes: z.record(processType, int(0, 100)).refine((p) => Object.keys(p).length > 0, { error: "list at least one process type, e.g. {web: 1}" }),
  /** Custom domains this app serves; each must also be a target hostname. */
  hostnames: z.array(hostname).default([]),
  /** The origin Cloudflare reaches the Heroku side at (default: the herokuapp.com domain Heroku lists for the app). */
  origin: hostname.optional(),
});

/**
 * Another app, or another variable of the same app, that reaches a store: an add-on
 * attachment (an add-on shared between apps, or HEROKU_POSTGRESQL_ORANGE_URL beside
 * DATABASE_URL; https://devcenter.heroku.com/articles/platform-api-reference#add-on-attachment).
 */
const storeAttachmentSchema = z.strictObject({ app: herokuApp, configVar: envName });

const herokuDataStore = (defaultVar: string) =>
  z.strictObject({
    app: herokuApp,
    configVar: envName.default(defaultVar),
    addon: name("a Heroku add-on name", /^[a-z][a-z0-9-]{2,62}$/, "postgresql-curved-12345"),
    /** The add-on's other attachments (config/stores/): absent when the app's configVar is the only one. */
    attachments: z.array(storeAttachmentSchema).optional(),
  });

// ---- how the source app reaches the target stores (ferry:source.access) ---------
//
// A store can be cut over while the app stays on the source (Postgres first, the dynos
// later or never: stories 000 and 002) only when the stack declares how the source app
// reaches RDS and Redis; without it they are private to the VPC and config/stages.ts
// refuses that order. Each way keeps TLS and a password on both stores; the policy pack
// (policy/store-access.ts) refuses any of them configured without.

/** One IPv4 address as a /32: an allowlist entry, never a range. */
const hostAddress = name("one IPv4 address as a /32", /^(\d{1,3}\.){3}\d{1,3}\/32$/, "203.0.113.7/32");
const privateCidr = name("an RFC 1918 IPv4 CIDR", /^(10\.\d{1,3}|172\.(1[6-9]|2\d|3[01])|192\.168)\.\d{1,3}\.\d{1,3}\/(\d|[12]\d|3[0-2])$/, "10.0.128.0/20");

/**
 * The box's own static address (the one Vultr reports, always allowlisted) and any
 * other address its app leaves from, allowlisted on the stores' security groups.
 */
/**
 * Where the source app finds the RDS CA bundle, as it names the file (an absolute path):
 * RDS's certificates chain to Amazon's RDS roots, which no system trust store holds
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html), and a
 * dyno trusts only its stack image's CA store (the ca-certificates package:
 * https://devcenter.heroku.com/articles/stack-packages) plus what the slug carries. So the
 * bundle is committed with the app (a dyno sees the slug under /app) and the app's URL
 * names it: `sslmode=verify-full&sslrootcert=FILE`, read alike by libpq and node-postgres.
 */
const postgresCaFile = name("an absolute path to the RDS CA bundle as the source app sees it", /^\/[A-Za-z0-9._/-]+\.pem$/, "/app/config/rds-global-bundle.pem");

const boxAccessSchema = z.strictObject({
  kind: z.literal("box"),
  addresses: z.array(hostAddress).default([]),
  postgresCaFile: postgresCaFile.optional(),
  /**
   * The app's env file on the box, whose store URLs a cutover rewrites (then restarts
   * ferry:source.units) while the app stays on the box; the rollback writes the old values back.
   */
  envFile: name("an absolute path", /^\/[A-Za-z0-9._/-]+$/, "/home/mastodon/live/.env.production").optional(),
  postgresVar: envName.default("DATABASE_URL"),
  redisVar: envName.default("REDIS_URL"),
});

/**
 * Heroku Common Runtime dynos leave from changing addresses; a static-IP egress add-on
 * gives them fixed ones, listed in the add-on's dashboard. Both named add-ons tunnel TCP
 * (a database connection), not only HTTP:
 * - QuotaGuard Static: "a pair of static IP addresses that never change ... HTTP and
 *   SOCKS5 for outbound service" (https://quotaguard.github.io/qg-docs/heroku; its SOCKS5
 *   proxy is "for TCP-level routing such as accessing a database",
 *   https://docs.run.pivotal.io/marketplace/services/quotaguard.html).
 * - Fixie Socks: "proxy any TCP connection through Fixie Socks ... a stable set of
 *   outbound IP addresses" (https://github.com/usefixie/fixie-wrench). Plain Fixie is
 *   "for outbound HTTP and HTTPS requests" only (https://devcenter.heroku.com/articles/fixie).
 */
export const EGRESS_ADDONS = ["quotaguard-static", "fixie-socks"] as const;
const staticEgressAccessSchema = z.strictObject({
  kind: z.literal("static-egress"),
  addon: z.enum(EGRESS_ADDONS, { error: `allowed: ${EGRESS_ADDONS.join(", ")} (add-ons that tunnel TCP from fixed addresses; plain Fixie proxies HTTP only)` }),
  addresses: z.array(hostAddress).min(1, { error: "list the add-on's static addresses (its dashboard shows them), e.g. [\"54.173.229.200/32\", \"54.175.230.252/32\"]" }),
  postgresCaFile: postgresCaFile.optional(),
});

/** The stores reachable from the whole internet, over TLS with a password only. */
const publishedAccessSchema = z.strictObject({ kind: z.literal("published"), postgresCaFile: postgresCaFile.optional() });

/**
 * A Heroku Private Space peered with the stack's VPC: the request goes from this VPC to
 * the space's, and is accepted on Heroku's side (`heroku spaces:peerings:accept PCX_ID
 * --space SPACE`). `heroku spaces:peering:info SPACE` prints every value below; "Space
 * CIDRs" are where dyno addresses come from, routed here instead of the space's whole /16
 * (https://devcenter.heroku.com/articles/private-space-peering).
 */
const privateSpaceAccessSchema = z.strictObject({
  kind: z.literal("private-space"),
  peering: z.strictObject({
    accountId: name("the space's AWS account id (12 digits, from heroku spaces:peering:info)", /^\d{12}$/, "847227832372"),
    vpcId: name("the space's AWS VPC id (from heroku spaces:peering:info)", /^vpc-[0-9a-f]{8,17}$/, "vpc-e291cc85"),
    /** The space's AWS region when it is not ferry:target.region (inter-region peering). */
    region: name("an AWS region", /^[a-z]{2}(-gov)?-[a-z]+-\d$/, "us-east-1").optional(),
    spaceCidrs: z.array(privateCidr).min(1, { error: "list the space's dyno CIDRs (\"Space CIDRs\" in heroku spaces:peering:info)" }),
  }, { error: "expected the space's peering info: {accountId, vpcId, spaceCidrs} (heroku spaces:peering:info)" }),
  postgresCaFile: postgresCaFile.optional(),
});

const herokuAccessSchema = z.discriminatedUnion("kind", [staticEgressAccessSchema, publishedAccessSchema, privateSpaceAccessSchema], {
  error: "expected kind: static-egress, published or private-space (how Heroku dynos reach the target stores)",
});

/**
 * Heroku Postgres grants its customers the database's owner, with no superuser and no
 * REPLICATION role (FACTS.md): a dump behind the fence, or change capture by triggers the
 * owner may install (dataplane/postgres/capture/).
 */
const HEROKU_POSTGRES_STRATEGIES = "Heroku Postgres grants no REPLICATION role: allowed: dump (the whole copy inside the write window) or capture (triggers the database's owner installs; the window does not grow with the database)";

/**
 * A box's own PostgreSQL: ferry has its superuser there, so logical replication moves it
 * (a cutover measured under a second) without a trigger on every write and a change log
 * on the box; capture is refused for a box with that reason.
 */
const boxPostgresStrategyError = (issue: { input?: unknown }) =>
  issue.input === "capture"
    ? "capture is for sources that grant no REPLICATION role (Heroku Postgres); a box grants it, so use logical, which needs no trigger on every write and no change log on the box"
    : "allowed: logical, dump, physical";

export const herokuSourceSchema = z.strictObject({
  kind: z.literal("heroku"),
  apps: z.array(herokuAppSchema).min(1, { error: "list at least one Heroku app" }),
  postgres: herokuDataStore("DATABASE_URL")
    .extend({ strategy: z.enum(["dump", "capture"], { error: HEROKU_POSTGRES_STRATEGIES }).default("dump") })
    .optional(),
  redis: herokuDataStore("REDIS_URL").extend({ sidekiq: bool.default(false) }).optional(),
  /** How the dynos reach the target stores while they stay on Heroku (see above). */
  access: herokuAccessSchema.optional(),
});

export const vultrSourceSchema = z.strictObject({
  kind: z.literal("vultr"),
  instanceId: name("a Vultr instance id (UUID)", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "8f3e1c2a-1b2c-4d5e-8f90-123456789abc"),
  services: z
    .array(z.enum(["postgres", "redis", "nginx", "app"], { error: "allowed: postgres, redis, nginx, app" }))
    .min(1, { error: "list what runs on the box: postgres, redis, nginx, app" }),
  ssh: z.strictObject({
    user: name("a Unix user", /^[a-z_][a-z0-9_-]{0,31}$/, "root").default("root"),
    port: int(1, 65535).default(22),
    /**
     * The box's public SSH host key, as `ferry init --box` records it: every SSH step (from
     * a runner whose known_hosts is empty) trusts exactly this key, with StrictHostKeyChecking.
     */
    hostKey: name("the box's public SSH host key (ferry init --box records it; or ssh-keyscan -t ed25519 HOST, checked against the box's console)", /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."),
  }, { error: "expected the box's SSH access: {user, port, hostKey} (ferry init --box writes it)" }),
  postgres: z
    .strictObject({
      strategy: z.enum(["logical", "dump", "physical"], { error: boxPostgresStrategyError }).default("logical"),
    })
    .default({ strategy: "logical" }),
  redis: z.strictObject({ sidekiq: bool.default(false) }).default({ sidekiq: false }),
  /** Process type -> systemd unit on the old box (stopped at decommission, restarted on rollback). */
  units: z.record(processType, name("a systemd unit", /^[A-Za-z0-9@._-]+$/, "mastodon-web")).default({}),
  /**
   * The crontab whose jobs move to EventBridge (ferry:target.compute.schedules, as `ferry
   * box crontab` prints them): a user's (`crontab -u USER`) or a cron file. At cutover its
   * job lines are commented out over SSH, and put back on rollback.
   */
  cron: z.union([
    z.strictObject({ user: name("a Unix user", /^[a-z_][a-z0-9_-]{0,31}$/, "mastodon") }),
    z.strictObject({ file: name("an absolute path", /^\/[A-Za-z0-9._/-]+$/, "/etc/cron.d/mastodon") }),
  ], { error: "expected {user: NAME} (that user's crontab) or {file: /etc/cron.d/NAME}" }).optional(),
  /**
   * The old box's nginx site that the proxy stage takes over: the whole file is replaced
   * by one server block on every address the site listened on (443 included, with the
   * site's own certificate), so no block of the old app keeps serving beside it.
   */
  nginx: z.strictObject({
    siteConf: name("an absolute path", /^\/[A-Za-z0-9._/-]+$/, "/etc/nginx/sites-enabled/mastodon"),
    listen: z.array(name("[address:]port", /^(\S+:)?\d{1,5}$/, "80")).default(["80"]),
    sslListen: z.array(name("[address:]port", /^(\S+:)?\d{1,5}$/, "443")).default(["443"]),
    sslCertificate: name("an absolute path", /^\/[A-Za-z0-9._/-]+$/, "/etc/letsencrypt/live/social.example/fullchain.pem"),
    sslCertificateKey: name("an absolute path", /^\/[A-Za-z0-9._/-]+$/, "/etc/letsencrypt/live/social.example/privkey.pem"),
  }).optional(),
  /**
   * The box's hostnames are on Cloudflare: the proxy stage first splits requests by
   * ferry:trafficPercent with a Cloudflare load balancer (the box's pool and AWS's), and
   * the old nginx forwards everything only at 100%. Off: the nginx forward from the start.
   */
  weightedSplit: bool.default(false),
  /** How the box's app reaches the target stores while it stays on the box (see above). */
  access: z.discriminatedUnion("kind", [boxAccessSchema], { error: "expected kind: box (the box's own address, allowlisted on the target stores)" }).optional(),
});

export const sourceSchema = z.discriminatedUnion("kind", [herokuSourceSchema, vultrSourceSchema], {
  error: "expected kind: heroku or kind: vultr",
});

// ---- target ---------------------------------------------------------------

const postgresTargetSchema = z.strictObject({
  version: z.enum(["15", "16", "17"], { error: "allowed major versions: 15, 16, 17" }).default("16"),
  instanceClass: name("an RDS instance class", /^db\.[a-z0-9]+\.[a-z0-9]+$/, "db.t4g.medium"),
  storageGb: int(20, 65536),
  multiAz: bool.default(false),
  backupRetentionDays: int(1, 35).default(7),
  database: name("a database name", /^[a-z_][a-z0-9_]{0,62}$/, "app").default("app"),
  username: name("a database user", /^[a-z_][a-z0-9_]{0,62}$/, "app").default("app"),
});

const redisTargetSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({
      kind: z.literal("elasticache"),
      nodeType: name("an ElastiCache node type", /^cache\.[a-z0-9]+\.[a-z0-9]+$/, "cache.t4g.small"),
      replicas: int(0, 5).default(0),
      snapshotRetentionDays: int(0, 35).default(7),
    }),
    z.strictObject({
      kind: z.literal("ec2"),
      instanceType: name("an EC2 instance type", /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "t4g.small"),
      ami: name("an AMI id", /^ami-[0-9a-f]{8,17}$/, "ami-0123456789abcdef0"),
      volumeGb: int(8, 16384).default(20),
    }),
  ],
  { error: "expected kind: elasticache or kind: ec2" },
);

// ---- the app on ECS Fargate (compute) -----------------------------------------------

/** Heroku dyno sizes ferry maps to Fargate CPU and memory (components/target/app/sizes.ts). */
export const DYNO_SIZES = ["eco", "basic", "standard-1X", "standard-2X", "performance-M", "performance-L", "performance-L-RAM", "private-S", "private-M", "private-L", "shield-S", "shield-M", "shield-L"] as const;

/** An OCI image reference: [registry/]repository[:tag][@sha256:digest]. */
const imageRef = name(
  "an OCI image reference",
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/,
  "ghcr.io/mastodon/mastodon:v4.3.0",
);
const command = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });

const processSchema = z.strictObject({
  /** Heroku source: the app and process type whose slug this process runs (default: the app listing this type, same name). */
  from: z.strictObject({ app: herokuApp, type: processType }).optional(),
  /** Any source: run this image instead of a slug (a box's app, or a Heroku app with no slug). */
  image: imageRef.optional(),
  /** With an image: the command (run with /bin/sh -c); default the image's own. With a slug: overrides the Procfile's. */
  command: command("the command that starts this process").optional(),
  /** Heroku dyno size, mapped to Fargate CPU and memory; `cpu` and `memory` override it. */
  size: z.enum(DYNO_SIZES, { error: `allowed dyno sizes: ${DYNO_SIZES.join(", ")}` }).default("standard-1X"),
  /** Fargate CPU units (256 = .25 vCPU); with `memory`, one of the documented Fargate combinations. */
  cpu: z.union([z.literal(256), z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096), z.literal(8192), z.literal(16384)], { error: "allowed Fargate CPU units: 256, 512, 1024, 2048, 4096, 8192, 16384" }).optional(),
  /** MiB. */
  memory: int(512, 122880).optional(),
  /** Tasks to run; default the Heroku formation quantity (ferry:source.apps[].processes), else 1. */
  count: int(0, 100).optional(),
  /** Target-tracking bounds on average CPU; without it the count is fixed. */
  autoscaling: z.strictObject({ min: int(0, 100), max: int(1, 100), cpuPercent: int(10, 95).default(60) }).optional(),
  /** Port the process listens on ($PORT), if it serves HTTP behind the load balancer. */
  port: int(1, 65535).optional(),
  healthPath: z.string().regex(/^\//, { error: "expected a path starting with /" }).default("/health"),
});

/** A Heroku Scheduler job, or a crontab line, as a one-off task on a schedule. */
const scheduleSchema = z.strictObject({
  name: name("a schedule name (lowercase letters, digits, -)", /^[a-z][a-z0-9-]{0,39}$/, "media-cleanup"),
  command: command("the job's command"),
  /**
   * EventBridge Scheduler syntax: `rate(10 minutes)`, `cron(30 3 * * ? *)` (UTC unless
   * `timezone`), or Heroku Scheduler's words: `every 10 minutes`, `hourly at :30`, `daily at 03:30`.
   */
  schedule: z.string({ error: "expected a schedule, e.g. daily at 03:30 or cron(30 3 * * ? *)" }),
  timezone: z.string().regex(/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)*$/, { error: "expected an IANA time zone, e.g. Europe/Berlin" }).default("UTC"),
  /** Whose code and config the job runs with (a process of compute.processes). */
  process: processType,
  size: z.enum(DYNO_SIZES, { error: `allowed dyno sizes: ${DYNO_SIZES.join(", ")}` }).default("standard-1X"),
});

export const computeSchema = z.strictObject({
  /** The Heroku stack image slugs run on (heroku-24). An ECR pull-through cache avoids Docker Hub's anonymous pull limits. */
  stackImage: imageRef.default("heroku/heroku:24"),
  /** The image that copies the slug from S3 before the app starts (an init container). */
  fetchImage: imageRef.default("public.ecr.aws/aws-cli/aws-cli:2.22.35"),
  processes: z.record(processType, processSchema).refine((p) => Object.keys(p).length > 0, { error: "list at least one process" }),
  /** A box source: the app's env file on the box (e.g. /home/mastodon/live/.env.production), copied over SSH into a secret. */
  boxEnvFile: z.string().regex(/^\/[^\0\n]*$/, { error: "expected an absolute path on the box" }).optional(),
  /** Extra config vars (stored as secrets, like every config var); DATABASE_URL / REDIS_URL / FERRY_BUCKET are set by ferry. */
  env: z.record(envName, z.string()).default({}),
  /**
   * The variable the app reads its trusted proxies from (Mastodon: TRUSTED_PROXY_IP): ferry
   * sets it to the VPC's range and Cloudflare's, so the app sees its users' addresses
   * instead of Cloudflare's edge (components/target/app/trusted-proxies.ts).
   */
  trustedProxyVar: envName.optional(),
  /** The release phase for image processes (slug processes run the Procfile's `release`): runs before the services take a new release. */
  release: z.strictObject({ process: processType, command: command("the release command, e.g. bundle exec rails db:migrate") }).optional(),
  schedules: z.array(scheduleSchema).default([]),
  /** CloudWatch Logs retention per process. */
  logRetentionDays: z.union([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653].map((d) => z.literal(d)) as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>], { error: "allowed CloudWatch Logs retentions (days): 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653" }).default(30),
});

const runnerSchema = z.discriminatedUnion(
  "kind",
  [
    z.strictObject({
      kind: z.literal("local"),
      /** Public addresses of the operator's machine: allowed to reach the load balancer for the health gate. */
      operatorCidrs: z.array(cidr).min(1, { error: "list the public address of the machine running pulumi (e.g. 203.0.113.7/32)" })
        .refine((c) => !c.includes("0.0.0.0/0"), { error: "0.0.0.0/0 is not an operator address" }),
      /**
       * Refused (config/references.ts says why): a port forward the operator opens by hand is
       * nothing the program declares, so no `pulumi up` can rely on it. Named so the refusal
       * can say what to do instead of "unknown key".
       */
      postgresAddress: z.string().optional(),
      redisAddress: z.string().optional(),
    }),
    z.strictObject({
      kind: z.literal("ec2"),
      instanceType: name("an EC2 instance type", /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "t3.small").default("t3.small"),
      /** A Debian 13 AMI (its nodejs is 20.19; Debian 12 has 18.x): user data installs node, the PostgreSQL/Redis clients and ferry. */
      ami: name("an AMI id", /^ami-[0-9a-f]{8,17}$/, "ami-0123456789abcdef0"),
      sshPublicKey: z.string({ error: "expected an OpenSSH public key" }).regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+/, { error: "expected an OpenSSH public key (ssh-ed25519 AAAA...)" }),
      sshCidrs: z.array(cidr).min(1, { error: "list the operator addresses allowed to SSH to the runner" })
        .refine((c) => !c.includes("0.0.0.0/0"), { error: "0.0.0.0/0 opens SSH to the whole internet; list operator addresses" }),
      ferryRepo: z.url({ error: "expected the git URL ferry is installed from" }),
      ferryRef: z.string().regex(/^[A-Za-z0-9._/-]+$/, { error: "expected a git branch, tag or commit" }).default("main"),
    }),
  ],
  { error: "expected kind: local or kind: ec2" },
);

/**
 * The Postgres pooler the app on AWS reaches its database through (docs/pooler.md): the
 * cutover pauses, repoints and resumes it, so writes wait instead of failing. Absent: the
 * app connects to the store directly and rolls onto the target at cutover.
 */
export const poolerSchema = z.strictObject({
  /** One ECS service per replica: losing one is not an outage (the app's URL lists them all). */
  replicas: int(2, 8).default(2),
  /** The user the app logs in to the pooler as. */
  clientUser: name("a Postgres user name", /^[a-z_][a-z0-9_]{0,62}$/, "app").default("app"),
  /** Node and Debian's PgBouncer 1.18 run in it (bookworm's package). */
  image: z.string({ error: "expected an image reference" }).min(1, { error: "expected an image reference" }).default("node:20-bookworm-slim"),
  /** How long the cutover's PAUSE may wait for in-flight transactions before it gives back. */
  pauseTimeoutSeconds: int(1, 600).default(10),
  /** How long a query may wait in the pooler (while paused, too). */
  queryWaitTimeoutSeconds: int(1, 86_400).default(120),
  /** Server connections per replica. */
  poolSize: int(1, 10_000).default(20),
  /**
   * The Redis proxy beside PgBouncer in every replica, where the source has Redis: the app's
   * REDIS_URL names it, so Redis's cutover is a pause and a repoint too, not a service roll.
   */
  redis: bool.default(true),
});

export const targetSchema = z.strictObject({
  region: name("an AWS region", /^[a-z]{2}(-gov)?-[a-z]+-\d$/, "us-east-1"),
  availabilityZones: z.array(name("an availability zone", /^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, "us-east-1a")).min(2, { error: "list at least two zones (RDS subnet groups need two)" }).optional(),
  vpcCidr: name("a /16 to /20 IPv4 CIDR", /^(\d{1,3}\.){3}\d{1,3}\/(1[6-9]|20)$/, "10.60.0.0/16").default("10.60.0.0/16"),
  postgres: postgresTargetSchema,
  redis: redisTargetSchema,
  compute: computeSchema,
  pooler: poolerSchema.optional(),
  /** ACM certificate for the load balancer's HTTPS listener (Cloudflare SSL mode Full (strict)). */
  certificateArn: name("an ACM certificate ARN", /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, "arn:aws:acm:us-east-1:123456789012:certificate/...").optional(),
  cloudflare: z.strictObject({
    accountId: name("a Cloudflare account id (32 hex)", /^[0-9a-f]{32}$/, "0123456789abcdef0123456789abcdef"),
    zoneId: name("a Cloudflare zone id (32 hex)", /^[0-9a-f]{32}$/, "0123456789abcdef0123456789abcdef"),
    /**
     * The zone's SSL/TLS encryption mode today (dashboard: SSL/TLS > Overview). Unless it is
     * strict, ferry adds a Configuration Rule setting Full (strict) for its hostnames only,
     * from the proxy stage on; the zone-wide setting is never changed (other hostnames live there).
     */
    sslMode: z.enum(["off", "flexible", "full", "strict"], { error: "allowed: off, flexible, full, strict (the zone's SSL/TLS encryption mode)" }).optional(),
    hostnames: z.array(z.strictObject({
      name: hostname,
      process: processType,
      /**
       * The record that serves this hostname today. ferry adopts it (import) unchanged,
       * points it at AWS at cutover and restores exactly this on rollback.
       */
      record: z.strictObject({
        id: name("a Cloudflare record id (32 hex)", /^[0-9a-f]{32}$/, "0123456789abcdef0123456789abcdef"),
        type: z.enum(["A", "AAAA", "CNAME"], { error: "allowed: A, AAAA, CNAME" }),
        content: z.string({ error: "expected the record's current content" }).min(1, { error: "expected the record's current content" }),
        // The rest of the live record: an import must declare it exactly as it is, or
        // Cloudflare's provider refuses the import. Copy them from the dashboard or the API.
        proxied: bool,
        ttl: z.number({ error: "expected the record's TTL: 1 (automatic) or 60 to 86400" }).int({ error: "expected the record's TTL: 1 (automatic) or 60 to 86400" })
          .refine((t) => t === 1 || (t >= 60 && t <= 86400), { error: "expected the record's TTL: 1 (automatic) or 60 to 86400" }),
        comment: z.string().max(100, { error: "Cloudflare allows 100 characters below Enterprise" }).optional(),
      }).refine((r) => !r.proxied || r.ttl === 1, { error: "a proxied record's TTL is 1 (automatic)", path: ["ttl"] }).optional(),
    })).min(1, { error: "list at least one hostname" }),
  }),
  runner: runnerSchema,
  /** Lag under which `ferry pg cutover` may fence the source (pg_easy_replicate uses 200 kB). */
  maxLagBytes: int(0, 1 << 30).default(204800),
  cutoverTimeoutSeconds: int(10, 3600).default(300),
  /**
   * Days the final backups (the source's dump and Redis keys, taken before decommission
   * releases it) are kept in the bucket: the way back from decommission lasts this long.
   */
  finalBackupRetentionDays: int(1, 36500).default(365),
});

// ---- stage flags ----------------------------------------------------------

export const stageFlagsSchema = z.strictObject({
  replicate: bool.default(false),
  proxy: bool.default(false),
  trafficPercent: int(0, 100).optional(),
  cutover: bool.default(false),
  decommission: bool.default(false),
  /** Component -> the last stage it may reach, so one component can move ahead of the others. */
  hold: z
    // Component names are checked in validateStages, which knows the source's components.
    .record(z.string(), z.enum(STAGES, { error: `allowed stages: ${STAGES.join(", ")}` }))
    .default({}),
});

// ---- secrets --------------------------------------------------------------

const secret = (what: string) => z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });
export const url = (schemes: string[]) =>
  secret(`a ${schemes.join(" or ")} URL`).refine((v) => {
    try {
      return schemes.includes(new URL(v).protocol.replace(/:$/, ""));
    } catch {
      return false;
    }
  }, { error: `expected a ${schemes.join(" or ")} URL` });

export const secretsSchema = z.strictObject({
  sourceDatabaseUrl: url(["postgres", "postgresql"]).optional(),
  sourceRedisUrl: url(["redis", "rediss"]).optional(),
  /** Named stores (config/stores/): a JSON object, store name -> its source URL, set as one secret. */
  sourceDatabaseUrls: secret("a JSON object of store name -> postgres URL").optional(),
  sourceRedisUrls: secret("a JSON object of store name -> redis URL").optional(),
  herokuApiKey: secret("a Heroku API key").optional(),
  cloudflareApiToken: secret("a Cloudflare API token"),
  sshPrivateKey: secret("an OpenSSH private key").refine((k) => k.includes("PRIVATE KEY"), { error: "expected an OpenSSH private key (-----BEGIN ... PRIVATE KEY-----)" }).optional(),
  targetPostgresPassword: secret("a password of 16+ characters").min(16, { error: "expected a password of 16+ characters" })
    .regex(/^[^/@"\s]+$/, { error: "RDS rejects / @ \" and spaces in passwords" }),
  targetRedisPassword: secret("a password of 16+ characters").min(16, { error: "expected a password of 16+ characters" })
    .regex(/^[!&#$^<>\-A-Za-z0-9]+$/, { error: "ElastiCache auth tokens allow letters, digits and !&#$^<>-" })
    .optional(),
});

/** Keys that hold secrets: they must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = Object.keys(secretsSchema.shape) as (keyof z.infer<typeof secretsSchema>)[];

export type HerokuSourceConfig = z.infer<typeof herokuSourceSchema>;
export type VultrSourceConfig = z.infer<typeof vultrSourceSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type SourceAccess = NonNullable<HerokuSourceConfig["access"] | VultrSourceConfig["access"]>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type PoolerConfig = z.infer<typeof poolerSchema>;
export type StageFlags = Omit<z.infer<typeof stageFlagsSchema>, "hold"> & { hold: Partial<Record<Component, Stage>> };
export type Secrets = z.infer<typeof secretsSchema>;

export interface FerryConfig {
  source: SourceConfig;
  target: TargetConfig;
  stages: StageFlags;
  secrets: Secrets;
  /** Every Postgres and Redis store, named or not (config/stores/); the keys above hold the one store per kind the program moves. */
  stores: StoreSet;
}
