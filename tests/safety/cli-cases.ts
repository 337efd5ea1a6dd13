// Bad command lines for `node bin/ferry.js`: each with the one line ferry must answer
// and its exit code (2: the input is wrong, including a key Heroku refuses; 1: the
// other side refused or failed). URLs and keys travel in the environment, as the
// Pulumi stages pass them.

/** The real servers the cases point at (started by the suite). */
export interface World {
  source: string;
  sourceWrongPassword: string;
  target: string;
  targetWrongPassword: string;
  /** A target database that already holds a table. */
  targetNotEmpty: string;
  /** A target database that already holds a table the source also has. */
  targetConflicting: string;
  /** A physical standby of the source: not a primary. */
  standby: string;
  /** An empty target database only the standby case writes to, so a change there is attributed. */
  targetForStandby: string;
  redisSource: string;
  redisSourceWrongPassword: string;
  /** rediss:// on a self-signed certificate (how Heroku Redis serves). */
  redisTls: string;
  /** The same TLS server addressed as plain redis://. */
  redisTlsAsPlain: string;
  /** A TLS-only PostgreSQL on a private CA (RDS-like), its certificate naming only `tlsHostname`; URL without sslmode. */
  pgTls: string;
  /** The CA that signed pgTls's and redisCa's certificates. */
  tlsCaFile: string;
  /** A CA that signed nothing here. */
  wrongCaFile: string;
  /** The name in pgTls's and redisCa's certificates (not 127.0.0.1). */
  tlsHostname: string;
  /** rediss:// on a private CA (ElastiCache-like), the certificate naming only `tlsHostname`. */
  redisCa: string;
  /** rediss:// to a server without TLS. */
  redisPlainAsTls: string;
  redisTarget: string;
  herokuApi: string;
  herokuKey: string;
  /** A key that works but may not touch the app being moved. */
  herokuKeyWithoutAccess: string;
  herokuApp: string;
}

export interface CliCase {
  name: string;
  args: (w: World) => string[];
  env?: (w: World) => Record<string, string>;
  error: RegExp;
  exit: number;
}

const pgEnv = (source: (w: World) => string, target: (w: World) => string) => (w: World) => ({ FERRY_SOURCE_URL: source(w), FERRY_TARGET_URL: target(w) });
const redisEnv = (source: (w: World) => string, target: (w: World) => string) => (w: World) => ({ FERRY_SOURCE_REDIS_URL: source(w), FERRY_TARGET_REDIS_URL: target(w) });
const herokuEnv = (key: (w: World) => string) => (w: World) => ({ HEROKU_API_URL: w.herokuApi, HEROKU_API_KEY: key(w) });
const good = pgEnv((w) => w.source, (w) => w.target);
/** `url` with query parameters added. */
const withQuery = (url: string, params: Record<string, string>) => {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
};
/** The TLS-only PostgreSQL as the source, in `sslmode`, with `extra` in the environment (e.g. FERRY_PG_CA_FILE). */
const pgTlsEnv = (params: (w: World) => Record<string, string>, extra: (w: World) => Record<string, string> = () => ({})) =>
  (w: World) => ({ FERRY_SOURCE_URL: withQuery(w.pgTls, params(w)), FERRY_TARGET_URL: w.target, ...extra(w) });
const PG_TLS_WHERE = String.raw`127\.0\.0\.1:\d+\/postgres`;

