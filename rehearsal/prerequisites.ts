// What the rehearsal needs installed, checked before anything starts, so a fresh
// machine gets one message naming every missing program and how to install it.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { have, postgresBinDir } from "./servers";

export interface Missing {
  what: string;
  install: string;
}

export function missingPrerequisites(): Missing[] {
  const missing: Missing[] = [];
  let binDir: string | undefined;
  try {
    binDir = postgresBinDir();
  } catch {
    missing.push({ what: "PostgreSQL server (postgres, initdb, pg_ctl)", install: "apt-get install postgresql" });
  }
  if (binDir) {
    for (const tool of ["pg_basebackup", "pg_dump", "pg_restore"]) {
      if (!existsSync(join(binDir, tool)) && !have(tool)) missing.push({ what: tool, install: "apt-get install postgresql-client" });
    }
  }
  if (!have("psql")) missing.push({ what: "psql", install: "apt-get install postgresql-client" });
  if (!have("redis-server")) missing.push({ what: "redis-server", install: "apt-get install redis-server" });
  if (!have("nginx")) missing.push({ what: "nginx", install: "apt-get install nginx-light" });
  if (!have("openssl")) missing.push({ what: "openssl (the stand-ins' certificates)", install: "apt-get install openssl" });
  if (!existsSync("/usr/sbin/sshd")) missing.push({ what: "sshd (the old box's SSH)", install: "apt-get install openssh-server" });
  if (!have("ssh")) missing.push({ what: "ssh", install: "apt-get install openssh-client" });
  // The runner's own tools, which its user data installs (components/target/userData.ts).
  if (!have("aws")) missing.push({ what: "the AWS CLI (the runner's steps call it)", install: "apt-get install awscli" });
  if (!have("skopeo")) missing.push({ what: "skopeo (the runner copies the images into ECR with it)", install: "apt-get install skopeo" });
  return missing;
}

export function describeMissing(missing: Missing[]): string {
  return `the rehearsal needs programs that are not installed: ${missing.map((m) => `${m.what} (${m.install})`).join("; ")}. On Debian, as root: bash scripts/setup-system.sh`;
}
