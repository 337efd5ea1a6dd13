// Bad stack configurations: each must stop before any resource is declared, with one
// line naming the key. The suite checks each against the program's parseConfig (as
// the stack file is read) and a sample through `npm run plan`, which prints the same
// line after "ferry plan: " and exits 2 on any configuration it refuses.
import { Flags, flagsUpTo, herokuConfig, vultrConfig } from "../policy/stacks";

export interface ConfigCase {
  name: string;
  config: Record<string, unknown>;
  error: RegExp;
  exit: number;
}

type Stack = Record<string, unknown>;

/** Change one nested value of `ferry:source` / `ferry:target` (path inside the object). */
function edit(stack: Stack, key: string, change: (value: Record<string, any>) => void): Stack {
  const copy = JSON.parse(JSON.stringify(stack)) as Stack;
  change(copy[key] as Record<string, any>);
  return copy;
}

const target = (stack: Stack, change: (t: Record<string, any>) => void) => edit(stack, "ferry:target", change);
const source = (stack: Stack, change: (s: Record<string, any>) => void) => edit(stack, "ferry:source", change);
const heroku = (flags: Flags = {}) => herokuConfig(flags);
const vultr = (flags: Flags = {}) => vultrConfig(flags);
const without = (stack: Stack, key: string) => Object.fromEntries(Object.entries(stack).filter(([k]) => k !== key));

const E = 2;

