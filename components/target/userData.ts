// Boot scripts. User data is stored in plain text (launch templates, state), so no
// secret is ever written here: each script fetches its secrets from an SSM SecureString
// parameter at boot, using the instance's role.

import { shellQuote } from "../shell";

function fetchParameter(region: string, parameter: string, into: string): string {
  return [
    `install -d -m 0750 "$(dirname ${into})"`,
    `aws ssm get-parameter --region ${shellQuote(region)} --name ${shellQuote(parameter)} --with-decryption --query Parameter.Value --output text > ${into}`,
    `chmod 0600 ${into}`,
  ].join("\n");
}

export interface RedisUserDataArgs {
  region: string;
  passwordParameter: string;
  bucket: string;
  /** A TLS port for clients outside the VPC (ferry:source.access); the plain port stays for the app and runner inside it. */
  tlsPort?: number;
}

export const REDIS_TLS_DIR = "/etc/redis/tls";

/**
 * A self-signed certificate made on the instance at its first boot (no key leaves it, none
 * is in user data). Clients outside the VPC get TLS as they do from Heroku Redis, whose
 * certificates are self-signed too (FACTS.md: Heroku Redis).
 */
export function redisTlsCertScript(dir: string): string {
  return [
    `install -d -m 0750 ${dir}`,
    `[ -s ${dir}/redis.crt ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=ferry-redis' -keyout ${dir}/redis.key -out ${dir}/redis.crt 2>/dev/null`,
    `chmod 0600 ${dir}/redis.key`,
  ].join("\n");
}

/**
 * Redis's own TLS listener beside the plain one: "tls-port ... in addition to the port
 * listening for TCP connections, so it is possible to access Redis on different ports
 * using TLS and non-TLS connections simultaneously" (https://redis.io/topics/encryption).
 * Clients prove themselves with the password, not a certificate: tls-auth-clients no.
 */
export function redisTlsConfig(dir: string, port: number): string {
  return [
    `tls-port ${port}`,
    `tls-cert-file ${dir}/redis.crt`,
    `tls-key-file ${dir}/redis.key`,
    `tls-ca-cert-file ${dir}/redis.crt`,
    "tls-auth-clients no",
  ].join("\n");
}

function redisTlsSetup(tlsPort: number | undefined): { packages: string; cert: string; conf: string; owner: string } {
  if (tlsPort === undefined) return { packages: "", cert: "", conf: "", owner: "" };
  return {
    packages: " openssl",
    cert: `${redisTlsCertScript(REDIS_TLS_DIR)}\n`,
    conf: `${redisTlsConfig(REDIS_TLS_DIR, tlsPort)}\n`,
    owner: `chown -R redis:redis ${REDIS_TLS_DIR}\n`,
  };
}

/**
 * Redis on EC2: AOF kept, AUTH from SSM, and an RDB snapshot copied
 * to S3 every hour. REDISCLI_AUTH keeps the password out of the process list.
 */
