// Running PostgreSQL's own programs (pg_dump, pg_restore, psql) from the data plane.
// The caller passes an environment from libpqArgs(), so passwords travel in
// PGPASSWORD and never in argv.
import { execFile } from "node:child_process";

/** Run `cmd` to completion; reject with the last lines of its stderr on failure. */
export function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${stderr.trim().split("\n").slice(-3).join(" ") || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
