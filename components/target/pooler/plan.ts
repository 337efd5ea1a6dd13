// What the pooler is, decided from the config alone (no Pulumi): its replicas and their
// names, ports, size, the command each task runs, where each half points (PgBouncer: the
// source until Postgres's cutover, the target from it; the Redis proxy: the same for
// Redis's), and the app's DATABASE_URL and REDIS_URL through it.
// docs/pooler.md says why each choice; components/target/pooler/index.ts declares it.
import { createHmac } from "node:crypto";
import type { FerryConfig, PoolerConfig } from "../../../config";
import { atLeast, componentStage, componentsOf } from "../../../config";
import type { TaskSize } from "../app/sizes";
import { RDS_CA_DIR, RDS_CA_IN_TASK } from "../app/rds-ca";
import { shellQuote } from "../../shell";

/** PgBouncer's port for the app (its default), and the supervisor's HTTPS control API beside it. */
export const POOLER_PORT = 6432;
export const CONTROL_PORT = 6433;
/** The Redis proxy's port (`ferry pooler serve --redis-port`): not 6379, which says "a Redis server". */
export const REDIS_PROXY_PORT = 6380;
/** The pooler's CA certificate in every app task, beside the RDS bundle (the same task volume). */
export const POOLER_CA_IN_TASK = `${RDS_CA_DIR}/pooler-ca.pem`;
/**
 * The same certificate where OpenSSL looks a CA up by its subject's hash (SSL_CERT_DIR):
 * Ruby's OpenSSL, hence redis-client and Sidekiq, trusts it there beside the system's own
 * roots, which SSL_CERT_FILE would replace. The hash is `openssl x509 -subject_hash` of the
 * CA tlsCommand makes (its subject is fixed); tests/components/pooler-pure.test.ts checks it.
 */
export const POOLER_CA_SUBJECT_HASH = "cbf57dc0";
export const POOLER_CERTS_DIR = `${RDS_CA_DIR}/certs`;
export const POOLER_CA_HASHED_IN_TASK = `${POOLER_CERTS_DIR}/${POOLER_CA_SUBJECT_HASH}.0`;
/** Debian's own directory of hashed roots, kept in the list (SSL_CERT_DIR replaces the default). */
const SYSTEM_CERTS_DIR = "/etc/ssl/certs";
/** Where the TLS step puts that CA certificate in the stack's bucket (public: a certificate only). */
export const POOLER_CA_KEY = "certs/pooler-ca.pem";
/** Where a pooler task's fetch container puts ferry's bundle and its launcher. */
export const FERRY_DIR = "/ferry";
/** Fargate's smallest size: PgBouncer is one single-threaded process, the supervisor idles. */
export const POOLER_SIZE: TaskSize = { cpu: 256, memory: 512 };
/** The Debian user pgbouncer switches to (it refuses to run as root): postgresql-common, which Debian's pgbouncer depends on, creates it. */
const PGBOUNCER_USER = "postgres";

export interface PoolerReplica {
  /** The Cloud Map service's name, and the ECS service's suffix. */
  service: string;
  /** Its DNS name in the stack's private namespace: one A record, the replica's task. */
  host: string;
  /** The supervisor's control API, as `ferry cutover --pooler` takes it. */
  controlUrl: string;
}

export interface PoolerPlan {
  /** The private DNS namespace (Cloud Map) the replicas' names live in. */
  namespace: string;
  replicas: PoolerReplica[];
  /** The database alias the app connects to; it stays the same when the server behind it changes. */
  database: string;
  clientUser: string;
  /** Where a task that starts now points: the source until Postgres's cutover, then the target. */
  server: "source" | "target";
  pauseTimeoutSeconds: number;
  queryWaitTimeoutSeconds: number;
  poolSize: number;
  image: string;
  size: TaskSize;
  /** The Redis proxy, where the source has Redis and the config keeps it (ferry:target.pooler.redis). */
  redis?: PoolerRedisPlan;
}

export interface PoolerRedisPlan {
  /** Where a task that starts now points: the source until Redis's cutover, then the target. */
  server: "source" | "target";
  /**
   * The replica the app's REDIS_URL names. Redis clients take one host (ioredis,
   * redis-client): losing this replica is a reconnect once ECS has started it again, not
   * the other replica (docs/pooler.md, "Limits").
   */
  host: string;
}