export function redisUserData(a: RedisUserDataArgs): string {
  const tls = redisTlsSetup(a.tlsPort);
  return `#!/bin/bash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq redis-server awscli${tls.packages}
${fetchParameter(a.region, a.passwordParameter, "/etc/ferry/redis-password")}
${tls.cert}cat > /etc/redis/ferry.conf <<'FERRY_REDIS'
bind 0.0.0.0
protected-mode yes
appendonly yes
appendfsync everysec
${tls.conf}FERRY_REDIS
printf 'requirepass %s\\nmasterauth %s\\n' "$(cat /etc/ferry/redis-password)" "$(cat /etc/ferry/redis-password)" >> /etc/redis/ferry.conf
${tls.owner}chown redis:redis /etc/redis/ferry.conf && chmod 0640 /etc/redis/ferry.conf
grep -q '^include /etc/redis/ferry.conf' /etc/redis/redis.conf || echo 'include /etc/redis/ferry.conf' >> /etc/redis/redis.conf
systemctl restart redis-server
cat > /etc/cron.hourly/ferry-redis-backup <<'FERRY_BACKUP'
#!/bin/bash
set -euo pipefail
export REDISCLI_AUTH="$(cat /etc/ferry/redis-password)"
out=/var/tmp/ferry-redis-$(date -u +%Y%m%dT%H%M).rdb
redis-cli --rdb "$out" >/dev/null
aws s3 cp --only-show-errors "$out" ${shellQuote(`s3://${a.bucket}/backups/redis/`)}"$(hostname)/$(basename "$out")"
rm -f "$out"
FERRY_BACKUP
chmod 0755 /etc/cron.hourly/ferry-redis-backup
`;
}

/**
 * The RDS CA bundle on the EC2 runner: ferry verifies RDS's certificate against it
 * (sslmode=verify-full). The global bundle covers every commercial region.
 * https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
 */
export const RDS_CA_BUNDLE = "/etc/ferry/rds-global-bundle.pem";
export const RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

export interface RunnerUserDataArgs {
  ferryRepo: string;
  ferryRef: string;
  /** What the boot waits on before installing: answers once the instance has a route out. */
  routeProbeUrl?: string;
  /** How long the boot waits for that route (the Elastic IP is associated after the instance starts). */
  routeDeadlineSeconds?: number;
}

/** ferry's engines field: node 20.19+ (the Debian 12 package is 18.x). */
export const MIN_NODE = { major: 20, minor: 19 } as const;
/** Debian 13's own archive: reached through the same route apt needs, answered without login. */
export const DEFAULT_ROUTE_PROBE = "https://deb.debian.org/debian/dists/trixie/Release";

/**
 * A shell function that waits, up to a deadline, until \`url\` answers. The runner sits in a
 * public subnet without an automatic public address: until the Elastic IP is associated
 * (a separate API call Pulumi makes after the instance starts) it has no route out, and
 * an apt-get started at boot fails. Polls rather than sleeping a fixed time.
 */
export function waitForRouteScript(url: string, deadlineSeconds: number): string {
  return `ferry_wait_for_route() {
  local deadline=$(( $(date +%s) + ${deadlineSeconds} ))
  until curl -fsS -o /dev/null --max-time 5 ${shellQuote(url)}; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "ferry: no route to ${url} after ${deadlineSeconds}s (is the Elastic IP associated?)" >&2
      return 1
    fi
    sleep 2
  done
}`;
}

/** A shell function that fails the boot, with the version found, when node is older than ferry needs. */
export function requireNodeScript(): string {
  return `ferry_require_node() {
  local v
  v="$(node --version 2>/dev/null || echo none)"
  if ! printf '%s' "$v" | awk -F'[v.]' '{ exit !($2 > ${MIN_NODE.major} || ($2 == ${MIN_NODE.major} && $3 >= ${MIN_NODE.minor})) }'; then
    echo "ferry: needs node ${MIN_NODE.major}.${MIN_NODE.minor}+, found $v (use a Debian 13 AMI: its nodejs is 20.19)" >&2
    return 1
  fi
}`;
}

/**
 * What the runner's AMI brings before user data runs: Debian's cloud image
 * (https://cloud.debian.org/images/cloud/), whose packages include these. The route check
 * needs curl from it; everything else the steps call, the user data installs.
 */
export const DEBIAN_CLOUD_IMAGE_PACKAGES = [
  "dash", "bash", "coreutils", "tar", "gzip", "grep", "sed", "findutils", "mawk", "diffutils", "util-linux",
  "procps", "debianutils", "hostname", "curl", "openssh-client", "ca-certificates", "openssl", "cloud-init",
] as const;

/**
 * What the runner's user data installs (Debian packages), each with the commands it puts
 * on the PATH that ferry's steps call. The rehearsal's runner has exactly these and the
 * image's, nothing else of the machine it runs on.
 */
export const RUNNER_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  "ca-certificates": [],
  curl: ["curl"],
  git: ["git"],
  nodejs: ["node"],
  npm: ["npm"],
  "postgresql-client": ["psql", "pg_dump", "pg_restore"],
  "redis-tools": ["redis-cli"],
  pgcopydb: ["pgcopydb"],
  // The app plane's steps: `aws s3 cp` (the slug copy), `aws secretsmanager` (config
  // copies), `aws ecs run-task` (the release phase), `aws ecr get-login-password`.
  awscli: ["aws"],
  // Copies the public images the tasks run into the stack's ECR (Docker Hub's anonymous limit).
  skopeo: ["skopeo"],
};

/** Commands the user data links into /usr/local/bin, from ferry's checkout. */
export const RUNNER_LINKS: Readonly<Record<string, string>> = { ferry: "/opt/ferry/bin/ferry.js" };

/**
 * The data-plane runner: Debian 13 (trixie) with node, the PostgreSQL and Redis clients,
 * the AWS CLI, skopeo and ferry. Debian 13 packages nodejs 20.19
 * (https://packages.debian.org/trixie/nodejs), which meets ferry's engines; Debian 12's is
 * 18.x, so the node version is checked before ferry is installed. curl comes with
 * Debian's cloud images, so the route check needs nothing installed. root installs ferry
 * and builds its bundle once (readable by every user; the SSH user's steps then start from
 * it). sshd must accept FERRY_* and HEROKU_* so Pulumi's remote commands can pass
 * connection URLs as environment instead of argv.
 */
export function runnerUserData(a: RunnerUserDataArgs): string {
  return `#!/bin/bash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
${waitForRouteScript(a.routeProbeUrl ?? DEFAULT_ROUTE_PROBE, a.routeDeadlineSeconds ?? 600)}
${requireNodeScript()}
ferry_wait_for_route
apt-get -o Acquire::Retries=5 update -qq
apt-get -o Acquire::Retries=5 install -y -qq ${Object.keys(RUNNER_PACKAGES).join(" ")}
ferry_require_node
mkdir -p ${RDS_CA_BUNDLE.replace(/\/[^/]+$/, "")}
curl -fsSL --retry 5 ${RDS_CA_BUNDLE_URL} -o ${RDS_CA_BUNDLE}
git clone --depth 1 --branch ${shellQuote(a.ferryRef)} ${shellQuote(a.ferryRepo)} /opt/ferry
cd /opt/ferry && npm ci --omit=dev --no-audit --no-fund
${Object.entries(RUNNER_LINKS).map(([command, target]) => `ln -sf ${target} /usr/local/bin/${command}`).join("\n")}
ferry --help >/dev/null
echo 'AcceptEnv FERRY_* HEROKU_*' > /etc/ssh/sshd_config.d/ferry.conf
systemctl reload ssh
`;
}
