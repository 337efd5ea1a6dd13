// Checks that span several keys: names that must refer to each other, secrets a
// source needs, strategies the source or target cannot support.
import { FerryConfigError } from "./errors";
import type { FerryConfig, HerokuSourceConfig, Secrets } from "./schema";
import { checkAccess } from "./access";
import { componentsOf } from "./strategy";

/** The app's config vars ferry itself sets (program.ts runApp). */
const FERRY_SET_VARS = ["DATABASE_URL", "REDIS_URL", "FERRY_BUCKET"];

function fail(message: string): never {
  throw new FerryConfigError(message);
}

function requireSecret(secrets: Secrets, key: keyof Secrets, why: string): void {
  if (!secrets[key]) fail(`ferry:${key}: required ${why}; set it with \`pulumi config set --secret ferry:${key} ...\``);
}

function checkHerokuNames(source: HerokuSourceConfig, config: FerryConfig): void {
  const apps = new Set(source.apps.map((a) => a.name));
  if (apps.size !== source.apps.length) fail("ferry:source.apps: app names must be unique");
  for (const store of ["postgres", "redis"] as const) {
    const app = source[store]?.app;
    if (app && !apps.has(app)) fail(`ferry:source.${store}.app: "${app}" is not one of ferry:source.apps (${[...apps].join(", ")})`);
  }
  const served = new Set(source.apps.flatMap((a) => a.hostnames));
  config.target.cloudflare.hostnames.forEach((h, i) => {
    if (!served.has(h.name)) {
      fail(`ferry:target.cloudflare.hostnames[${i}].name: "${h.name}" is not in any ferry:source.apps[].hostnames, so the Heroku side has no origin for it`);
    }
    // A custom domain Heroku serves already has its record in the zone (a CNAME at the DNS
    // target `ferry heroku domains` lists); creating another at cutover would collide.
    if (!h.record) {
      fail(`ferry:target.cloudflare.hostnames[${i}].record: required: Heroku serves ${h.name}, so the zone already has its record (the CNAME at the DNS target \`ferry heroku domains\` lists); state it as it is live so ferry adopts it instead of creating a second one`);
    }
  });
}

function checkTargetNames(config: FerryConfig): void {
  const processes = config.target.compute.processes;
  const names = config.target.cloudflare.hostnames.map((h) => h.name);
  if (new Set(names).size !== names.length) fail("ferry:target.cloudflare.hostnames: hostnames must be unique");
  config.target.cloudflare.hostnames.forEach((h, i) => {
    const process = processes[h.process];
    if (!process) fail(`ferry:target.cloudflare.hostnames[${i}].process: "${h.process}" is not in ferry:target.compute.processes (${Object.keys(processes).join(", ")})`);
    if (process.port === undefined) fail(`ferry:target.compute.processes.${h.process}.port: required because hostname ${h.name} is served by it`);
  });
  // A port gives the process a target group; only a hostname's listener rule attaches that
  // group to the load balancer, and ECS refuses a service whose target group has none
  // ("The target group ... does not have an associated load balancer";
  // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb.html).
  const served = new Set(config.target.cloudflare.hostnames.map((h) => h.process));
  for (const [name, process] of Object.entries(processes)) {
    if (process.port !== undefined && !served.has(name)) {
      fail(`ferry:target.compute.processes.${name}.port: no hostname in ferry:target.cloudflare.hostnames is served by ${name}, so its target group would have no listener and ECS refuses the service; remove the port or add a hostname for it`);
    }
  }
  const proxyVar = config.target.compute.trustedProxyVar;
  if (proxyVar && (FERRY_SET_VARS.includes(proxyVar) || proxyVar in config.target.compute.env)) {
    fail(`ferry:target.compute.trustedProxyVar: ${proxyVar} is already set ${proxyVar in config.target.compute.env ? "in ferry:target.compute.env" : "by ferry"}; name the variable the app reads its trusted proxies from (e.g. TRUSTED_PROXY_IP)`);
  }
  const zones = config.target.availabilityZones;
  if (zones && zones.some((z) => !z.startsWith(config.target.region))) {
    fail(`ferry:target.availabilityZones: every zone must be in ferry:target.region (${config.target.region})`);
  }
}

function checkSecrets(config: FerryConfig): void {
  const { source, secrets, target } = config;
  const components = componentsOf(source);
  if (source.kind === "heroku") requireSecret(secrets, "herokuApiKey", "for a heroku source (maintenance, config, scale)");
  if (source.kind === "vultr") requireSecret(secrets, "sshPrivateKey", "to reach the Vultr box over SSH");
  if (target.runner.kind === "ec2") requireSecret(secrets, "sshPrivateKey", "to run commands on the ec2 runner");
  if (components.includes("postgres")) requireSecret(secrets, "sourceDatabaseUrl", "because the source has postgres");
  if (components.includes("redis")) requireSecret(secrets, "sourceRedisUrl", "because the source has redis");
  requireSecret(secrets, "targetRedisPassword", "for the target Redis (AUTH)");
}

function checkStrategies(config: FerryConfig): void {
  const { source } = config;
  if (source.kind !== "vultr") return;
  if (source.services.includes("postgres") && source.postgres.strategy === "physical") {
    fail("ferry:source.postgres.strategy: physical needs a self-run PostgreSQL target and ferry targets RDS, which cannot be a physical standby; use logical");
  }
  // The box's own cron jobs keep running until the cutover comments them out: ferry must
  // know which crontab they are in, or every job would run on both sides.
  if (config.target.compute.schedules.length > 0 && source.services.includes("app") && !source.cron) {
    fail("ferry:source.cron: required with ferry:target.compute.schedules: name the crontab the jobs come from ({user: mastodon} or {file: /etc/cron.d/mastodon}), so the cutover switches them off on the box as they start on AWS");
  }
  const missingUnits = Object.keys(config.target.compute.processes).length > 0 && source.services.includes("app") && Object.keys(source.units).length === 0;
  if (missingUnits) fail("ferry:source.units: list the systemd unit of each process on the old box (e.g. {web: mastodon-web}) so decommission can stop them");
}

/**
 * A local runner is the operator's machine: RDS and ElastiCache are private (no public
 * address), and the program declares no way in for it (an SSM port forward needs an
 * SSM-managed instance, which it does not create). Data steps run on the EC2 runner, in
 * the VPC, whose Elastic IP is also the one address the source sees.
 */
function checkRunner(config: FerryConfig): void {
  const runner = config.target.runner;
  if (runner.kind !== "local") return;
  for (const key of ["postgresAddress", "redisAddress"] as const) {
    if (runner[key] !== undefined) {
      fail(`ferry:target.runner.${key}: a port forward the operator opens by hand is nothing the program declares, so no pulumi up can rely on it; remove it and use runner kind: ec2 (a runner in the VPC)`);
    }
  }
  const stores = componentsOf(config.source).filter((c) => c === "postgres" || c === "redis");
  if (stores.length > 0) {
    fail(`ferry:target.runner.kind: a local runner cannot reach the private RDS and Redis the ${stores.join(" and ")} steps use (the program declares no way in for this machine); use kind: ec2, a runner in the VPC (see Pulumi.staging.yaml)`);
  }
}

export function checkCrossReferences(config: FerryConfig): void {
  if (config.source.kind === "heroku") checkHerokuNames(config.source, config);
  checkTargetNames(config);
  checkStrategies(config);
  checkRunner(config);
  checkSecrets(config);
  checkAccess(config);
}