/**
 * The pooler of a stack, or undefined where none is declared. Refused, naming the key,
 * where it has nothing to pool: a source without Postgres, or a local runner (the cutover
 * reaches the replicas' control API from inside the VPC).
 */
export function planPooler(config: Pick<FerryConfig, "source" | "target" | "stages">, stack: string): PoolerPlan | undefined {
  const pooler = config.target.pooler;
  if (!pooler) return undefined;
  if (!componentsOf(config.source).includes("postgres")) throw new Error("ferry:target.pooler: the source has no Postgres to pool; remove the key");
  if (config.target.runner.kind !== "ec2") throw new Error("ferry:target.pooler: needs ferry:target.runner kind ec2 (the cutover reaches the replicas from inside the VPC)");
  const namespace = `${stack}.pooler.internal`;
  const replicas = replicasOf(pooler, namespace);
  return {
    namespace,
    replicas,
    database: config.target.postgres.database,
    clientUser: pooler.clientUser,
    server: atLeast(componentStage("postgres", config.stages), "cutover") ? "target" : "source",
    pauseTimeoutSeconds: pooler.pauseTimeoutSeconds,
    queryWaitTimeoutSeconds: pooler.queryWaitTimeoutSeconds,
    poolSize: pooler.poolSize,
    image: pooler.image,
    size: POOLER_SIZE,
    redis: pooler.redis && componentsOf(config.source).includes("redis")
      ? { server: atLeast(componentStage("redis", config.stages), "cutover") ? "target" : "source", host: replicas[0].host }
      : undefined,
  };
}

function replicasOf(pooler: PoolerConfig, namespace: string): PoolerReplica[] {
  return Array.from({ length: pooler.replicas }, (_, i) => {
    const service = `pooler-${i}`;
    const host = `${service}.${namespace}`;
    return { service, host, controlUrl: `https://${host}:${CONTROL_PORT}` };
  });
}

/**
 * The pooler's two passwords, derived from the target's master password (a secret the
 * stack already holds) with HMAC-SHA256 and a label each: stable across `pulumi up`s,
 * different from each other and from the master password, which neither reveals.
 */
export function poolerPassword(masterPassword: string, label: "admin" | "client"): string {
  return createHmac("sha256", masterPassword).update(`ferry-pooler-${label}`).digest("base64url");
}

/** What the app on AWS connects with through the pooler: its DATABASE_URL and libpq's own variables. */
export interface PoolerClientEnv {
  DATABASE_URL: string;
  PGHOST: string;
  PGPORT: string;
  PGPASSWORD: string;
}

/**
 * The app's connection through the pooler. Every replica is in libpq's host list (libpq
 * tries them in order, so losing the first is a reconnect, not an outage), verify-full
 * against the pooler's CA in the task.
 *
 * The list cannot ride in DATABASE_URL for Rails. ActiveRecord reads the URL with Ruby's
 * RFC 2396 parser (`URI::Parser.new`, activerecord 6.1 `ConnectionUrlResolver`), which
 * refuses a host list in the authority and a login without a host ("does not accept
 * registry part"). It also overwrites a query's `host`, `port` and `password` with the
 * authority's (nil, then dropped). So the URL carries the database, the user and TLS only
 * (`postgresql:///db?user=...`), and the rest goes where every libpq client looks when the
 * connection string is silent: PGHOST (a list, as `host` is), PGPORT, PGPASSWORD
 * (https://www.postgresql.org/docs/current/libpq-envars.html). node-postgres reads
 * PGPASSWORD and PGPORT too, but takes one host: a Node client of the database needs the
 * list split (docs/pooler.md). The server behind the pooler is the pooler's business.
 */
export function poolerClientEnv(plan: PoolerPlan, clientPassword: string): PoolerClientEnv {
  const query = new URLSearchParams({ user: plan.clientUser, sslmode: "verify-full", sslrootcert: POOLER_CA_IN_TASK });
  return {
    DATABASE_URL: `postgresql:///${encodeURIComponent(plan.database)}?${query.toString().replace(/%2F/g, "/")}`,
    PGHOST: plan.replicas.map((r) => r.host).join(","),
    PGPORT: String(POOLER_PORT),
    PGPASSWORD: clientPassword,
  };
}

/** What the app on AWS reaches Redis with through the pooler's proxy, and how it trusts the pooler's CA. */
export interface PoolerRedisClientEnv {
  REDIS_URL: string;
  NODE_EXTRA_CA_CERTS: string;
  SSL_CERT_DIR: string;
}

