// Turn what `ferry init` read into a stack configuration: the keys the source answers
// for are filled from it; the ones only the user can decide (region, instance sizes,
// the Cloudflare zone, AMIs, addresses) get a valid stand-in marked TODO in the file.
import type { BoxInventory, DatabaseSize, Found, HerokuAppInventory } from "./inventory";
import { PLACEHOLDERS } from "../../config/placeholders";
import { PUBLIC_HOSTNAME } from "./nginx-site";
import { attachmentLines, herokuStores } from "./store-draft";
import { dynoSizeFor, GB, storageGbFor } from "./sizing";

/** Stand-ins that validate but must be replaced (config/placeholders.ts: the program refuses them). */
export const TODO = PLACEHOLDERS;

/**
 * The record a Heroku custom domain already has: a CNAME at the DNS target Heroku lists
 * (ferry adopts it instead of creating a second one). Its Cloudflare id, and whether it is
 * proxied, only Cloudflare knows: stand-ins marked TODO.
 */
function herokuRecord(cname: string, index: number) {
  return { id: `${TODO.recordId.value}${String(index + 1).padStart(2, "0")}`, type: "CNAME", content: cname, proxied: false, ttl: 300 };
}

/**
 * The runner drafted for every source: an instance in the VPC. RDS and ElastiCache are
 * private, and the program declares no way in for the operator's machine.
 */
function ec2Runner() {
  return { kind: "ec2", ami: TODO.runnerAmi.value, sshPublicKey: TODO.runnerKey.value, sshCidrs: [TODO.operatorCidr.value], ferryRepo: TODO.ferryRepo.value };
}

export interface InitChoices {
  region: string;
}

export interface StackDraft {
  /** `ferry:<key>` -> value, as it goes into the stack file. */
  config: Record<string, unknown>;
  /** What was read, for the file's header. */
  read: string[];
  /** What the user must still decide, for the file's header. */
  decide: string[];
  /** `pulumi config set --secret` lines to run (no value in them). */
  secrets: string[];
}

/** An invalid draft: one line, the file is not written. */
export class DraftError extends Error {}

const processName = (raw: string) => raw.toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[^a-z]+/, "").slice(0, 30) || "app";

// ---- Heroku ------------------------------------------------------------------------

function webProcessOf(app: HerokuAppInventory, names: Map<string, string>): string | undefined {
  return names.get(`${app.name}/web`);
}

/** Process names on the target: the type itself, or `<app>-<type>` when two apps share one. */
function targetProcessNames(apps: HerokuAppInventory[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const app of apps) {
    for (const type of Object.keys(app.processTypes).filter((t) => t !== "release")) {
      let name = processName(type);
      if (taken.has(name)) name = processName(`${app.name.replace(/^masto-|^mastodon-/, "")}-${type}`);
      if (taken.has(name)) name = processName(`${app.name}-${type}`);
      taken.add(name);
      names.set(`${app.name}/${type}`, name);
    }
  }
  return names;
}

function herokuTarget(apps: HerokuAppInventory[], names: Map<string, string>, choices: InitChoices, stores: Record<string, unknown>) {
  const processes: Record<string, Record<string, unknown>> = {};
  for (const app of apps) {
    for (const [type, command] of Object.entries(app.processTypes)) {
      const name = names.get(`${app.name}/${type}`);
      if (!name) continue;
      const formation = app.formation.find((f) => f.type === type);
      processes[name] = {
        // The slug's Procfile gives the command; an app without a slug (Fir) runs an image.
        from: { app: app.name, type },
        ...(app.processTypesFrom === "slug" ? {} : { image: TODO.image.value, command }),
        size: dynoSizeFor(formation?.size),
        count: formation?.quantity ?? 0,
        // Only a web process a custom domain reaches gets a port (a port without a hostname is refused).
        ...(type === "web" && app.domains.some((d) => d.kind === "custom") ? { port: 3000 } : {}),
      };
    }
  }
  const hostnames = apps.flatMap((app) => {
    const web = webProcessOf(app, names);
    return web ? app.domains.filter((d) => d.kind === "custom").map((d) => ({ name: d.hostname, process: web, cname: d.cname })) : [];
  }).map(({ cname, ...h }, i) => (cname ? { ...h, record: herokuRecord(cname, i) } : h));
  if (hostnames.length === 0) {
    throw new DraftError(`none of ${apps.map((a) => a.name).join(", ")} has a custom domain served by a web process: ferry moves traffic through Cloudflare hostnames (add one with heroku domains:add)`);
  }
  return {
    region: choices.region,
    ...stores,
    compute: { processes },
    cloudflare: { accountId: TODO.accountId.value, zoneId: TODO.zoneId.value, hostnames },
    runner: ec2Runner(),
  };
}

