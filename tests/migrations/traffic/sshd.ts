// A throwaway sshd on a loopback port (own host key, one authorized client key), so
// `ferry proxy apply --host user@host:port` is tested over real SSH.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { userInfo } from "node:os";
import { freePort, onExit, portOpen, run, tempDir, waitFor } from "../../../rehearsal/servers";

export interface TestSshd {
  port: number;
  user: string;
  /** The client's private key text (what a user would put in an env var). */
  clientKey: string;
  /** A known_hosts file vouching for this sshd's host key. */
  knownHosts: string;
  stop(): void;
}

const SSHD = "/usr/sbin/sshd";

export async function startSshd(): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install openssh-server (scripts/setup-system.sh)`);
  const dir = tempDir("sshd");
  const port = await freePort();
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")));
  const hostPub = readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "StrictModes no", // the temp dir's owner/modes are not a user's home
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // privilege separation directory sshd insists on
  const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "inherit"] });
  const stop = () => {
    if (child.exitCode === null) child.kill("SIGTERM");
  };
  onExit(stop);
  await waitFor(`sshd on port ${port}`, () => portOpen(port), 10_000);
  return { port, user: userInfo().username, clientKey: readFileSync(join(dir, "client_key"), "utf8"), knownHosts, stop };
}
