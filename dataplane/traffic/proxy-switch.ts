// Switch the old host's nginx to the proxy config and back. One shell script per
// direction runs on the host (locally or over SSH), so each switch is a single round
// trip and its rollback happens right there even if the connection then drops:
//   apply:  keep the file it replaces (once), install the new one, `nginx -t`, reload;
//           a failed test or reload puts everything back as it was.
//   revert: put the kept file back byte for byte (or remove ours if there was none),
//           `nginx -t`, reload; same all-or-nothing rule.
// The kept copy lives in a state directory OUTSIDE nginx's include globs (Debian
// includes everything in sites-enabled/, so a backup beside the file would be loaded).
import { FerryError } from "../cli/common";
import { HostTarget, SshOptions, describeTarget, runScript } from "./remote-host";

export interface NginxLayout {
  /** The file the proxy block replaces (typically the site's own file). */
  confFile: string;
  /** Where the replaced file is kept until revert. */
  stateDir: string;
  /** The nginx binary. */
  nginx: string;
  /** Main config (`nginx -c`); nginx's compiled-in default when unset. */
  nginxConf?: string;
  /** Prefix (`nginx -p`); nginx's compiled-in default when unset. */
  nginxPrefix?: string;
}

export const DEFAULT_LAYOUT: NginxLayout = {
  confFile: "/etc/nginx/conf.d/ferry-proxy.conf",
  stateDir: "/var/lib/ferry/proxy",
  nginx: "nginx",
};

/** What apply found at confFile the first time: a file (kept) or nothing. "kept-earlier" on a re-apply. */
export type KeptState = "previous-file" | "no-previous-file" | "kept-earlier";

export interface ApplyResult {
  host: string;
  confFile: string;
  kept: KeptState;
}

export type RevertAction = "restored-previous-file" | "removed-proxy-file" | "nothing-to-revert";

export interface RevertResult {
  host: string;
  confFile: string;
  action: RevertAction;
}

/** Script exit code: `nginx -t` rejected the config (everything was put back). */
const EXIT_TEST_FAILED = 3;
/** Script exit code: the reload failed (everything was put back). */
const EXIT_RELOAD_FAILED = 4;

export async function applyProxy(target: HostTarget, layout: NginxLayout, configText: string, ssh: SshOptions = {}): Promise<ApplyResult> {
  const result = await runScript(target, applyScript(layout, configText), ssh);
  const outcome = checkOutcome(result, target, "apply");
  return { host: describeTarget(target), confFile: layout.confFile, kept: outcome as KeptState };
}

export async function revertProxy(target: HostTarget, layout: NginxLayout, ssh: SshOptions = {}): Promise<RevertResult> {
  const result = await runScript(target, revertScript(layout), ssh);
  const outcome = checkOutcome(result, target, "revert");
  return { host: describeTarget(target), confFile: layout.confFile, action: outcome as RevertAction };
}

function checkOutcome(result: { code: number; stdout: string; stderr: string }, target: HostTarget, verb: string): string {
  const where = describeTarget(target);
  const detail = firstNginxError(result.stderr);
  if (result.code === EXIT_TEST_FAILED) {
    throw new FerryError(`proxy ${verb} on ${where}: nginx -t rejected the config, nothing changed: ${detail}`, 1);
  }
  if (result.code === EXIT_RELOAD_FAILED) {
    throw new FerryError(`proxy ${verb} on ${where}: nginx reload failed, the previous config is back in place: ${detail}`, 1);
  }
  const m = /^ferry-outcome: (\S+)$/m.exec(result.stdout);
  if (result.code !== 0 || !m) {
    throw new FerryError(`proxy ${verb} on ${where} failed (exit ${result.code}): ${detail || "no output"}`, 1);
  }
  return m[1];
}

/** The line that says what is wrong: nginx's [emerg]/[error] line, else the last line. */
function firstNginxError(stderr: string): string {
  const lines = stderr.trim().split("\n").filter(Boolean);
  return (lines.find((l) => /\[(emerg|alert|crit|error)\]/.test(l)) ?? lines[lines.length - 1] ?? "").trim();
}