/** How big the database is, for the "what was read" lines. */
function sizeLine(size: Found<DatabaseSize> | undefined): string[] {
  if (!size) return [];
  if (!size.found) return [`postgres size: not read (${size.reason})`];
  const { addon, databaseBytes, copiedBytes } = size.value;
  return [`postgres size (${addon}, read from the database): ${(databaseBytes / GB).toFixed(2)} GB, of which a copy moves ${(copiedBytes / GB).toFixed(2)} GB (tables and their indexes)`];
}

export function herokuDraft(apps: HerokuAppInventory[], choices: InitChoices, size?: Found<DatabaseSize>): StackDraft {
  const names = targetProcessNames(apps);
  const stores = herokuStores(apps, size);
  const source = {
    kind: "heroku",
    apps: apps.map((app) => {
      const scaled = app.formation.filter((f) => f.type !== "release");
      const processes = Object.fromEntries((scaled.length ? scaled : Object.keys(app.processTypes).filter((t) => t !== "release").map((type) => ({ type, quantity: 0 }))).map((f) => [f.type, f.quantity]));
      return { name: app.name, processes, hostnames: app.domains.filter((d) => d.kind === "custom").map((d) => d.hostname) };
    }),
    ...stores.source,
  };
  const read = apps.flatMap((app) => [
    `${app.name} (region ${app.region ?? "?"}): ${app.formation.map((f) => `${f.type} ${f.quantity} × ${f.size}`).join(", ") || "no formation"}; process types from the ${app.processTypesFrom}: ${Object.keys(app.processTypes).join(", ")}`,
    `  add-ons: ${app.addons.map((a) => `${a.name} (${a.plan}${a.monthlyCents === null ? "" : `, $${(a.monthlyCents / 100).toFixed(2)}/month`})`).join(", ") || "none"}`,
    `  domains: ${app.domains.map((d) => (d.cname ? `${d.hostname} -> ${d.cname}` : d.hostname)).join(", ")}`,
    ...attachmentLines(app),
    `  config var names: ${app.configVarNames.join(", ") || "none"}`,
    `  log drains: ${app.logDrains.join(", ") || "none"}`,
  ]).concat(sizeLine(size));
  const cnames = apps.flatMap((a) => a.domains.filter((d) => d.kind === "custom" && d.cname).map((d) => `${d.hostname} (CNAME ${d.cname})`));
  const decide = [
    `region (${choices.region}) and the RDS class (suggested from the Postgres plan); task sizes follow the dyno sizes`,
    ...stores.decide,
    "ferry:target.cloudflare.accountId and zoneId; each hostname's record (drafted from Heroku's DNS target): its Cloudflare id, proxied and ttl as live: " + (cnames.join(", ") || "none"),
    "ferry:target.compute: the web processes' port and healthPath (sizes and counts are the formation's), an image for any app without a slug, and ferry:target.runner (its AMI, SSH key, the addresses allowed to SSH to it, ferry's git URL)",
    ...(apps.some((a) => a.logDrains.length) ? ["the log drains: ferry does not move them; point them at CloudWatch or your log service"] : []),
  ];
  const secrets = [
    // The key `ferry init` read with: a long-lived authorization (`heroku auth:token` is the
    // CLI's session token, which expires; an authorization does not:
    // https://devcenter.heroku.com/articles/platform-api-quickstart#authentication), through stdin, not argv.
    "printf %s \"$HEROKU_API_KEY\" | pulumi config set --secret ferry:herokuApiKey",
    "pulumi config set --secret ferry:sshPrivateKey < ~/.ssh/ferry_ed25519",
    "pulumi config set --secret ferry:cloudflareApiToken ...",
    ...stores.secrets,
    "pulumi config set --secret ferry:targetPostgresPassword \"$(openssl rand -hex 24)\"",
    "pulumi config set --secret ferry:targetRedisPassword \"$(openssl rand -hex 24)\"",
  ];
  return { config: { "ferry:source": source, "ferry:target": herokuTarget(apps, names, choices, stores.target), ...stageFlags() }, read, decide, secrets };
}

