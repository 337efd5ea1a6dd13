#!/usr/bin/env bash
# Installs the system packages ferry's tests and rehearsal run for real:
# PostgreSQL 15+ (server, client, pg_basebackup), pgcopydb (benchmark peer),
# redis-server + redis-cli, nginx, openssl (test certificates), the AWS CLI (the app
# plane's steps call it; the rehearsal points it at a local stand-in), Sidekiq (Ruby:
# the drain tests read the keyspace a real Sidekiq writes), skopeo (the runner copies the
# tasks' images into ECR with it; the rehearsal copies between its stand-in registries),
# and the rehearsal app's runtime: Debian's Ruby with Rails 6.1, Sidekiq 6.4, pg, redis,
# puma, aws-sdk-s3 and bundler (rehearsal/app, resolved with `bundle lock --local`
# against these), and Bucardo 5.6 with DBD::Pg and PL/Perl for its control database
# (bench/pg-capture.ts runs it side by side with ferry's capture strategy, as the peer
# that moves Heroku Postgres with triggers today). Debian, as root.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
command -v nginx >/dev/null || need+=(nginx-light)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/sbin/sshd ] && command -v ssh >/dev/null || need+=(openssh-server openssh-client)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
command -v pgcopydb >/dev/null || need+=(pgcopydb)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
# Debian 12 packages AWS CLI v2 (2.9.x); --endpoint-url, which the rehearsal uses, works in v1 and v2.
command -v aws >/dev/null || need+=(awscli)
command -v skopeo >/dev/null || need+=(skopeo)
command -v bucardo >/dev/null || need+=(bucardo libdbd-pg-perl)
# Each checked by its package: what the rehearsal's EC2 runner has from Debian's cloud image
# (components/target/userData.ts DEBIAN_CLOUD_IMAGE_PACKAGES; rehearsal/stack/runner.ts reads
# their file lists) and git; the rehearsal app's gems (a Gemfile resolves only what is installed).
for pkg in curl ca-certificates procps hostname util-linux diffutils debianutils openssh-client git \
           ruby ruby-rails ruby-sidekiq ruby-pg ruby-redis puma ruby-aws-sdk-s3 ruby-bundler; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: run as root (or with sudo) to install: ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Bucardo's control database needs plperlu (bucardo only recommends it). PL/Perl must match
# the server's exact version, or apt would upgrade the server under running clusters; so
# it is installed once the server is, on a fresh machine in this second step.
pg_major=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! dpkg-query -W -f='${Status}' "postgresql-plperl-$pg_major" 2>/dev/null | grep -q "install ok installed"; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-system: run as root (or with sudo) to install: postgresql-plperl-$pg_major" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  [ ${#need[@]} -gt 0 ] || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "postgresql-plperl-$pg_major=$(dpkg-query -W -f='${Version}' "postgresql-$pg_major")"
fi
# Debian starts a default cluster and redis/nginx services on install; ferry starts
# its own on free loopback ports, so the packaged services are not needed.
for svc in postgresql redis-server nginx ssh; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || service "$svc" stop >/dev/null 2>&1 || true
done
pgcopydb_version=$(dpkg-query -W -f='${Version}' pgcopydb 2>/dev/null || echo none)
bucardo_version=$(dpkg-query -W -f='${Version}' bucardo 2>/dev/null || echo none)
echo "setup-system: PostgreSQL $(ls /usr/lib/postgresql | sort -n | tail -1), $(redis-server --version | cut -d' ' -f3), $(nginx -v 2>&1 | cut -d/ -f2), pgcopydb ${pgcopydb_version}, bucardo ${bucardo_version}, $(ruby -v | cut -d' ' -f1-2), rails $(dpkg-query -W -f='${Version}' ruby-rails)"
