// Where `ferry proxy apply|revert` runs its shell script: this machine (`local`, for
// the rehearsal) or the old host over SSH. The script always travels on stdin, and
// the SSH key comes from an environment variable or the agent, so no secret is ever
// in argv (which other users and Pulumi state can read).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FerryError } from "../cli/common";

export type HostTarget = { kind: "local" } | { kind: "ssh"; user: string; host: string; port: number };

export interface SshOptions {
  /** Name of the environment variable holding the private key (PEM/OpenSSH text). Unset: use the ssh agent. */
  keyEnv?: string;
  /** known_hosts file to check the host key against (the default is ~/.ssh/known_hosts). */
  knownHosts?: string;
  /**
   * The host's public key (`ssh-ed25519 AAAA...`, as `ferry init --box` records it): the
   * only key trusted for this host, whatever any known_hosts file says. A new runner has
   * an empty known_hosts, and StrictHostKeyChecking=yes refuses an unknown host.
   */
  hostKey?: string;
  /** Run the script through `sudo -n` (the login user is not root). */
  sudo?: boolean;
  /** The ssh binary. */
  ssh?: string;
  connectTimeoutSeconds?: number;
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `local` or `user@host[:port]` (IPv6 as `user@[::1]:22`). */
export function parseHostTarget(value: string): HostTarget {
  if (value === "local") return { kind: "local" };
  const m = /^([A-Za-z_][A-Za-z0-9._-]*)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value);
  if (!m) bad(`--host must be "local" or user@host[:port]: ${JSON.stringify(value)}`);
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) bad(`--host port must be 1-65535: ${port}`);
  return { kind: "ssh", user: m[1], host: m[2].replace(/^\[|\]$/g, ""), port };
}

function bad(message: string): never {
  throw new FerryError(message, 2);
}

export function describeTarget(target: HostTarget): string {
  return target.kind === "local" ? "local" : `${target.user}@${target.host}:${target.port}`;
}

/** An OpenSSH public key line: its type and base64 blob (a comment after them is dropped). */
const HOST_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) ([A-Za-z0-9+/]+={0,3})(?: .*)?$/;

/** `--host-key` checked: one clear line and exit 2 for anything that is not a public key. */
export function parseHostKey(value: string): string {
  const m = HOST_KEY.exec(value.trim());
  if (!m) bad(`--host-key must be the host's public key, e.g. "ssh-ed25519 AAAAC3Nza...": ${JSON.stringify(value.slice(0, 40))}`);
  return `${m[1]} ${m[2]}`;
}

/** The known_hosts line that trusts `hostKey` for this host and port (OpenSSH's [host]:port form off port 22). */
export function knownHostsLine(target: Extract<HostTarget, { kind: "ssh" }>, hostKey: string): string {
  const host = target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
  return `${host} ${parseHostKey(hostKey)}\n`;
}

/** Run `script` with `sh -s` on the target; resolves with its exit code and output. */
export async function runScript(target: HostTarget, script: string, ssh: SshOptions = {}): Promise<ScriptResult> {
  if (target.kind === "local") return spawnWithInput("sh", ["-s"], script);
  const keyDir = writeKeyFromEnv(ssh.keyEnv);
  const hostsDir = ssh.hostKey ? writeKnownHosts(target, ssh.hostKey) : undefined;
  try {
    const args = sshArgs(target, { ...ssh, ...(hostsDir ? { knownHosts: join(hostsDir, "known_hosts") } : {}) }, keyDir, !!hostsDir);
    let result = await spawnWithInput(ssh.ssh ?? "ssh", args, script);
    // A busy sshd drops connections before the session starts (MaxStartups, sshd_config(5)):
    // nothing ran, so the script is sent again rather than failing the step.
    for (let retry = 1; retry <= HANDSHAKE_RETRIES && droppedBeforeSession(result.code, result.stderr); retry++) {
      await new Promise((r) => setTimeout(r, 500 * retry));
      result = await spawnWithInput(ssh.ssh ?? "ssh", args, script);
    }
    // ssh itself exits 255 on connection or authentication failure.
    if (result.code === 255) {
      throw new FerryError(`ssh to ${describeTarget(target)} failed: ${lastLine(result.stderr) || "exit 255"}`, 1);
    }
    return result;
  } finally {
    for (const dir of [keyDir, hostsDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const HANDSHAKE_RETRIES = 3;

/**
 * Whether ssh gave up before any session started: the server closed or reset the
 * connection during the banner or key exchange (OpenSSH prints these before
 * authentication; a session that dies later says "Connection to HOST closed").
 */
export function droppedBeforeSession(code: number, stderr: string): boolean {
  return code === 255 && /^(kex_exchange_identification:|banner exchange:|Connection (closed|reset) by \S+ port \d+)/m.test(stderr);
}

/** A known_hosts holding only the recorded key, in a private temp directory. */
function writeKnownHosts(target: Extract<HostTarget, { kind: "ssh" }>, hostKey: string): string {
  const line = knownHostsLine(target, hostKey);
  const dir = mkdtempSync(join(tmpdir(), "ferry-known-hosts-"));
  writeFileSync(join(dir, "known_hosts"), line, { mode: 0o600 });
  return dir;
}

function sshArgs(target: Extract<HostTarget, { kind: "ssh" }>, ssh: SshOptions, keyDir: string | undefined, onlyThisKey = false): string[] {
  const args = [
    "-p", String(target.port),
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `ConnectTimeout=${ssh.connectTimeoutSeconds ?? 15}`,
    "-o", "LogLevel=ERROR",
  ];
  if (ssh.knownHosts) args.push("-o", `UserKnownHostsFile=${ssh.knownHosts}`);
  // The recorded key alone: no system-wide file may vouch for another one.
  if (onlyThisKey) args.push("-o", "GlobalKnownHostsFile=/dev/null");
  if (keyDir) args.push("-i", join(keyDir, "id"), "-o", "IdentitiesOnly=yes");
  args.push(`${target.user}@${target.host}`, "--");
  args.push(...(ssh.sudo ? ["sudo", "-n", "sh", "-s"] : ["sh", "-s"]));
  return args;
}

/** The key from `keyEnv` in a private temp file for `ssh -i`; undefined means "use the agent". */
function writeKeyFromEnv(keyEnv: string | undefined): string | undefined {
  if (!keyEnv) return undefined;
  const key = process.env[keyEnv];
  if (!key) bad(`--ssh-key-env names ${keyEnv}, which is not set`);
  const dir = mkdtempSync(join(tmpdir(), "ferry-ssh-"));
  writeFileSync(join(dir, "id"), key.endsWith("\n") ? key : key + "\n", { mode: 0o600 });
  return dir;
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}

function spawnWithInput(cmd: string, args: string[], input: string): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", (err) => reject(new FerryError(`cannot run ${cmd}: ${err.message}`, 1)));
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on("error", () => {}); // the other side may exit before reading all input
    child.stdin.end(input);
  });
}
