// The self-managed box, as the rehearsal stands it in: one stand-in host with
// PostgreSQL on 5432 and Redis on 6379 (each a local server behind a forward on the box's
// address), the site's nginx on 443 and 80 (a site file nginx.conf includes, as in
// /etc/nginx/sites-enabled, with the site's certificate), the app's systemd units (Mastodon's:
// puma, sidekiq and the streaming server, each run in the app's tree with the app's env
// file, as mastodon-*.service run them in /home/mastodon/live) and sshd on 22. Over SSH, `systemctl` is a stand-in
// that starts, stops and restarts those units as systemd does (systemd.ts), and nginx is the box's own, so `ferry proxy apply`
// and the program's unit steps act on the box as they would on the real one.
import { parseEnv } from "node:util";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { VultrSourceConfig } from "../../../config";
import { freePort, LocalPostgres, LocalRedis, nginxHttpPaths, nginxMainContext, onExit, run, startNginx, startPostgres, startRedis, tempDir, LocalNginx } from "../../servers";
import { LocalSshd, startSshd } from "../../servers/sshd";
import { APP_DB, APP_ROLE, fillSource, SourceData } from "../../source-data";
import { forward, Forward } from "../forward";
import { DEFAULT_ORIGIN_CA } from "../../../dataplane/traffic/proxy-config";
import type { Hosts } from "../hosts";
import type { PrivateCa } from "./ca";
import { Fleet, FleetContext, FleetSpec } from "./fleet";
import { fires, ScheduleClock } from "./clock";
import { Systemd } from "./systemd";
import type { DeclaredJob } from "./heroku";
import { jobLines, parseCrontab } from "../../../dataplane/box/crontab";
import { SLUG_RUN, RehearsalSlug } from "../slug";

/** The public CAs `ferry proxy` verifies the origin against by default (Debian's bundle). */
const SYSTEM_CA_BUNDLE = DEFAULT_ORIGIN_CA;

export interface BoxOptions {
  source: VultrSourceConfig;
  /** The site's hostnames, each with the process type that serves it. */
  hostnames: Array<{ name: string; process: string }>;
  /** Process types that serve HTTP (they have a port in the stack's compute), with their health paths. */
  httpProcesses: Record<string, { healthPath?: string }>;
  sizeRows: number;
  /** Seed to at least this database size instead (--size 1gb). */
  sizeBytes?: number;
  sizeLabel: string;
  hosts: Hosts;
  ca: PrivateCa;
  fleet: Omit<FleetContext, "changed">;
  /** The box's cron: its crontab (ferry:source.cron's user) holds the declared jobs, run on the shared clock. */
  cron?: { clock: ScheduleClock; jobs: DeclaredJob[] };
  /** The app, deployed on the box as its tree (the slug's), with its schema migrated by it. */
  slug: RehearsalSlug;
  /** The app's own settings in its env file (its S3 bucket and credentials, SECRET_KEY_BASE). */
  appVars: Record<string, string>;
}

/**
 * A unit's ExecStart, by the process it runs (Mastodon's dist/mastodon-*.service): the
 * streaming server for a process whose health path is the streaming API's, puma for any
 * other that serves HTTP, sidekiq for the rest.
 */
export function unitCommand(process: { http: boolean; healthPath?: string }): string {
  if (process.healthPath?.startsWith("/api/v1/streaming")) return "exec node ./streaming/index.js";
  return process.http ? "exec bundle exec puma -C config/puma.rb" : "exec bundle exec sidekiq";
}

/** Where the box's nginx keeps its files: what `ferry proxy apply` needs to find it. */
export interface NginxLayout {
  siteFile: string;
  stateDir: string;
  nginxConf: string;
  prefix: string;
}

export class Box {
  address = "";
  pg!: LocalPostgres;
  redis!: LocalRedis;
  data!: SourceData;
  sshd!: LocalSshd;
  nginx!: LocalNginx;
  layout!: NginxLayout;
  /** What the stack's secrets hold: ferry's connections to the box. */
  sourceDatabaseUrl = "";
  sourceRedisUrl = "";
  /** The app's env file (Mastodon's .env.production): what the units run with, what `ferry box config copy` reads. */
  envFile = "";
  /** The app's tree on the box (/home/mastodon/live). */
  appDir = "";
  private connections: Record<string, string> = {};
  private readonly units = new Map<string, Fleet>();
  private readonly forwards: Forward[] = [];
  private systemd!: Systemd;

