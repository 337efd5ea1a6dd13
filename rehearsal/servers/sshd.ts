// A throwaway sshd (own host key, one authorized client key) on a loopback address and
// port: the old box's SSH for the rehearsal, and a real SSH peer for the tests of
// `ferry proxy apply --host user@host:port`.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { userInfo } from "node:os";
import { freePort, onExit, portOpen, run, tempDir, waitFor } from "./process";

export interface LocalSshd {
  address: string;
  port: number;
  user: string;
  /** The client's private key text (what a user would put in an env var). */
  clientKey: string;
  /** A known_hosts file vouching for this sshd's host key. */
  knownHosts: string;
  /** Its public host key (`ssh-ed25519 AAAA...`), as `ferry init --box` records a box's. */
  hostKey: string;
  stop(): void;
}

const SSHD = "/usr/sbin/sshd";

export interface SshdOptions {
  /** Listen address (default 127.0.0.1) and port (default: a free one). */
  address?: string;
  port?: number;
  /** Extra sshd_config lines (SetEnv, AcceptEnv, ...). */
  config?: string[];
}

export async function startSshd(opts: SshdOptions = {}): Promise<LocalSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install openssh-server (scripts/setup-system.sh)`);
  const dir = tempDir("sshd");
  const address = opts.address ?? "127.0.0.1";
  const port = opts.port ?? (await freePort());
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const hostPub = readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `${port === 22 ? address : `[${address}]:${port}`} ${hostPub}\n`);
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "StrictModes no", // the temp dir's owner/modes are not a user's home
      "LogLevel ERROR",
      ...(opts.config ?? []),
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // privilege separation directory sshd insists on
  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "inherit"] });
  const stop = () => {
    if (child.exitCode === null) child.kill("SIGTERM");
  };
  onExit(stop);
  await waitFor(`sshd on ${address}:${port}`, () => portOpen(port, address), 10_000);
  return { address, port, user: userInfo().username, clientKey: readFileSync(join(dir, "client_key"), "utf8"), knownHosts, hostKey: hostPub, stop };
}
