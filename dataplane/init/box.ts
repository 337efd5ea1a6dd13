// Read a self-managed box over SSH for `ferry init`: PostgreSQL (version, databases
// and sizes), Redis (version, memory, keys), nginx's server names, the app's systemd
// units (or its processes, from ps) and the crontab. One shell script travels on
// stdin over the system ssh client (BatchMode: a key from an environment variable
// or the agent, never a password); a tool that is missing or refuses is reported as
// "not found" with its reason, and the stack file says so.
import { spawnSync } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { FerryError } from "../cli/common";
import { COPIED_SIZE_SQL } from "../postgres/copy-catalog";
import { HostTarget, SshOptions, runScript } from "../traffic/remote-host";
import type { BoxInventory } from "./inventory";
import { NginxSite, PUBLIC_HOSTNAME, siteOf } from "./nginx-site";

export interface BoxProbe {
  pgPort?: number;
  /** Host or socket directory psql connects to (default: the local socket). */
  pgHost?: string;
  /** A pgpass file on the box; without one psql runs as the postgres user (peer authentication). */
  pgPassFile?: string;
  redisPort?: number;
  /** nginx's main config on the box (default: nginx's own default). */
  nginxConf?: string;
}

/** Values put into the script are quoted for sh: single quotes, each ' closed and escaped. */
const shq = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

/** Services every Debian box runs, or the data stores read separately: not the app. */
const SYSTEM_UNITS = /^(postgresql|redis|nginx|ssh|sshd|cron|systemd-|dbus|getty|serial-getty|rsyslog|polkit|unattended-upgrades|networkd|chrony|ntp|user@|containerd|docker|snapd|multipathd|qemu-guest|ufw|fail2ban|packagekit|udisks|accounts-daemon|atd|irqbalance|ModemManager|NetworkManager|wpa_supplicant|cloud-|apparmor|lvm2|blk-|console-|keyboard-|kmod|setvt|plymouth)/;
/** What an app process looks like in ps: Ruby, Python and Node servers and workers. */
const APP_PROCESS = /\b(puma|sidekiq|unicorn|gunicorn|uwsgi|passenger)\b|node\s+\S*stream/;

export function probeScript(probe: BoxProbe): string {
  const env = [
    probe.pgPort ? `PGPORT=${probe.pgPort}; export PGPORT` : "",
    probe.pgHost ? `PGHOST=${shq(probe.pgHost)}; export PGHOST` : "",
    probe.pgPassFile ? `PGPASSFILE=${shq(probe.pgPassFile)}; export PGPASSFILE` : "",
  ].filter(Boolean);
  const redisPort = probe.redisPort ?? 6379;
  const nginxConf = probe.nginxConf ? ` -c ${shq(probe.nginxConf)}` : "";
  return [
    "exec 2>&1",
    ...env,
    "section() { printf '\\n=== ferry:%s ===\\n' \"$1\"; }",
    "have() { command -v \"$1\" >/dev/null 2>&1; }",
    // As root with no pgpass, psql runs as postgres (peer authentication), the way an admin would.
    // pgin DB SQL: a query in one database; pgq SQL: in the postgres database.
    probe.pgPassFile
      ? "pgin() { psql -X -Atq -v ON_ERROR_STOP=1 -U \"${PGUSER:-postgres}\" -d \"$1\" -c \"$2\"; }"
      : "pgin() { if [ \"$(id -u)\" = 0 ] && have runuser; then runuser -u postgres -- psql -X -Atq -v ON_ERROR_STOP=1 -d \"$1\" -c \"$2\"; else psql -X -Atq -v ON_ERROR_STOP=1 -d \"$1\" -c \"$2\"; fi; }",
    "pgq() { pgin postgres \"$1\"; }",
    // Each database as name|pg_database_size|what a copy moves (empty when that database refuses the read).
    `copied=${shq(`SELECT copied_bytes FROM (${COPIED_SIZE_SQL.replace(/\s+/g, " ")}) s`)}`,
    "sizes() { list=$(pgq \"SELECT datname || '|' || pg_database_size(datname) FROM pg_database WHERE NOT datistemplate AND datallowconn AND datname <> 'postgres' ORDER BY 1\") || return 1; [ -z \"$list\" ] || printf '%s\\n' \"$list\" | while IFS= read -r row; do printf '%s|%s\\n' \"$row\" \"$(pgin \"${row%|*}\" \"$copied\" 2>/dev/null)\"; done; }",
    "section postgres",
    "if have psql; then pgq 'SHOW server_version' && sizes; echo \"ferry-status=$?\"; else echo 'ferry-missing=psql not found'; fi",
    "section redis",
    `if have redis-cli; then redis-cli -h 127.0.0.1 -p ${redisPort} INFO; echo "ferry-status=$?"; else echo 'ferry-missing=redis-cli not found'; fi`,
    "section nginx",
    `if have nginx; then nginx -T${nginxConf}; echo "ferry-status=$?"; elif [ -x /usr/sbin/nginx ]; then /usr/sbin/nginx -T${nginxConf}; echo "ferry-status=$?"; else echo 'ferry-missing=nginx not found'; fi`,
    "section systemd",
    // Without systemd as PID 1 (containers), systemctl fails: the ps section stands in.
    "if have systemctl && units=$(systemctl list-units --type=service --state=running --no-legend --plain 2>&1); then printf '%s\\n' \"$units\"; echo 'ferry-status=0'; else echo 'ferry-missing=systemd is not running'; fi",
    "section ps",
    "if have ps; then ps -eo args=; echo \"ferry-status=$?\"; else echo 'ferry-missing=ps not found'; fi",
    "section crontab",
    "if have crontab; then crontab -l; s=$?; echo \"ferry-status=$s\"; else echo 'ferry-missing=crontab not found'; fi",
    "",
  ].join("\n");
}