export const CONFIG_CASES: ConfigCase[] = [
  // unknown keys
  { name: "unknown top-level key (typo)", config: { ...vultr(), "ferry:cutovr": "true" }, error: /^ferry:cutovr: unknown key; allowed: /, exit: E },
  { name: "unknown nested key", config: target(vultr(), (t) => (t.postgres.encrypted = true)), error: /^ferry:target\.postgres\.encrypted: unknown key$/, exit: E },
  { name: "unknown source kind", config: source(vultr(), (s) => (s.kind = "dokku")), error: /^ferry:source(\.kind)?: .*(heroku|vultr)/, exit: E },
  // wrong types
  { name: "flag that is not a boolean", config: { ...vultr(), "ferry:replicate": "yes" }, error: /^ferry:replicate: expected true or false$/, exit: E },
  { name: "storage size that is not a number", config: target(vultr(), (t) => (t.postgres.storageGb = "lots")), error: /^ferry:target\.postgres\.storageGb: expected a whole number from 20 to 65536$/, exit: E },
  { name: "storage below the RDS minimum", config: target(vultr(), (t) => (t.postgres.storageGb = 5)), error: /^ferry:target\.postgres\.storageGb: expected a whole number from 20 to 65536$/, exit: E },
  { name: "no backups kept", config: target(vultr(), (t) => (t.postgres.backupRetentionDays = 0)), error: /^ferry:target\.postgres\.backupRetentionDays: expected a whole number from 1 to 35$/, exit: E },
  { name: "hostname that is not one", config: target(vultr(), (t) => (t.cloudflare.hostnames[0].name = "not a host")), error: /^ferry:target\.cloudflare\.hostnames\[0\]\.name: expected a hostname/, exit: E },
  { name: "source object that is not JSON", config: { ...vultr(), "ferry:source": "{kind: vultr" }, error: /^ferry:source: not valid JSON\/YAML structure$/, exit: E },
  { name: "no target at all", config: without(vultr(), "ferry:target"), error: /^ferry:target: required/, exit: E },
  { name: "final backup kept no day", config: target(vultr(), (t) => (t.finalBackupRetentionDays = 0)), error: /^ferry:target\.finalBackupRetentionDays: expected a whole number from 1 to 36500$/, exit: E },
  { name: "box nginx site that is not an absolute path", config: source(vultr(), (s) => (s.nginx = { ...s.nginx, siteConf: "sites-enabled/mastodon" })), error: /^ferry:source\.nginx\.siteConf: expected an absolute path/, exit: E },
  // flags out of order, percentages out of range
  { name: "cutover without replicate and proxy", config: { ...vultr(), "ferry:cutover": "true" }, error: /^ferry:cutover: requires ferry:replicate and ferry:proxy \(stages are cumulative/, exit: E },
  { name: "decommission without cutover", config: { ...vultr({ replicate: true, proxy: true }), "ferry:decommission": "true" }, error: /^ferry:decommission: requires ferry:cutover/, exit: E },
  { name: "traffic above 100%", config: heroku({ ...flagsUpTo("proxy"), trafficPercent: 150 }), error: /^ferry:trafficPercent: expected a whole number from 0 to 100$/, exit: E },
  { name: "traffic below 0%", config: heroku({ ...flagsUpTo("proxy"), trafficPercent: -1 }), error: /^ferry:trafficPercent: expected a whole number from 0 to 100$/, exit: E },
  { name: "traffic share before proxy", config: heroku({ replicate: true, trafficPercent: 20 }), error: /^ferry:trafficPercent: only applies once ferry:proxy is true$/, exit: E },
  { name: "weighted split on a box not declared behind Cloudflare", config: source(vultr({ ...flagsUpTo("proxy"), trafficPercent: 50 }), (s) => (s.weightedSplit = false)), error: /^ferry:trafficPercent: this box's old nginx forwards all traffic/, exit: E },
  // holds and stages that would lose data
  { name: "hold at a stage the component does not have", config: vultr({ ...flagsUpTo("proxy"), hold: { postgres: "proxy" } }), error: /^ferry:hold\.postgres: postgres has no proxy stage/, exit: E },
  { name: "hold on a component the source lacks", config: source(vultr({ hold: { redis: "replicate" } }), (s) => (s.services = ["postgres", "nginx", "app"])), error: /^ferry:hold\.redis: this vultr source has no redis/, exit: E },
  { name: "app cut over while its database is held", config: vultr({ ...flagsUpTo("cutover"), hold: { postgres: "replicate" } }), error: /^ferry:hold\.postgres: the app cannot be cut over while postgres is held at replicate/, exit: E },
  { name: "database cut over while the app is held at 20%", config: heroku({ ...flagsUpTo("cutover"), trafficPercent: 20, hold: { app: "proxy" } }), error: /^ferry:source\.access: required to cut over postgres and redis while the source app still serves \(AWS gets 20% of requests\)/, exit: E },
  // the source app's way to the target stores (ferry:source.access)
  { name: "an egress add-on that proxies HTTP only (plain Fixie)", config: source(heroku(), (s) => (s.access = { kind: "static-egress", addon: "fixie", addresses: ["54.173.229.200/32"] })), error: /^ferry:source\.access\.addon: allowed: quotaguard-static, fixie-socks/, exit: E },
  { name: "the whole internet allowlisted as an egress address", config: source(heroku(), (s) => (s.access = { kind: "static-egress", addon: "quotaguard-static", addresses: ["0.0.0.0/0"] })), error: /^ferry:source\.access\.addresses\[0\]: expected one IPv4 address as a \/32/, exit: E },
  { name: "published stores with ElastiCache, which has no public endpoint", config: source(heroku(), (s) => (s.access = { kind: "published" })), error: /^ferry:source\.access\.kind: published gives the stores internet addresses, and ElastiCache has none/, exit: E },
  { name: "a box's way in on a Heroku source", config: source(heroku(), (s) => (s.access = { kind: "box" })), error: /^ferry:source\.access\.kind: expected kind: static-egress, published or private-space/, exit: E },
  { name: "a peered space overlapping the stack's VPC", config: source(heroku(), (s) => (s.access = { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["10.60.0.0/20"] } })), error: /^ferry:source\.access\.peering\.spaceCidrs\[0\]: 10\.60\.0\.0\/20 overlaps ferry:target\.vpcCidr/, exit: E },
  // strategies the sides cannot support
  { name: "logical replication from Heroku Postgres", config: source(heroku(), (s) => (s.postgres.strategy = "logical")), error: /^ferry:source\.postgres\.strategy: Heroku Postgres grants no REPLICATION role: allowed: dump \(.*\) or capture \(.*\)$/, exit: E },
  { name: "a Heroku Postgres strategy misspelt", config: source(heroku(), (s) => (s.postgres.strategy = "Capture")), error: /^ferry:source\.postgres\.strategy: Heroku Postgres grants no REPLICATION role: allowed: dump \(.*\) or capture \(.*\)$/, exit: E },
  { name: "change capture on a box, which grants replication", config: source(vultr(), (s) => (s.postgres = { strategy: "capture" })), error: /^ferry:source\.postgres\.strategy: capture is for sources that grant no REPLICATION role \(Heroku Postgres\); a box grants it, so use logical, which needs no trigger on every write and no change log on the box$/, exit: E },
  { name: "a box strategy misspelt", config: source(vultr(), (s) => (s.postgres = { strategy: "logicl" })), error: /^ferry:source\.postgres\.strategy: allowed: logical, dump, physical$/, exit: E },
  { name: "physical replication into RDS", config: source(vultr(), (s) => (s.postgres = { strategy: "physical" })), error: /^ferry:source\.postgres\.strategy: physical needs a self-run PostgreSQL target/, exit: E },
  // secrets
  { name: "source database URL of the wrong kind", config: { ...vultr(), "ferry:sourceDatabaseUrl": "mysql://u:p@db.example.com/app" }, error: /^ferry:sourceDatabaseUrl: expected a postgres or postgresql URL$/, exit: E },
  { name: "target password too short", config: { ...vultr(), "ferry:targetPostgresPassword": "short" }, error: /^ferry:targetPostgresPassword: expected a password of 16\+ characters/, exit: E },
  { name: "runner SSH open to the whole internet", config: target(vultr(), (t) => (t.runner.sshCidrs = ["0.0.0.0/0"])), error: /^ferry:target\.runner\.sshCidrs: 0\.0\.0\.0\/0 opens SSH to the whole internet/, exit: E },
  { name: "trusted-proxy variable that ferry sets itself", config: target(heroku(), (t) => (t.compute.trustedProxyVar = "DATABASE_URL")), error: /^ferry:target\.compute\.trustedProxyVar: DATABASE_URL is already set by ferry; name the variable the app reads its trusted proxies from/, exit: E },
  { name: "trusted-proxy variable not a variable name", config: target(vultr(), (t) => (t.compute.trustedProxyVar = "trusted proxies")), error: /^ferry:target\.compute\.trustedProxyVar: expected an environment variable name/, exit: E },
  { name: "hostname no Heroku app serves", config: target(heroku(), (t) => (t.cloudflare.hostnames[0].name = "other.example.com")), error: /^ferry:target\.cloudflare\.hostnames\[0\]\.name: "other\.example\.com" is not in any ferry:source\.apps\[\]\.hostnames/, exit: E },
];
