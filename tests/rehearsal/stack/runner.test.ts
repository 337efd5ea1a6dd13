// The rehearsal's EC2 runner has only what the instance would: the commands of Debian's
// cloud image and of the packages the program's user data installs (its own list,
// components/target/userData.ts), nothing else of this machine, and an empty home.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { RUNNER_PACKAGES } from "../../../components/target/userData";
import { runnerBinDir, runnerCommands, runnerHome } from "../../../rehearsal/stack/runner";

const found = (path: string, command: string) => spawnSync("/bin/sh", ["-c", `command -v ${command}`], { env: { PATH: path }, encoding: "utf8" }).status === 0;

describe("the rehearsal's EC2 runner", () => {
  const standIns = { aws: "#!/bin/sh\necho stand-in aws\n", skopeo: "#!/bin/sh\necho stand-in skopeo\n" };
  const runner = runnerCommands({ replace: standIns, projectDir: process.cwd() });
  const bin = runnerBinDir(runner);

  it("has the user data's tools (the stand-ins in aws's and skopeo's place) and the image's", () => {
    for (const command of ["aws", "skopeo", "ferry", "node", "psql", "pg_dump", "redis-cli", "pgcopydb", "git", "curl", "ssh", "sh", "tar", "gzip", "cloud-init"]) expect(found(bin, command), command).toBe(true);
    expect(spawnSync(join(bin, "aws"), { encoding: "utf8" }).stdout).toBe("stand-in aws\n");
    expect(Object.keys(RUNNER_PACKAGES)).toEqual(expect.arrayContaining(["awscli", "skopeo"]));
  });

  it("has nothing else of this machine: not its servers, not its other tools", () => {
    // This machine has them (the rehearsal's own servers); the runner's user data installs none.
    for (const command of ["nginx", "redis-server", "sshd"]) {
      expect(found(bin, command), command).toBe(false);
    }
    expect(readdirSync(bin).length).toBe(runner.commands.size);
  });

  it("starts with an empty home: no known_hosts, no AWS configuration", () => {
    const home = runnerHome();
    expect(existsSync(join(home, ".ssh", "known_hosts"))).toBe(false);
    expect(existsSync(join(home, ".aws"))).toBe(false);
  });
});