interface Section {
  ok: boolean;
  lines: string[];
  reason: string;
}

/** The script's output, section by section: its lines, and whether the tool answered. */
export function splitSections(output: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  const parts = output.split(/^=== ferry:(\w+) ===$/m);
  for (let i = 1; i < parts.length; i += 2) {
    const lines = parts[i + 1].split("\n").filter((l) => l.trim() !== "");
    const last = lines[lines.length - 1] ?? "";
    const missing = /^ferry-missing=(.*)$/.exec(last);
    const status = /^ferry-status=(\d+)$/.exec(last);
    const body = lines.slice(0, -1);
    const ok = !!status && status[1] === "0";
    const reason = missing ? missing[1] : ok ? "" : `${body[body.length - 1] ?? "no output"} (exit ${status?.[1] ?? "?"})`;
    sections.set(parts[i], { ok, lines: body, reason });
  }
  return sections;
}

type Found<T> = { found: true; value: T } | { found: false; reason: string };
const notFound = (reason: string): { found: false; reason: string } => ({ found: false, reason });

function postgresOf(s: Section | undefined): Found<{ version: string; databases: { name: string; bytes: number }[] }> {
  if (!s?.ok || s.lines.length === 0) return notFound(s?.reason || "no answer");
  const [version, ...rows] = s.lines;
  // name|pg_database_size|what a copy moves; the last is empty (or, from an older probe, absent) when unread.
  const databases = rows.map((r) => r.split("|")).filter((p) => (p.length === 2 || p.length === 3) && /^\d+$/.test(p[1])).map(([name, bytes, copied]) => ({
    name, bytes: Number(bytes), ...(copied && /^\d+$/.test(copied) ? { copiedBytes: Number(copied) } : {}),
  }));
  return { found: true, value: { version: version.split(" ")[0], databases } };
}

function redisOf(s: Section | undefined): Found<{ version: string; usedMemoryBytes: number; maxMemoryBytes: number; keys: number }> {
  if (!s?.ok) return notFound(s?.reason || "no answer");
  const info = Object.fromEntries(s.lines.map((l) => l.trim().split(":")).filter((p) => p.length >= 2).map(([k, ...v]) => [k, v.join(":")]));
  // redis-cli exits 0 even when the server refuses (NOAUTH, connection refused): the version line tells.
  if (!info.redis_version) return notFound(s.lines[0] ?? "no INFO");
  const keys = Object.entries(info).filter(([k]) => /^db\d+$/.test(k)).reduce((n, [, v]) => n + Number(/keys=(\d+)/.exec(v)?.[1] ?? 0), 0);
  return { found: true, value: { version: info.redis_version, usedMemoryBytes: Number(info.used_memory ?? 0), maxMemoryBytes: Number(info.maxmemory ?? 0), keys } };
}