export const CLI_CASES: CliCase[] = [
  // ---- command-line shape ----
  { name: "unknown sub-command", args: () => ["pg", "frobnicate"], error: /^ferry: unknown command 'frobnicate'$/, exit: 2 },
  { name: "mistyped sub-command: did you mean", args: () => ["pg", "replcate"], error: /^ferry: unknown command 'replcate' \(did you mean replicate\?\)$/, exit: 2 },
  { name: "mistyped command: did you mean", args: () => ["dcotor", "--stack", "staging"], error: /^ferry: unknown command 'dcotor' \(did you mean doctor\?\)$/, exit: 2 },
  { name: "unknown option", args: () => ["pg", "verify", "--bogus"], error: /^ferry: unknown option '--bogus'$/, exit: 2 },
  { name: "pg: no source URL anywhere", args: () => ["pg", "preflight", "--strategy", "dump"], error: /^ferry: missing --source: pass --source URL or set FERRY_SOURCE_URL$/, exit: 2 },
  { name: "pg: no strategy", args: () => ["pg", "replicate"], env: good, error: /^ferry: missing --strategy: pass --strategy /, exit: 2 },
  { name: "pg: unknown strategy", args: () => ["pg", "preflight", "--strategy", "bogus"], env: good, error: /^ferry: --strategy must be one of physical, logical, dump, capture \(got "bogus"\)$/, exit: 2 },
  { name: "pg: negative lag gate", args: () => ["pg", "cutover", "--strategy", "dump", "--max-lag-bytes", "-5"], env: good, error: /^ferry: --max-lag-bytes must be an integer >= 0 \(got "-5"\)$/, exit: 2 },
  { name: "pg: timeout not a number", args: () => ["pg", "cutover", "--strategy", "dump", "--timeout", "abc"], env: good, error: /^ferry: --timeout must be an integer >= 1 \(got "abc"\)$/, exit: 2 },
  { name: "pg: zero jobs", args: () => ["pg", "replicate", "--strategy", "dump", "--jobs", "0"], env: good, error: /^ferry: --jobs must be an integer >= 1 \(got "0"\)$/, exit: 2 },
  { name: "pg: physical without a standby dir", args: () => ["pg", "replicate", "--strategy", "physical"], env: good, error: /^ferry: missing --standby-dir/, exit: 2 },
  { name: "redis: no source URL", args: () => ["redis", "preflight"], error: /^ferry: missing --source: pass --source URL or set FERRY_SOURCE_REDIS_URL$/, exit: 2 },
  { name: "redis: unknown strategy", args: () => ["redis", "preflight", "--strategy", "bogus"], error: /^ferry: option '--strategy <s>' argument 'bogus' is invalid\. Allowed choices are replicaof, copy\.$/, exit: 2 },
  { name: "redis: zero batch", args: () => ["redis", "replicate", "--strategy", "copy", "--batch", "0"], error: /argument '0' is invalid\. --batch must be a whole number from 1 to 100000$/, exit: 2 },
  { name: "redis: unknown conflict policy", args: () => ["redis", "replicate", "--strategy", "copy", "--conflict", "bogus"], error: /Allowed choices are replace, skip\.$/, exit: 2 },
  { name: "heroku: maintenance neither on nor off", args: (w) => ["heroku", "maintenance", "maybe", "--app", w.herokuApp], env: herokuEnv((w) => w.herokuKey), error: /^ferry: maintenance takes "on" or "off", got "maybe"$/, exit: 2 },
  { name: "heroku: scale count not a number", args: (w) => ["heroku", "scale", "--app", w.herokuApp, "web=lots"], env: herokuEnv((w) => w.herokuKey), error: /^ferry: scale: expected TYPE=N\[:SIZE\] .*got "web=lots"$/, exit: 2 },
  { name: "heroku: no API key", args: (w) => ["heroku", "maintenance", "on", "--app", w.herokuApp], env: (w) => ({ HEROKU_API_URL: w.herokuApi }), error: /^ferry: missing HEROKU_API_KEY: set it in the environment/, exit: 2 },
  { name: "cutover: strategy no store has", args: () => ["cutover", "--strategy", "bogus"], env: good, error: /^ferry: --strategy must be one of physical, logical, dump, capture \(Postgres\) or replicaof, copy \(Redis\) \(got "bogus"\)$/, exit: 2 },
  { name: "cutover: two strategies for one store", args: () => ["cutover", "--strategy", "dump", "--strategy", "logical"], env: good, error: /^ferry: --strategy given twice for Postgres \(dump, logical\): one per store$/, exit: 2 },
  { name: "backup: no object key", args: () => ["pg", "backup", "--bucket", "ferry-backups", "--region", "us-east-1"], env: good, error: /^ferry: required option '--key <key>' not specified$/, exit: 2 },
  { name: "backup: bucket name S3 refuses", args: () => ["pg", "backup", "--bucket", "Ferry_Backups", "--key", "k", "--region", "us-east-1"], env: good, error: /^ferry: option '--bucket <name>' argument 'Ferry_Backups' is invalid\. --bucket must be an S3 bucket name /, exit: 2 },
  { name: "backup: empty object key", args: () => ["redis", "backup", "--bucket", "ferry-backups", "--key", "", "--region", "us-east-1"], env: redisEnv((w) => w.redisSource, (w) => w.redisTarget), error: /^ferry: option '--key <key>' argument '' is invalid\. --key must be an S3 object key/, exit: 2 },
  { name: "restore: not an AWS region", args: () => ["pg", "restore", "--bucket", "ferry-backups", "--key", "k", "--region", "nowhere"], env: good, error: /^ferry: option '--region <region>' argument 'nowhere' is invalid\. --region must be an AWS region such as us-east-1$/, exit: 2 },
  { name: "health: URL is not a URL", args: () => ["health", "--url", "not a url"], error: /^ferry: --url is not a valid URL: "not a url"$/, exit: 2 },
  { name: "proxy: origin not https", args: () => ["proxy", "apply", "--origin", "ftp://example.com", "--host", "local"], error: /^ferry: --origin must be https:\/\/ \(got ftp:\/\/\)$/, exit: 2 },

  // ---- malformed or unreachable URLs ----
  { name: "pg: malformed URL", args: () => ["pg", "preflight", "--strategy", "dump", "--source", "notaurl"], error: /^ferry: --source is not a valid URL: notaurl$/, exit: 2 },
  { name: "pg: nothing listening", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgEnv(() => "postgresql://u:secret-p@127.0.0.1:1/db", (w) => w.target), error: /^ferry: --source 127\.0\.0\.1:1\/db: connect ECONNREFUSED 127\.0\.0\.1:1$/, exit: 1 },
  { name: "pg: host does not resolve", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgEnv(() => "postgresql://u:secret-p@nohost.invalid/db", (w) => w.target), error: /^ferry: --source nohost\.invalid:5432\/db: getaddrinfo ENOTFOUND nohost\.invalid$/, exit: 1 },
  { name: "redis: not a redis URL", args: () => ["redis", "preflight", "--strategy", "copy", "--source", "ftp://example.com"], env: (w) => ({ FERRY_TARGET_REDIS_URL: w.redisTarget }), error: /^ferry: --source must be a redis:\/\/ or rediss:\/\/ URL, got ftp:\/\/$/, exit: 2 },
  { name: "redis: bad database number", args: () => ["redis", "preflight", "--strategy", "copy"], env: redisEnv(() => "redis://127.0.0.1:6379/zero", (w) => w.redisTarget), error: /^ferry: --source has an invalid database number "zero"$/, exit: 2 },
  { name: "redis: nothing listening", args: () => ["redis", "preflight", "--strategy", "copy"], env: redisEnv(() => "redis://127.0.0.1:1/0", (w) => w.redisTarget), error: /^ferry: --source redis:\/\/127\.0\.0\.1:1: connection refused$/, exit: 1 },
  { name: "heroku: API unreachable", args: (w) => ["heroku", "--max-attempts", "1", "maintenance", "on", "--app", w.herokuApp], env: (w) => ({ HEROKU_API_URL: "http://127.0.0.1:1", HEROKU_API_KEY: w.herokuKey }), error: /^ferry: cannot reach the Heroku API at http:\/\/127\.0\.0\.1:1 /, exit: 1 },

  // ---- wrong passwords and keys ----
  { name: "pg: wrong source password", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgEnv((w) => w.sourceWrongPassword, (w) => w.target), error: /^ferry: --source 127\.0\.0\.1:\d+\/\S*: password authentication failed for user "postgres"$/, exit: 1 },
  { name: "pg: wrong target password", args: () => ["pg", "replicate", "--strategy", "dump"], env: pgEnv((w) => w.source, (w) => w.targetWrongPassword), error: /^ferry: --target 127\.0\.0\.1:\d+\/\S*: password authentication failed for user "postgres"$/, exit: 1 },
  { name: "redis: wrong source password", args: () => ["redis", "preflight", "--strategy", "copy"], env: redisEnv((w) => w.redisSourceWrongPassword, (w) => w.redisTarget), error: /^ferry: --source redis:\/\/127\.0\.0\.1:\d+: wrong password or user \(WRONGPASS\)$/, exit: 1 },
  { name: "heroku: wrong API key", args: (w) => ["heroku", "maintenance", "on", "--app", w.herokuApp], env: herokuEnv(() => "not-the-key-000"), error: /^ferry: .*the API key is missing, wrong or expired/, exit: 2 },
  { name: "heroku: key without access to the app", args: (w) => ["heroku", "maintenance", "on", "--app", w.herokuApp], env: herokuEnv((w) => w.herokuKeyWithoutAccess), error: /^ferry: .*the API key's account may not do this to this app/, exit: 2 },

  // ---- TLS ----
  { name: "pg: TLS required, server has none", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgEnv((w) => `${w.source}?sslmode=require`, (w) => w.target), error: /^ferry: --source: TLS requested \(sslmode=require, sslmode in the URL\) but the server at 127\.0\.0\.1:\d+\/postgres does not support SSL: turn ssl on there, or use sslmode=prefer$/, exit: 1 },
  {
    name: "pg: certificate signed by another CA than FERRY_PG_CA_FILE", args: () => ["pg", "preflight", "--strategy", "dump"],
    env: pgTlsEnv(() => ({ sslmode: "verify-full" }), (w) => ({ FERRY_PG_CA_FILE: w.wrongCaFile })),
    error: new RegExp(`^ferry: --source: TLS: the certificate of ${PG_TLS_WHERE} is not signed by the CA in FERRY_PG_CA_FILE \\(/.+\\): give the CA that signed it \\(for RDS, the global bundle\\) in FERRY_PG_CA_FILE or sslrootcert$`), exit: 1,
  },
  {
    name: "pg: certificate for another host name (verify-full)", args: () => ["pg", "preflight", "--strategy", "dump"],
    env: pgTlsEnv(() => ({ sslmode: "verify-full" }), (w) => ({ FERRY_PG_CA_FILE: w.tlsCaFile })),
    error: new RegExp(`^ferry: --source: TLS: the certificate of ${PG_TLS_WHERE} is for db\\.ferry-rds\\.test, not 127\\.0\\.0\\.1: connect by a name in the certificate \\(add hostaddr=IP to go through a forward\\) or use sslmode=verify-ca$`), exit: 1,
  },
  {
    name: "pg: verify-full without a CA", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgTlsEnv(() => ({ sslmode: "verify-full" })),
    error: /^ferry: --source 127\.0\.0\.1:\d+\/postgres: TLS: sslmode=verify-full \(sslmode in the URL\) needs a CA to verify against: set FERRY_PG_CA_FILE \(or sslrootcert in the URL\) to the CA bundle, for RDS the global bundle$/, exit: 2,
  },
  {
    name: "pg: FERRY_PG_CA_FILE that does not exist", args: () => ["pg", "preflight", "--strategy", "dump"],
    env: pgTlsEnv(() => ({ sslmode: "verify-full" }), () => ({ FERRY_PG_CA_FILE: "/nonexistent/rds-global-bundle.pem" })),
    error: /^ferry: --source 127\.0\.0\.1:\d+\/postgres: TLS: the CA file in FERRY_PG_CA_FILE \(\/nonexistent\/rds-global-bundle\.pem\) cannot be read: give the path of a PEM CA bundle$/, exit: 2,
  },
  {
    name: "pg: sslmode=disable to a server that requires TLS", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgTlsEnv(() => ({ sslmode: "disable" })),
    error: new RegExp(`^ferry: --source: the server at ${PG_TLS_WHERE} refuses connections without TLS \\(sslmode=disable, sslmode in the URL\\): use sslmode=require or stronger$`), exit: 1,
  },
  {
    name: "pg: sslmode libpq does not know (no-verify)", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgTlsEnv(() => ({ sslmode: "no-verify" })),
    error: /^ferry: --source 127\.0\.0\.1:\d+\/postgres: TLS: sslmode in the URL must be one of disable, allow, prefer, require, verify-ca, verify-full \(got "no-verify"\)$/, exit: 2,
  },
  {
    name: "pg: hostaddr that is a name, not an IP", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgTlsEnv((w) => ({ sslmode: "verify-full", hostaddr: w.tlsHostname })),
    error: /^ferry: --source 127\.0\.0\.1:\d+\/postgres: TLS: hostaddr must be a numeric IP address \(got "db\.ferry-rds\.test"\): the host name goes in the URL's host$/, exit: 2,
  },
  {
    name: "redis: certificate signed by another CA than --tls-ca", args: (w) => ["redis", "preflight", "--strategy", "copy", "--tls-ca", w.wrongCaFile], env: redisEnv((w) => w.redisCa, (w) => w.redisTarget),
    error: /^ferry: --source rediss:\/\/127\.0\.0\.1:\d+: TLS certificate not trusted \(.+\); pass --tls-ca FILE or, knowingly, --tls-insecure$/, exit: 1,
  },
  {
    name: "redis: certificate for another host name", args: (w) => ["redis", "preflight", "--strategy", "copy", "--tls-ca", w.tlsCaFile], env: redisEnv((w) => w.redisCa, (w) => w.redisTarget),
    error: /^ferry: --source rediss:\/\/127\.0\.0\.1:\d+: TLS certificate is for db\.ferry-rds\.test, not 127\.0\.0\.1: connect by a name in the certificate, or knowingly pass --tls-insecure$/, exit: 1,
  },
  {
    name: "redis: rediss:// to a server without TLS", args: () => ["redis", "preflight", "--strategy", "copy"], env: redisEnv((w) => w.redisPlainAsTls, (w) => w.redisTarget),
    error: /^ferry: --source rediss:\/\/127\.0\.0\.1:\d+: TLS requested \(rediss:\/\/\) but the server did not answer in TLS: use redis:\/\/ if it has no TLS$/, exit: 1,
  },
  { name: "redis: self-signed certificate not trusted", args: () => ["redis", "replicate", "--strategy", "copy"], env: redisEnv((w) => w.redisTls, (w) => w.redisTarget), error: /^ferry: --source rediss:\/\/127\.0\.0\.1:\d+: TLS certificate not trusted \(self-signed certificate\); pass --tls-ca FILE or, knowingly, --tls-insecure$/, exit: 1 },
  { name: "redis: CA file that does not exist", args: () => ["redis", "preflight", "--strategy", "copy", "--tls-ca", "/nonexistent/ca.pem"], env: redisEnv((w) => w.redisTls, (w) => w.redisTarget), error: /^ferry: .*\/nonexistent\/ca\.pem/, exit: 2 },

  // ---- sides that are not what a migration needs ----
  { name: "pg: dump into a target that is not empty", args: () => ["pg", "replicate", "--strategy", "dump"], env: pgEnv((w) => w.source, (w) => w.targetNotEmpty), error: /^ferry: target 127\.0\.0\.1:\d+\/notempty is not empty: it has 1 user relation\(s\) \(public\.already_here\); the dump copy needs an empty database$/, exit: 1 },
  { name: "pg: logical into a target that holds the same tables", args: () => ["pg", "replicate", "--strategy", "logical"], env: pgEnv((w) => w.source, (w) => w.targetConflicting), error: /^ferry: .*(not empty|already exists)/, exit: 1 },
  {
    name: "pg: logical from a source that is a standby, not a primary", args: () => ["pg", "replicate", "--strategy", "logical"], env: pgEnv((w) => w.standby, (w) => w.targetForStandby),
    error: /^ferry: .*(standby|in recovery|not a primary)/, exit: 1,
  },
  {
    name: "pg: preflight of a source that is a standby", args: () => ["pg", "preflight", "--strategy", "dump"], env: pgEnv((w) => w.standby, (w) => w.target),
    error: /^ferry: .*(standby|in recovery|not a primary)|source.*(standby|recovery|primary)/i, exit: 1,
  },
];
