// The EC2 runner, as the rehearsal stands it in: this machine runs its steps, but with a
// PATH that holds only what the runner has on AWS, namely the commands of Debian's cloud
// image (the AMI) and those of the packages the program's user data installs
// (components/target/userData.ts: DEBIAN_CLOUD_IMAGE_PACKAGES, RUNNER_PACKAGES,
// RUNNER_LINKS), and a HOME of its own: no ~/.ssh/known_hosts, no ~/.aws, nothing of the
// operator's. A step that calls a tool the user data does not install fails here as on
// the instance ("aws: not found").
//
// Stand-ins for what must reach the rehearsal's services instead of the internet are
// given by the caller (`aws` pointed at the AWS API stand-in, `skopeo` trusting the
// rehearsal's registries, `cloud-init`); each replaces the command of that name, and
// only when the image or the user data has it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { DEBIAN_CLOUD_IMAGE_PACKAGES, RUNNER_LINKS, RUNNER_PACKAGES } from "../../components/target/userData";
import { tempDir } from "../servers";

const BIN_DIRS = ["/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/"];

/** `cloud-init status --wait`, for a runner whose boot is done (the rehearsal provisions it before its steps run). */
const CLOUD_INIT_DONE = `#!/bin/sh\n[ "$1" = status ] && { echo "status: done"; exit 0; }\necho "cloud-init stand-in: only 'status' is known" >&2; exit 1\n`;

/** Executables a Debian package installed on this machine puts on the PATH (dpkg's file list). */
export function packageCommands(pkg: string): Map<string, string> {
  const r = spawnSync("dpkg", ["-L", pkg], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`the rehearsal's EC2 runner has Debian's ${pkg} (its AMI); install it on this machine too (scripts/setup-system.sh)`);
  const found = new Map<string, string>();
  for (const file of r.stdout.split("\n")) {
    if (!BIN_DIRS.some((d) => file.startsWith(d)) || file.slice(file.lastIndexOf("/") + 1) === "") continue;
    try {
      if (statSync(file).isFile() && (statSync(file).mode & 0o111) !== 0) found.set(basename(file), file);
    } catch {
      // listed but gone (a diverted or removed file)
    }
  }
  return found;
}

/** Where this machine has `command` (for a package the user data installs). */
function onThisMachine(command: string, pkg: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).stdout.trim();
  if (!found.startsWith("/")) throw new Error(`the EC2 runner's user data installs ${pkg}, whose ${command} the rehearsal's runner needs: install it on this machine (scripts/setup-system.sh)`);
  return found;
}

export interface RunnerCommands {
  /** Command name -> what runs it here: a file of this machine, or a stand-in script. */
  commands: Map<string, { path: string } | { script: string }>;
}

export interface RunnerStandIns {
  /** Scripts standing in for commands of these names (only where the runner has the command). */
  replace: Record<string, string>;
  /** ferry's checkout on this machine (RUNNER_LINKS point into /opt/ferry on the instance). */
  projectDir: string;
}

/** The commands the EC2 runner has: its image's and its user data's, with the stand-ins in their place. */
export function runnerCommands(standIns: RunnerStandIns): RunnerCommands {
  const commands: RunnerCommands["commands"] = new Map();
  for (const pkg of DEBIAN_CLOUD_IMAGE_PACKAGES) {
    // cloud-init is the image's boot machinery; only its stand-in runs here.
    if (pkg === "cloud-init") continue;
    for (const [name, path] of packageCommands(pkg)) commands.set(name, { path });
  }
  for (const [pkg, names] of Object.entries(RUNNER_PACKAGES)) {
    for (const name of names) commands.set(name, standIns.replace[name] !== undefined ? { script: standIns.replace[name] } : { path: onThisMachine(name, pkg) });
  }
  for (const [name, target] of Object.entries(RUNNER_LINKS)) {
    // /opt/ferry is the checkout the user data clones; here, this repository.
    commands.set(name, { path: join(standIns.projectDir, target.replace(/^\/opt\/ferry\//, "")) });
  }
  // The image's boot machinery: on this machine, boot is over before the runner's steps run.
  commands.set("cloud-init", { script: standIns.replace["cloud-init"] ?? CLOUD_INIT_DONE });
  return { commands };
}

/** A directory holding exactly the runner's commands: the PATH its steps run with. */
export function runnerBinDir(runner: RunnerCommands): string {
  const dir = tempDir("ec2-runner-bin");
  for (const [name, what] of runner.commands) {
    if ("script" in what) writeFileSync(join(dir, name), what.script, { mode: 0o755 });
    else symlinkSync(what.path, join(dir, name));
  }
  return dir;
}

/** The runner user's home: empty, as on a new instance (no known_hosts, no AWS config). */
export function runnerHome(): string {
  const home = tempDir("ec2-runner-home");
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  if (existsSync(join(home, ".ssh", "known_hosts"))) throw new Error("a new runner has no known_hosts");
  return home;
}
