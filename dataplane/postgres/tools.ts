// Running PostgreSQL's own programs (pg_dump, pg_restore, psql) from the data plane.
// The caller passes an environment from libpqArgs(), so passwords travel in
// PGPASSWORD and never in argv, and TLS means what it means for ferry's connections.
import { execFile } from "node:child_process";
import { FerryError } from "../cli/common";
import { describeUrl } from "./connection";
import { explainTls, pgTls } from "./tls";

/**
 * A libpq program's TLS failure as one line naming what to fix, found from the --dbname
 * conninfo and the PGSSLMODE/PGSSLROOTCERT it ran with; undefined for other failures.
 */
export function toolTlsFailure(cmd: string, args: string[], env: NodeJS.ProcessEnv, detail: string): FerryError | undefined {
  const at = args.indexOf("--dbname");
  if (at < 0 || !args[at + 1]) return undefined;
  const conninfo = args[at + 1];
  const line = explainTls(pgTls(conninfo, env), describeUrl(conninfo), new Error(detail));
  return line ? new FerryError(`${cmd}: ${line}`, 1) : undefined;
}

/** A libpq program's failure: the TLS line, or the program's last lines. */
export function toolFailure(cmd: string, args: string[], env: NodeJS.ProcessEnv, detail: string): Error {
  return toolTlsFailure(cmd, args, env, detail) ?? new Error(`${cmd} failed: ${detail}`);
}

/** Run `cmd` to completion; reject with the last lines of its stderr on failure. */
export function runTool(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(toolFailure(cmd, args, env, stderr.trim().split("\n").slice(-3).join(" ") || err.message));
      else resolve(stdout);
    });
    // A program that exits before reading its input closes the pipe: its exit code says why.
    child.stdin?.on("error", () => {});
    if (input !== undefined) child.stdin?.end(input);
  });
}