  constructor(private readonly opts: BoxOptions) {}

  async start(): Promise<void> {
    const o = this.opts;
    this.address = await o.hosts.allocate("Vultr box");
    // Debian's postgresql-common makes a cluster with `ssl = on` on the ssl-cert package's
    // self-signed "snakeoil" certificate (pg_createcluster(1)), TLS offered, not required:
    // what a box's Postgres serves to a client that asks (the pooler's `sslmode=require`).
    this.pg = await startPostgres({ tls: { kind: "self-signed", required: false } });
    const appPassword = randomBytes(12).toString("hex");
    this.appDir = join(tempDir("box-live"), "live");
    mkdirSync(this.appDir);
    await run("tar", ["xzf", o.slug.file, "-C", this.appDir, "--strip-components=2", "./app"]);
    this.data = await fillSource(this.pg, appPassword, { sizeRows: o.sizeRows, sizeBytes: o.sizeBytes, sizeLabel: o.sizeLabel, appDir: this.appDir });
    this.forwards.push(await forward(this.address, 5432, this.pg.port));
    this.redis = await startRedis({ password: randomBytes(12).toString("hex") });
    this.forwards.push(await forward(this.address, 6379, this.redis.port));
    // ferry replicates as the box's superuser (publication, slot); the app uses its own role.
    this.sourceDatabaseUrl = `postgresql://postgres:${encodeURIComponent(this.pg.password)}@${this.address}:5432/${APP_DB}`;
    this.sourceRedisUrl = `redis://:${encodeURIComponent(this.redis.password!)}@${this.address}:6379/0`;
    this.connections = { DATABASE_URL: this.pg.url(APP_DB, APP_ROLE, appPassword), REDIS_URL: this.redis.url() };
    this.envFile = this.writeEnvFile(this.connections);
    for (const unit of Object.values(o.source.units)) this.units.set(unit, new Fleet(this.unitSpec(unit), { ...o.fleet, changed: () => this.renderSite() }));
    this.systemd = new Systemd(this.units, (unit) => this.unitSpec(unit));
    await Promise.all([...this.units.keys()].map((u) => this.systemd.start(u)));
    await this.startNginx();
    await this.startSsh();
    this.startCron();
  }

  private crontabs = "";
  private cronRuns = 0;

  /**
   * The box's cron daemon: every user's crontab in the stand-in's crontab folder (what the
   * box's `crontab` writes), each line not commented out run at the minutes it names (UTC),
   * through bin/slug-run with the app's own environment. The crontab of ferry:source.cron's
   * user starts with the declared jobs, as the user's box has them.
   */
  private startCron(): void {
    const cron = this.opts.cron;
    if (!cron) return;
    const user = this.opts.source.cron && "user" in this.opts.source.cron ? this.opts.source.cron.user : this.opts.source.ssh.user;
    writeFileSync(join(this.crontabs, user), `# m h dom mon dow command (the app's jobs)\n${cron.jobs.map((j) => `${crontabTime(j.expression)} ${j.command}`).join("\n")}\n`);
    cron.clock.onMinute((slot) => {
      for (const file of readdirSync(this.crontabs).filter((f) => !f.endsWith(".tmp"))) {
        const text = readFileSync(join(this.crontabs, file), "utf8");
        const { jobs } = parseCrontab(text);
        for (const line of jobLines(text)) {
          const job = jobs.find((j) => j.line === line.line);
          if (!job || !fires(job.schedule, "UTC", slot)) continue;
          const declared = cron.jobs.find((j) => j.command === line.command);
          cron.clock.runSlugCommand({
            job: declared?.name ?? `crontab ${file} line ${line.line}`, slot, side: "box", slugRun: SLUG_RUN, slug: this.opts.slug.file, command: line.command,
            env: { ...this.opts.fleet.machineEnv, ...(parseEnv(readFileSync(this.envFile, "utf8")) as Record<string, string>), APP_SCHEMA: this.opts.fleet.schema }, dyno: `cron.${++this.cronRuns}`,
          });
        }
      }
    });
  }

  /** The app's own connections on the box (DATABASE_URL, REDIS_URL), as its env file has them. */
  appConnections(): Record<string, string> {
    return { ...this.connections };
  }

  /** The unit serving a process type (web, streaming), by the stack's units map. */
  private unitPorts(process: string): number[] {
    const unit = this.opts.source.units[process];
    return (unit && this.units.get(unit)?.ports()) || [];
  }

