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
}

/**
 * Redis on EC2 (user story 002): AOF kept, AUTH from SSM, and an RDB snapshot copied
 * to S3 every hour. REDISCLI_AUTH keeps the password out of the process list.
 */
export function redisUserData(a: RedisUserDataArgs): string {
  return `#!/bin/bash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq redis-server awscli
${fetchParameter(a.region, a.passwordParameter, "/etc/ferry/redis-password")}
cat > /etc/redis/ferry.conf <<'FERRY_REDIS'
bind 0.0.0.0
protected-mode yes
appendonly yes
appendfsync everysec
FERRY_REDIS
printf 'requirepass %s\\nmasterauth %s\\n' "$(cat /etc/ferry/redis-password)" "$(cat /etc/ferry/redis-password)" >> /etc/redis/ferry.conf
chown redis:redis /etc/redis/ferry.conf && chmod 0640 /etc/redis/ferry.conf
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

export interface RunnerUserDataArgs {
  ferryRepo: string;
  ferryRef: string;
}

/**
 * The data-plane runner: Debian with node, the PostgreSQL and Redis clients and ferry.
 * sshd must accept FERRY_* and HEROKU_* so Pulumi's remote commands can pass
 * connection URLs as environment instead of argv.
 */
export function runnerUserData(a: RunnerUserDataArgs): string {
  return `#!/bin/bash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq ca-certificates curl git nodejs npm postgresql-client redis-tools pgcopydb
git clone --depth 1 --branch ${shellQuote(a.ferryRef)} ${shellQuote(a.ferryRepo)} /opt/ferry
cd /opt/ferry && npm ci --omit=dev --no-audit --no-fund
ln -sf /opt/ferry/bin/ferry.js /usr/local/bin/ferry
echo 'AcceptEnv FERRY_* HEROKU_*' > /etc/ssh/sshd_config.d/ferry.conf
systemctl reload ssh
`;
}
