// Where PostgreSQL's server programs are, and how to run them: PostgreSQL refuses to
// run as root, so as root every server binary runs as the `postgres` system user that
// Debian's package creates. The physical strategy starts a standby with them; the local
// servers of the tests and the rehearsal too.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isRoot } from "../cli/process";

/** The newest installed PostgreSQL's bin directory (Debian layout), or PATH. */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, "bin", "postgres")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(root, versions[0], "bin");
  }
  const found = spawnSync("sh", ["-c", "command -v pg_ctl"], { encoding: "utf8" }).stdout.trim();
  if (!found) throw new Error("PostgreSQL server binaries not found: install postgresql-15 or newer");
  return found.replace(/\/pg_ctl$/, "");
}

/**
 * Run a PostgreSQL server program as the cluster's owner: directly when we are not
 * root, through `runuser -u postgres` when we are.
 */
export function asPostgres(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}
