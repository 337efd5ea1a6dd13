// Copy a Heroku app's config vars into an AWS Secrets Manager secret (one JSON object,
// one key per var), for the ECS tasks to read as secrets. The values go from the
// Heroku API to the AWS CLI's stdin (`--secret-string file:///dev/stdin`): never into a
// command line, a file, a log line, ferry's output or Pulumi's state. Only the names and
// the new version id come back.
import { spawn } from "node:child_process";
import { ConfigVars } from "./types";

/** Secrets Manager's limit on a secret value (CreateSecret/PutSecretValue: 65,536 bytes). */
export const SECRET_STRING_MAX_BYTES = 65_536;

export class SecretWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretWriteError";
  }
}

export interface CopiedConfig {
  names: string[];
  versionId: string;
}

/** The vars to copy: everything but `exclude` (those ferry sets itself), as one JSON string. */
export function secretString(vars: ConfigVars, exclude: string[], app: string): { json: string; names: string[] } {
  const kept = Object.fromEntries(Object.entries(vars).filter(([k]) => !exclude.includes(k)).sort(([a], [b]) => a.localeCompare(b)));
  const json = JSON.stringify(kept);
  const bytes = Buffer.byteLength(json);
  if (bytes > SECRET_STRING_MAX_BYTES) {
    throw new SecretWriteError(`${app}'s config vars take ${bytes} bytes as JSON, more than the ${SECRET_STRING_MAX_BYTES} a Secrets Manager secret holds`);
  }
  return { json, names: Object.keys(kept) };
}

/**
 * `aws secretsmanager put-secret-value`, the value on stdin; resolves with the new version id.
 * The CLI opens `file:///dev/stdin` by path, and Node's stdio "pipe" is a socket on Linux,
 * which /dev/stdin cannot open (ENXIO): `cat` feeds the CLI through a real pipe, so the value
 * stays off the command line and off the disk.
 */
export function putSecretValue(secretId: string, value: string, region: string | undefined, aws = "aws"): Promise<string> {
  const args = ["secretsmanager", "put-secret-value", "--secret-id", secretId, "--secret-string", "file:///dev/stdin", "--output", "json"];
  if (region) args.push("--region", region);
  return new Promise((resolve, reject) => {
    // `command -v` first: a missing CLI is one clear line, not the shell's "not found".
    const script = 'command -v "$0" >/dev/null 2>&1 || { echo "ferry-aws-missing" >&2; exit 127; }; cat | "$0" "$@"';
    const child = spawn("/bin/sh", ["-c", script, aws, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", (e) => reject(new SecretWriteError(`cannot run the AWS CLI (${aws}): ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    child.on("close", (code) => {
      if (code === 127 && err.includes("ferry-aws-missing")) return reject(new SecretWriteError(`cannot run the AWS CLI (${aws}): ENOENT`));
      if (code !== 0) {
        const line = err.split("\n").map((l) => l.trim()).find(Boolean) ?? `exit ${code}`;
        return reject(new SecretWriteError(`aws secretsmanager put-secret-value --secret-id ${secretId} failed: ${line}`));
      }
      try {
        const versionId = (JSON.parse(out) as { VersionId?: unknown }).VersionId;
        if (typeof versionId !== "string") throw new Error();
        resolve(versionId);
      } catch {
        reject(new SecretWriteError(`aws secretsmanager put-secret-value printed no VersionId`));
      }
    });
    child.stdin.on("error", () => {
      // the CLI exited before reading: its exit code says why
    });
    child.stdin.end(value);
  });
}