// ---- box ---------------------------------------------------------------------------

/** A unit's role by its name: what Mastodon-like boxes call their processes. */
function roleOf(unit: string): string {
  if (/sidekiq|worker|jobs?\b/.test(unit)) return "sidekiq";
  if (/stream/.test(unit)) return "streaming";
  if (/web|puma|unicorn|rails|app/.test(unit)) return "web";
  return processName(unit.replace(/\.service$/, ""));
}

export function boxDraft(box: BoxInventory, choices: InitChoices & { instanceId?: string; hostKey?: string }): StackDraft {
  const services = [
    ...(box.postgres.found ? ["postgres"] : []),
    ...(box.redis.found ? ["redis"] : []),
    ...(box.nginx.found ? ["nginx"] : []),
    ...(box.processes.found && box.processes.value.names.length ? ["app"] : []),
  ];
  if (services.length === 0) throw new DraftError(`${box.user}@${box.host}: found none of postgres, redis, nginx or an app process: nothing to move`);
  // From ps there is no unit name: the role stands in, and the header says to name the real units.
  const units = box.processes.found
    ? Object.fromEntries(box.processes.value.names.map((u) => [roleOf(u), box.processes.found && box.processes.value.from === "systemd" ? u.replace(/\.service$/, "") : roleOf(u)]))
    : {};
  const roles = box.processes.found ? [...new Set(box.processes.value.names.map(roleOf))] : [];
  const processes: Record<string, Record<string, unknown>> = {};
  for (const role of roles.length ? roles : ["web"]) {
    processes[role] = {
      // A box has no slug: its app runs from an image (ferry:target.compute.processes[].image).
      image: TODO.image.value,
      size: "standard-2X",
      count: 1,
      command: role === "sidekiq" ? "bundle exec sidekiq" : role === "streaming" ? "node ./streaming" : "bundle exec puma -C config/puma.rb",
      ...(role === "web" ? { port: 3000 } : role === "streaming" ? { port: 4000, healthPath: "/api/v1/streaming/health" } : {}),
    };
  }
  if (!processes.web) processes.web = { image: TODO.image.value, size: "standard-2X", count: 1, command: "bundle exec puma -C config/puma.rb", port: 3000 };
  const serverNames = box.nginx.found ? box.nginx.value.serverNames.filter((n) => PUBLIC_HOSTNAME.test(n)) : [];
  if (serverNames.length === 0) throw new DraftError(`${box.user}@${box.host}: nginx names no public hostname (server_name), so there is nothing to point Cloudflare at`);
  const hostnames = serverNames.map((name) => ({ name, process: name.startsWith("streaming.") && processes.streaming ? "streaming" : "web" }));
  // A port without a hostname would give a target group no listener uses: the config refuses it.
  for (const [role, process] of Object.entries(processes)) {
    if (hostnames.some((h) => h.process === role)) continue;
    delete process.port;
    delete process.healthPath;
  }
  // The site the proxy stage takes over, as nginx -T showed it (an inventory from before init read it has none).
  const site = box.nginx.found ? box.nginx.value.site : undefined;
  const bytes = box.postgres.found ? box.postgres.value.databases.reduce((s, d) => s + d.bytes, 0) : 0;
  const major = box.postgres.found ? box.postgres.value.version.split(".")[0] : "16";
  const source = {
    kind: "vultr",
    instanceId: choices.instanceId ?? TODO.instanceId.value,
    services,
    // The key the operator's ssh verified the box with: every SSH step trusts exactly it.
    ssh: { user: box.user, port: box.port, hostKey: choices.hostKey ?? TODO.hostKey.value },
    ...(box.postgres.found ? { postgres: { strategy: "logical" } } : {}),
    ...(box.redis.found ? { redis: { sidekiq: "sidekiq" in processes } } : {}),
    units,
    ...(site?.found ? { nginx: site.value } : {}),
  };
  const target = {
    region: choices.region,
    postgres: { version: ["15", "16", "17"].includes(major) ? major : "16", instanceClass: "db.t4g.medium", storageGb: storageGbFor(bytes) },
    redis: { kind: "elasticache", nodeType: "cache.t4g.small" },
    compute: { processes },
    cloudflare: { accountId: TODO.accountId.value, zoneId: TODO.zoneId.value, hostnames },
    runner: ec2Runner(),
  };
  const said = <T>(x: { found: true; value: T } | { found: false; reason: string }, show: (v: T) => string) => (x.found ? show(x.value) : `not found (${x.reason})`);
  const read = [
    `${box.user}@${box.host}:${box.port}`,
    `  postgres: ${said(box.postgres, (p) => `${p.version}; ${p.databases.map((d) => `${d.name} ${(d.bytes / GB).toFixed(2)} GB${d.copiedBytes === undefined ? "" : ` (a copy moves ${(d.copiedBytes / GB).toFixed(2)} GB)`}`).join(", ")}`)}`,
    `  redis: ${said(box.redis, (r) => `${r.version}; ${(r.usedMemoryBytes / 1024 ** 2).toFixed(1)} MB used, ${r.keys} keys`)}`,
    `  nginx server names: ${said(box.nginx, (n) => n.serverNames.join(", ") || "none")}`,
    ...(site ? [`  nginx site: ${said(site, (n) => `${n.siteConf}, listen ${[...n.listen, ...n.sslListen.map((l) => `${l} ssl`)].join(", ")}, certificate ${n.sslCertificate}`)}`] : []),
    `  processes: ${said(box.processes, (p) => `${p.names.join(", ") || "none"} (from ${p.from})`)}`,
    `  crontab: ${said(box.crontab, (c) => (c.length ? c.join(" | ") : "empty"))}`,
  ];
  const decide = [
    `region (${choices.region}), task sizes and the RDS class (storage is twice today's databases)`,
    ...(choices.instanceId ? [] : ["ferry:source.instanceId: the box's Vultr instance id (not readable over SSH)"]),
    ...(choices.hostKey ? [] : ["ferry:source.ssh.hostKey: the box's SSH host key (no known_hosts entry named it)"]),
    "ferry:target.cloudflare.accountId and zoneId; to adopt each existing record add hostnames[].record {id, type, content}",
    ...(!box.nginx.found || site?.found ? [] : [`ferry:source.nginx: the site the proxy stage takes over (its file, listen addresses and certificate)${site ? `; not read: ${site.reason}` : ""}`]),
    "ferry:source.weightedSplit: true if the hostnames are proxied by Cloudflare, to move a share of requests at a time before the old nginx forwards everything",
    "ferry:target.compute: each process's image, command, size and port, compute.boxEnvFile (the app's env file on the box), and ferry:target.runner (its AMI, SSH key, the addresses allowed to SSH to it, ferry's git URL)",
    ...(box.processes.found && box.processes.value.from === "ps" ? ["ferry:source.units: no systemd units were found; name the units that run the app"] : []),
    ...(box.crontab.found && box.crontab.value.length ? ["the crontab above: `ferry box crontab` converts it into ferry:target.compute.schedules to paste"] : []),
    "the box's monthly price: set monthlyCents in the inventory file so the plan can price the source",
  ];
  const secrets = [
    "pulumi config set --secret vultr:apiKey ...",
    "pulumi config set --secret ferry:cloudflareApiToken ...",
    "pulumi config set --secret ferry:sshPrivateKey < ~/.ssh/ferry_ed25519",
    ...(box.postgres.found ? [`pulumi config set --secret ferry:sourceDatabaseUrl postgres://replicator:...@${box.host}:5432/${box.postgres.value.databases[0]?.name ?? "postgres"}`] : []),
    ...(box.redis.found ? [`pulumi config set --secret ferry:sourceRedisUrl redis://:...@${box.host}:6379/0`] : []),
    "pulumi config set --secret ferry:targetPostgresPassword \"$(openssl rand -hex 24)\"",
    "pulumi config set --secret ferry:targetRedisPassword \"$(openssl rand -hex 24)\"",
  ];
  return { config: { "ferry:source": source, "ferry:target": target, ...stageFlags() }, read, decide, secrets };
}

function stageFlags(): Record<string, unknown> {
  return { "ferry:replicate": false, "ferry:proxy": false, "ferry:trafficPercent": 0, "ferry:cutover": false, "ferry:decommission": false };
}