  private siteText(): string {
    const cert = this.certificate!;
    return this.opts.hostnames.map((h) => {
      const upstream = `box_${h.process}`;
      const ports = this.unitPorts(h.process);
      const servers = ports.length ? ports.map((p) => `  server 127.0.0.1:${p};`).join("\n") : "  server 127.0.0.1:9 down;";
      return `upstream ${upstream}_${h.name.replace(/\W/g, "_")} {\n${servers}\n}
server {
  listen ${this.address}:443 ssl;
  listen ${this.address}:80;
  server_name ${h.name};
  ssl_certificate ${cert.cert};
  ssl_certificate_key ${cert.key};
  location / {
    proxy_pass http://${upstream}_${h.name.replace(/\W/g, "_")};
    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_set_header Connection "close";
  }
  # Mastodon's nginx.conf: the streaming API's event streams pass unbuffered.
  location ^~ /api/v1/streaming {
    proxy_pass http://${upstream}_${h.name.replace(/\W/g, "_")};
    proxy_http_version 1.1;
    proxy_set_header Host $host;
    proxy_buffering off;
  }
}`;
    }).join("\n");
  }

  private certificate?: { cert: string; key: string };

  private async startNginx(): Promise<void> {
    // The site's own certificate (Let's Encrypt on the real box): the rehearsal CA signs it.
    this.certificate = await this.opts.ca.issue("box-site", this.opts.hostnames.map((h) => h.name));
    const sites = tempDir("box-sites-enabled");
    const stateDir = join(tempDir("box-state"), "ferry");
    mkdirSync(stateDir, { recursive: true });
    const siteFile = join(sites, "mastodon.conf");
    this.lastSite = this.siteText();
    writeFileSync(siteFile, this.lastSite);
    const control = await freePort();
    // The box trusts what the real box trusts, the public CAs, plus the rehearsal CA that
    // stands in for ACM's: nginx runs in a mount namespace where the system bundle has it.
    const bundle = join(tempDir("box-trust"), "ca-certificates.crt");
    writeFileSync(bundle, readFileSync(SYSTEM_CA_BUNDLE, "utf8") + "\n" + this.opts.ca.pem);
    const launcher = ["unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind ${bundle} ${SYSTEM_CA_BUNDLE} && exec "$0" "$@"`];
    this.nginx = await startNginx(
      (prefix) => `${nginxMainContext(prefix)}\nevents { worker_connections 1024; }\nhttp {\n${nginxHttpPaths(prefix)}\n  server_names_hash_bucket_size 128;\n  server { listen 127.0.0.1:${control}; return 204; }\n  include ${sites}/*.conf;\n}\n`,
      control,
      { launcher },
    );
    this.layout = { siteFile, stateDir, nginxConf: this.nginx.confPath, prefix: this.nginx.prefix };
  }

  private lastSite = "";

  /**
   * The units changed: the site follows them, as long as the site file is still the one
   * the box wrote (once `ferry proxy apply` replaced it, the proxy owns it).
   */
  private async renderSite(): Promise<void> {
    if (!this.nginx || readFileSync(this.layout.siteFile, "utf8") !== this.lastSite) return;
    this.lastSite = this.siteText();
    writeFileSync(this.layout.siteFile, this.lastSite);
    await this.nginx.reload(readFileSync(this.layout.nginxConf, "utf8"));
  }

  /** The box's nginx site as the stack's `ferry:source.nginx` describes it, in the stand-in's files. */
  siteConfig(): { siteConf: string; listen: string[]; sslListen: string[]; sslCertificate: string; sslCertificateKey: string } {
    return { siteConf: this.layout.siteFile, listen: [`${this.address}:80`], sslListen: [`${this.address}:443`], sslCertificate: this.certificate!.cert, sslCertificateKey: this.certificate!.key };
  }

  /**
   * The app's env file on the box (Mastodon's .env.production): its settings and its own
   * connections, which the units run with and `ferry box config copy` reads over SSH. In the
   * stand-in's files, like the nginx site; the stack's `compute.boxEnvFile` is pointed here.
   */
  private writeEnvFile(connections: Record<string, string>): string {
    const file = join(tempDir("box-env"), ".env.production");
    const vars = { ...connections, ...this.opts.appVars, LOCAL_DOMAIN: this.opts.hostnames[0]?.name ?? "box.example", RAILS_ENV: "production" };
    writeFileSync(file, Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("\n") + "\n", { mode: 0o600 });
    return file;
  }

  /** A unit's process as it starts now: the env file as it is now (EnvironmentFile=.env.production), and the unit's own Environment= lines. */
  private unitSpec(unit: string): FleetSpec {
    const o = this.opts;
    const type = Object.entries(o.source.units).find(([, u]) => u === unit)![0];
    const http = type in o.httpProcesses;
    const env = parseEnv(readFileSync(this.envFile, "utf8")) as Record<string, string>;
    return {
      name: `box-${unit}`,
      platform: "box",
      http,
      env: { ...env, RAILS_ENV: "production", NODE_ENV: "production" },
      launch: { kind: "unit", appDir: this.appDir, command: unitCommand({ http, healthPath: o.httpProcesses[type]?.healthPath }) },
    };
  }

  /** sshd on the box, with `systemctl` acting on the box's units (systemd.ts) and `nginx` being the box's own. */
  private async startSsh(): Promise<void> {
    const bin = tempDir("box-bin");
    await this.systemd.serve(bin);
    onExit(() => this.systemd.close());
    this.crontabs = tempDir("box-crontabs");
    // crontab(1) on the box: `crontab -l [-u USER]` prints, `crontab [-u USER] -` installs from stdin.
    writeFileSync(join(bin, "crontab"), `#!/bin/sh
dir=${this.crontabs}; user=$(id -un); mode=
while [ $# -gt 0 ]; do case "$1" in -u) user=$2; shift 2 ;; -l) mode=list; shift ;; -) mode=install; shift ;; *) echo "crontab: the rehearsal's box knows -l, -u USER and -, not $1" >&2; exit 1 ;; esac; done
case "$mode" in
  list) [ -f "$dir/$user" ] || { echo "no crontab for $user" >&2; exit 1; }; exec cat "$dir/$user" ;;
  install) cat > "$dir/$user.tmp" && mv "$dir/$user.tmp" "$dir/$user" ;;
  *) echo "crontab: give -l or -" >&2; exit 1 ;;
esac
`, { mode: 0o755 });
    // The box's nginx is its system nginx: same binary, the box's prefix and nginx.conf.
    writeFileSync(join(bin, "nginx"), `#!/bin/sh\nexec /usr/sbin/nginx -p ${this.layout.prefix} -c ${this.layout.nginxConf} "$@"\n`, { mode: 0o755 });
    // ferry keeps the site file it replaces in /var/lib/ferry/proxy on the box: on this
    // machine, what the run leaves there goes at exit.
    const kept = "/var/lib/ferry/proxy";
    const before = new Set(existsSync(kept) ? readdirSync(kept) : []);
    onExit(() => {
      if (!existsSync(kept)) return;
      for (const f of readdirSync(kept)) if (!before.has(f)) rmSync(join(kept, f), { recursive: true, force: true });
    });
    this.sshd = await startSshd({
      address: this.address,
      port: this.opts.source.ssh.port,
      config: [`SetEnv PATH=${bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, "AcceptEnv FERRY_* HEROKU_* PULUMI_*"],
    });
  }

  /** How many processes each unit runs now (1 when started, 0 when stopped). */
  runningUnits(): Record<string, number> {
    return Object.fromEntries([...this.units].map(([unit, fleet]) => [unit, fleet.size()]));
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.units.values()].map((f) => f.stop()));
    await this.nginx?.stop();
    this.sshd?.stop();
    this.systemd?.close();
    await Promise.allSettled([...this.forwards.map((f) => f.close()), this.pg?.stop("immediate"), this.redis?.stop()]);
  }
}

/** An EventBridge expression as a crontab(5) time (what a box's crontab has for a declared job). */
export function crontabTime(expression: string): string {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    if (rate[2].startsWith("minute")) return `*/${n} * * * *`;
    if (rate[2].startsWith("hour")) return `0 */${n} * * *`;
    return `0 0 */${n} * *`;
  }
  const [minute, hour, dom, month, dow] = /^cron\((.+)\)$/.exec(expression)![1].trim().split(/\s+/);
  const step = (f: string) => f.replace(/^0\//, "*/");
  const day = (f: string) => (f === "?" ? "*" : f.replace(/\d+/g, (n) => String(Number(n) - 1)));
  return [step(minute), step(hour), dom === "?" ? "*" : dom, month, day(dow)].join(" ");
}