function nginxOf(s: Section | undefined): Found<{ serverNames: string[]; site: Found<NginxSite> }> {
  if (!s?.ok) return notFound(s?.reason || "no answer");
  // A server_name directive may share its line with others (`server { listen 80; server_name a b; }`).
  const names = s.lines.flatMap((l) => [...l.replace(/#.*$/, "").matchAll(/(?:^|[\s{;])server_name\s+([^;]+);/g)].flatMap((m) => m[1].trim().split(/\s+/)));
  const serverNames = [...new Set(names)].filter((n) => n !== "_" && n !== "localhost");
  const site = siteOf(s.lines.join("\n"), serverNames.filter((n) => PUBLIC_HOSTNAME.test(n)));
  return { found: true, value: { serverNames, site: "site" in site ? { found: true, value: site.site } : notFound(site.reason) } };
}

function processesOf(systemd: Section | undefined, ps: Section | undefined): Found<{ from: "systemd" | "ps"; names: string[] }> {
  if (systemd?.ok) {
    const units = systemd.lines.map((l) => l.trim().split(/\s+/)[0]).filter((u) => u.endsWith(".service") && !SYSTEM_UNITS.test(u));
    return { found: true, value: { from: "systemd", names: units.map((u) => u.replace(/\.service$/, "")).sort() } };
  }
  if (ps?.ok) {
    const names = ps.lines.map((l) => APP_PROCESS.exec(l)?.[0].split(/\s+/)[0]).filter((n): n is string => !!n);
    return { found: true, value: { from: "ps", names: [...new Set(names)].sort() } };
  }
  return notFound(`${systemd?.reason ?? "systemd: no answer"}; ${ps?.reason ?? "ps: no answer"}`);
}

function crontabOf(s: Section | undefined): Found<string[]> {
  if (!s) return notFound("no answer");
  // `crontab -l` exits 1 with "no crontab for <user>": an empty crontab, not a failure.
  if (!s.ok && /no crontab for/.test(s.reason)) return { found: true, value: [] };
  if (!s.ok) return notFound(s.reason);
  return { found: true, value: s.lines.filter((l) => !l.trim().startsWith("#")) };
}

export function parseProbe(output: string, target: Extract<HostTarget, { kind: "ssh" }>): BoxInventory {
  const s = splitSections(output);
  return {
    host: target.host,
    user: target.user,
    port: target.port,
    postgres: postgresOf(s.get("postgres")),
    redis: redisOf(s.get("redis")),
    nginx: nginxOf(s.get("nginx")),
    processes: processesOf(s.get("systemd"), s.get("ps")),
    crontab: crontabOf(s.get("crontab")),
    monthlyCents: null,
  };
}

/** Key types by preference: the one recorded when the operator trusts several. */
const KEY_PREFERENCE = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"];

/**
 * The box's host key as the operator's own ssh trusts it: the probe ran with
 * StrictHostKeyChecking=yes against these known_hosts files, so the key found for the
 * box there is the one its session was verified with (never a key taken on first use).
 * `ssh-keygen -F` finds hashed entries too. Undefined when only a CA vouches for the box.
 */
export function trustedHostKey(target: Extract<HostTarget, { kind: "ssh" }>, knownHosts: string | undefined): string | undefined {
  const host = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  const files = [knownHosts ?? join(homedir(), ".ssh", "known_hosts"), "/etc/ssh/ssh_known_hosts"];
  const keys = files.flatMap((file) => {
    const r = spawnSync("ssh-keygen", ["-F", host, "-f", file], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.split("\n").filter((l) => l && !l.startsWith("#") && !l.startsWith("@")).map((l) => l.split(/\s+/).slice(1, 3)) : [];
  });
  const best = KEY_PREFERENCE.map((type) => keys.find(([t]) => t === type)).find(Boolean);
  return best ? best.join(" ") : undefined;
}

/** Run the probe over SSH; a box that refuses SSH fails with one line (runScript's). */
export async function readBox(target: Extract<HostTarget, { kind: "ssh" }>, probe: BoxProbe, ssh: SshOptions): Promise<BoxInventory> {
  const result = await runScript(target, probeScript(probe), ssh);
  if (!result.stdout.includes("=== ferry:postgres ===")) {
    throw new FerryError(`${target.user}@${target.host}:${target.port}: the probe did not run: ${result.stdout.trim().split("\n").pop() || `exit ${result.code}`}`, 1);
  }
  return parseProbe(result.stdout, target);
}