/** Single-quote for sh. */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function checkLayout(layout: NginxLayout): void {
  for (const [flag, value] of [
    ["--conf-file", layout.confFile],
    ["--state-dir", layout.stateDir],
  ] as const) {
    if (!value.startsWith("/")) throw new FerryError(`${flag} must be an absolute path: ${value}`, 2);
  }
  if (layout.nginxConf !== undefined && !layout.nginxConf.startsWith("/")) {
    throw new FerryError(`--nginx-conf must be an absolute path: ${layout.nginxConf}`, 2);
  }
  if (layout.nginxPrefix !== undefined && !layout.nginxPrefix.startsWith("/")) {
    throw new FerryError(`--nginx-prefix must be an absolute path: ${layout.nginxPrefix}`, 2);
  }
  if (!layout.nginx) throw new FerryError("--nginx must name the nginx binary", 2);
}

/** Shared preamble: paths, the nginx command, and the put-back routine. */
function preamble(layout: NginxLayout): string {
  checkLayout(layout);
  const stem = layout.confFile.replace(/[^A-Za-z0-9._-]/g, "_");
  const nginxArgs = [
    ...(layout.nginxPrefix ? ["-p", layout.nginxPrefix] : []),
    ...(layout.nginxConf ? ["-c", layout.nginxConf] : []),
  ].map(shq);
  return `set -u
conf=${shq(layout.confFile)}
state=${shq(layout.stateDir)}
kept="$state/${stem}.previous"
absent="$state/${stem}.absent"
before="$state/${stem}.before"
run_nginx() { ${shq(layout.nginx)} ${nginxArgs.join(" ")} "$@"; }
fail() { printf 'ferry: %s\\n' "$1" >&2; exit 1; }

# Snapshot confFile as it is right now, so a failed test or reload can put it back.
snapshot() {
  rm -f "$before" "$before.none"
  if [ -e "$conf" ]; then cp -p "$conf" "$before" || fail "cannot copy $conf"; else : > "$before.none"; fi
}
put_back() {
  if [ -e "$before.none" ]; then rm -f "$conf"; else cp -p "$before" "$conf"; fi
  rm -f "$before" "$before.none"
}
test_and_reload() {
  if ! out=$(run_nginx -t 2>&1); then
    put_back; undo_record; printf '%s\\n' "$out" >&2; exit ${EXIT_TEST_FAILED}
  fi
  if ! out=$(run_nginx -s reload 2>&1); then
    put_back; undo_record; printf '%s\\n' "$out" >&2; exit ${EXIT_RELOAD_FAILED}
  fi
  rm -f "$before" "$before.none"
}
mkdir -p "$state" && chmod 700 "$state" || fail "cannot create state directory $state"
`;
}

export function applyScript(layout: NginxLayout, configText: string): string {
  const b64 = Buffer.from(configText, "utf8").toString("base64").replace(/(.{76})/g, "$1\n");
  return `${preamble(layout)}
staged="$state/$(basename "$kept").staged"
base64 -d > "$staged" <<'FERRY_CONFIG_EOF' || fail "cannot write $staged"
${b64}
FERRY_CONFIG_EOF

# Keep what the proxy replaces, once: a second apply must not keep our own proxy file.
recorded=""
if [ -e "$kept" ]; then outcome=kept-earlier
elif [ -e "$absent" ]; then outcome=kept-earlier
elif [ -e "$conf" ]; then cp -p "$conf" "$kept" || fail "cannot keep $conf"; recorded="$kept"; outcome=previous-file
else : > "$absent"; recorded="$absent"; outcome=no-previous-file
fi
undo_record() { [ -n "$recorded" ] && rm -f "$recorded"; rm -f "$staged"; }

snapshot
mkdir -p "$(dirname "$conf")" && cp "$staged" "$conf" || { put_back; undo_record; fail "cannot write $conf"; }
test_and_reload
rm -f "$staged"
echo "ferry-outcome: $outcome"
`;
}

export function revertScript(layout: NginxLayout): string {
  return `${preamble(layout)}
undo_record() { :; }
if [ -e "$kept" ]; then
  snapshot
  cp -p "$kept" "$conf" || { put_back; fail "cannot restore $conf"; }
  outcome=restored-previous-file
elif [ -e "$absent" ]; then
  snapshot
  rm -f "$conf"
  outcome=removed-proxy-file
else
  echo "ferry-outcome: nothing-to-revert"; exit 0
fi
test_and_reload
rm -f "$kept" "$absent"
echo "ferry-outcome: $outcome"
`;
}