/**
 * The app's Redis through the proxy: `rediss://` to the replica the plan names, with the
 * client login (the proxy answers AUTH itself). The pooler's CA is private, and neither
 * redis-client (Sidekiq) nor ioredis read a CA from the URL, so the task trusts it where
 * their TLS libraries look without a line of the app changing: Node's NODE_EXTRA_CA_CERTS
 * (added to its roots: https://nodejs.org/api/cli.html#node_extra_ca_certsfile) and
 * OpenSSL's SSL_CERT_DIR (hashed certificates, beside the default bundle file:
 * https://docs.openssl.org/3.0/man3/SSL_CTX_load_verify_locations/), which Ruby's
 * OpenSSL reads through its default store.
 */
export function poolerRedisClientEnv(plan: PoolerPlan, clientPassword: string): PoolerRedisClientEnv | undefined {
  if (!plan.redis) return undefined;
  return {
    REDIS_URL: `rediss://${encodeURIComponent(plan.clientUser)}:${encodeURIComponent(clientPassword)}@${plan.redis.host}:${REDIS_PROXY_PORT}/0`,
    NODE_EXTRA_CA_CERTS: POOLER_CA_IN_TASK,
    SSL_CERT_DIR: `${POOLER_CERTS_DIR}:${SYSTEM_CERTS_DIR}`,
  };
}

/**
 * Where the Redis proxy's server leg starts: the app's own login on that side, as the app
 * had it. A Heroku source's `rediss://` says `ssl_cert_reqs=none` (its certificate is
 * self-signed: https://devcenter.heroku.com/articles/connecting-heroku-redis); a box's
 * or an EC2 target's `redis://` stays plain, as the app reached it.
 */
export function poolerRedisServerUrl(plan: Pick<PoolerPlan, "redis">, urls: { source?: string; target: string }, herokuSource: boolean): string | undefined {
  if (!plan.redis) return undefined;
  if (plan.redis.server === "source" && urls.source) {
    const source = new URL(urls.source);
    if (herokuSource && source.protocol === "rediss:" && !source.searchParams.has("ssl_cert_reqs")) source.searchParams.set("ssl_cert_reqs", "none");
    return source.toString();
  }
  return urls.target;
}

/**
 * Where a pooler task's server leg starts: the app's own login on that side. At the
 * target, verify-full against the RDS bundle the task holds (FERRY_POOLER_SERVER_CA_FILE);
 * at the source, its URL as it is (a Heroku URL says sslmode=require: its certificate
 * cannot be verified), `require` where it says nothing: the app's libpq would have
 * `prefer`red TLS there, and the task holds no CA of the source's to verify with.
 */
export function poolerServerUrl(plan: Pick<PoolerPlan, "server">, urls: { source?: string; target: string }): string {
  if (plan.server === "source" && urls.source) {
    const source = new URL(urls.source);
    if (!source.searchParams.has("sslmode")) source.searchParams.set("sslmode", "require");
    return source.toString();
  }
  const u = new URL(urls.target);
  u.searchParams.set("sslmode", "verify-full");
  return u.toString();
}

/**
 * The pooler container's command: Debian's PgBouncer installed at start (the image is
 * node's, from Debian bookworm: PgBouncer 1.18), then `ferry pooler serve` from the bundle
 * the fetch container put in FERRY_DIR. Settings only: the secrets are FERRY_POOLER_*
 * variables from Secrets Manager.
 */
export function poolerCommand(plan: PoolerPlan): string {
  const serve = [
    "node", `${FERRY_DIR}/ferry`, "pooler", "serve",
    "--database", plan.database, "--client-user", plan.clientUser,
    "--port", String(POOLER_PORT), "--control-port", String(CONTROL_PORT),
    "--pool-size", String(plan.poolSize), "--query-wait-timeout", String(plan.queryWaitTimeoutSeconds),
    "--run-as", PGBOUNCER_USER,
    ...(plan.redis ? ["--redis-port", String(REDIS_PROXY_PORT)] : []),
  ];
  return [
    "set -eu",
    "export DEBIAN_FRONTEND=noninteractive",
    "apt-get -o Acquire::Retries=5 update -qq",
    "apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends pgbouncer >/dev/null",
    `exec ${serve.map(shellQuote).join(" ")}`,
  ].join("\n");
}

