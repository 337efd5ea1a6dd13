// Running the peer tools (pg_dump, pg_restore, pgcopydb, psql) the way a user would,
// with the password in PGPASSWORD and password-free connection strings in $SRC/$DST.
import { spawn } from "node:child_process";
import { libpqArgs } from "../../dataplane/postgres/connection";

/** Run a sh script; resolves with its exit code and the tail of its stderr. */
export function shellStatus(script: string, sourceUrl: string, targetUrl: string, extraEnv: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const src = libpqArgs(sourceUrl);
  const dst = libpqArgs(targetUrl);
  const env = { ...src.env, SRC: src.conninfo, DST: dst.conninfo, ...extraEnv };
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", `set -e\n${script}`], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code: code ?? 1, stderr: stderr.trim().split("\n").slice(-5).join(" | ") }));
  });
}

/** Run a sh script that must succeed. */
export async function shell(script: string, sourceUrl: string, targetUrl: string, extraEnv: Record<string, string> = {}): Promise<void> {
  const { code, stderr } = await shellStatus(script, sourceUrl, targetUrl, extraEnv);
  if (code !== 0) throw new Error(`exit ${code}: ${stderr}`);
}