/** The fetch container's command: ferry's bundle and its launcher, the RDS bundle, from the stack's bucket. */
export function poolerFetchCommand(): string {
  return [
    "set -eu",
    `aws s3 cp --only-show-errors "$FERRY_BUNDLE_URL" ${FERRY_DIR}/bundle.js`,
    `printf '%s\\n' 'require("./bundle.js").main(process.argv);' > ${FERRY_DIR}/ferry`,
    `aws s3 cp --only-show-errors "$RDS_CA_URL" ${RDS_CA_IN_TASK}`,
  ].join("; ");
}

/** The key of ferry's bundle in the stack's bucket (one per bundle: a task never runs a half-copied one). */
export const ferryBundleKey = (hash: string) => `ferry/ferry-${hash}.js`;

/**
 * The runner step that puts ferry's bundle (the one the runner's ferry runs: built by its
 * user data) into the bucket and prints its key. The bundle is one file with every
 * dependency in it (bin/lib/bundle.js), which node runs as it is.
 */
export function bundleUploadCommand(bucket: string, region: string): string {
  const locate = "const b=require(process.argv[1]);const {join}=require('path');const {existsSync}=require('fs');"
    + "const n='ferry-'+b.bundleKey()+'.js';const f=b.cacheDirs().map((d)=>join(d,n)).find(existsSync);"
    + "if(!f){console.error('ferry: no built bundle of ferry on the runner (run ferry --help once)');process.exit(1)}console.log(f)";
  return [
    "set -eu",
    "ferry --help >/dev/null",
    `f=$(node -e ${shellQuote(locate)} "$(dirname "$(readlink -f "$(command -v ferry)")")/lib/bundle.js")`,
    'h=$(basename "$f" .js | sed "s/^ferry-//")',
    `aws s3 cp --only-show-errors --region ${shellQuote(region)} "$f" "s3://${bucket}/ferry/ferry-$h.js"`,
    'printf \'{"key":"ferry/ferry-%s.js"}\\n\' "$h"',
  ].join("\n");
}

/** What the bundle upload printed: the bundle's key in the bucket. */
export function parseBundleKey(stdout: string): string {
  let parsed: { key?: unknown };
  try {
    parsed = JSON.parse(stdout.trim().split("\n").pop() ?? "");
  } catch {
    throw new Error("the upload of ferry's bundle printed no JSON");
  }
  if (typeof parsed.key !== "string" || !/^ferry\/ferry-[0-9a-f]{32}\.js$/.test(parsed.key)) throw new Error("the upload of ferry's bundle printed no bundle key");
  return parsed.key;
}

/**
 * The runner step that makes the pooler's TLS material: a CA and a certificate for every
 * replica's name (P-256, ten years), the certificate and key written straight into the
 * pooler's TLS secret (the AWS CLI reads them from a pipe: never argv, never Pulumi's
 * state), the CA certificate into the bucket for the app's tasks, and printed (public)
 * for the cutover, which checks the replicas' control API against it. The CA's key is
 * thrown away with the temporary directory: nothing can sign another certificate.
 */
export function tlsCommand(a: { hosts: string[]; secretArn: string; bucket: string; region: string }): string {
  const san = a.hosts.map((h) => `DNS:${h}`).join(",");
  const region = shellQuote(a.region);
  const json = "const fs=require('fs');process.stdout.write(JSON.stringify({FERRY_POOLER_TLS_CERT:fs.readFileSync('cert.pem','utf8'),FERRY_POOLER_TLS_KEY:fs.readFileSync('key.pem','utf8')}))";
  return [
    "set -eu",
    "d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; cd \"$d\"; umask 077",
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj '/CN=ferry pooler CA' -keyout ca.key -out ca.pem 2>/dev/null",
    `openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj ${shellQuote(`/CN=${a.hosts[0]}`)} -keyout key.pem -out req.csr 2>/dev/null`,
    `printf '%s\\n' ${shellQuote(`subjectAltName=${san}`)} 'basicConstraints=CA:FALSE' 'extendedKeyUsage=serverAuth' > ext.cnf`,
    "openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile ext.cnf -out cert.pem 2>/dev/null",
    `node -e ${shellQuote(json)} | aws secretsmanager put-secret-value --region ${region} --secret-id ${shellQuote(a.secretArn)} --secret-string file:///dev/stdin --output text --query VersionId >/dev/null`,
    `aws s3 cp --only-show-errors --region ${region} ca.pem ${shellQuote(`s3://${a.bucket}/${POOLER_CA_KEY}`)}`,
    "cat ca.pem",
  ].join("\n");
}
