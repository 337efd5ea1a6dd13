// Copy a Heroku app's config vars into an AWS Secrets Manager secret (one JSON object,
// one key per var), for the ECS tasks to read as secrets. The values go from the
// Heroku API to the AWS CLI's stdin (`--secret-string file:///dev/stdin`): never into a
// command line, a file, a log line, ferry's output or Pulumi's state. Only the names and
// the version id come back.
//
// A version is written only when the values changed: the copy runs on every `pulumi up`
// until cutover, and every task definition pins the version id it prints, so a new
// version each time would roll every service, rerun the release phase and update every
// schedule on every up. The current value is read first (GetSecretValue, into this
// process only) and, when it is the same, its version id is printed again.
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

/** What a write did: the version the secret's value is at now, and whether this run wrote it. */
export interface SecretWrite {
  versionId: string;
  written: boolean;
}

/**
 * The value as `secretString` builds it, written only when it differs from the secret's
 * current one (AWSCURRENT); otherwise the current version, unchanged.
 */
export async function writeSecretIfChanged(secretId: string, value: string, region: string | undefined, aws = "aws"): Promise<SecretWrite> {
  const current = await currentSecretValue(secretId, region, aws);
  if (current && current.value === value) return { versionId: current.versionId, written: false };
  return { versionId: await putSecretValue(secretId, value, region, aws), written: true };
}

/**
 * `aws secretsmanager get-secret-value` (AWSCURRENT): undefined when the secret has no
 * value yet (ResourceNotFoundException, which is also what a missing secret answers: the
 * write then says so). The value reaches this process through the CLI's stdout only.
 */
export async function currentSecretValue(secretId: string, region: string | undefined, aws = "aws"): Promise<{ versionId: string; value: string } | undefined> {
  const args = ["secretsmanager", "get-secret-value", "--secret-id", secretId, "--output", "json", ...(region ? ["--region", region] : [])];
  const { code, out, err } = await runAws(aws, args, "");
  if (code === 127 && err.includes("ferry-aws-missing")) throw new SecretWriteError(`cannot run the AWS CLI (${aws}): ENOENT`);
  if (code !== 0) {
    if (err.includes("ResourceNotFoundException")) return undefined;
    const line = err.split("\n").map((l) => l.trim()).find(Boolean) ?? `exit ${code}`;
    throw new SecretWriteError(`aws secretsmanager get-secret-value --secret-id ${secretId} failed: ${line}`);
  }
  try {
    const parsed = JSON.parse(out) as { VersionId?: unknown; SecretString?: unknown };
    if (typeof parsed.VersionId !== "string" || typeof parsed.SecretString !== "string") throw new Error();
    return { versionId: parsed.VersionId, value: parsed.SecretString };
  } catch {
    // Not a value ferry wrote (a binary secret, say): write ferry's.
    return undefined;
  }
}

/** The AWS CLI with `input` on its stdin through a real pipe (see putSecretValue). */
function runAws(aws: string, args: string[], input: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    // `command -v` first: a missing CLI is one clear line, not the shell's "not found".
    const script = 'command -v "$0" >/dev/null 2>&1 || { echo "ferry-aws-missing" >&2; exit 127; }; cat | "$0" "$@"';
    const child = spawn("/bin/sh", ["-c", script, aws, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", (e) => reject(new SecretWriteError(`cannot run the AWS CLI (${aws}): ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    child.on("close", (code) => resolve({ code, out, err }));
    child.stdin.on("error", () => {
      // the CLI exited before reading: its exit code says why
    });
    child.stdin.end(input);
  });
}

/**
 * `aws secretsmanager put-secret-value`, the value on stdin; resolves with the new version id.
 * The CLI opens `file:///dev/stdin` by path, and Node's stdio "pipe" is a socket on Linux,
 * which /dev/stdin cannot open (ENXIO): `cat` feeds the CLI through a real pipe, so the value
 * stays off the command line and off the disk.
 */
export async function putSecretValue(secretId: string, value: string, region: string | undefined, aws = "aws"): Promise<string> {
  const args = ["secretsmanager", "put-secret-value", "--secret-id", secretId, "--secret-string", "file:///dev/stdin", "--output", "json"];
  if (region) args.push("--region", region);
  const { code, out, err } = await runAws(aws, args, value);
  if (code === 127 && err.includes("ferry-aws-missing")) throw new SecretWriteError(`cannot run the AWS CLI (${aws}): ENOENT`);
  if (code !== 0) {
    const line = err.split("\n").map((l) => l.trim()).find(Boolean) ?? `exit ${code}`;
    throw new SecretWriteError(`aws secretsmanager put-secret-value --secret-id ${secretId} failed: ${line}`);
  }
  try {
    const versionId = (JSON.parse(out) as { VersionId?: unknown }).VersionId;
    if (typeof versionId !== "string") throw new Error();
    return versionId;
  } catch {
    throw new SecretWriteError(`aws secretsmanager put-secret-value printed no VersionId`);
  }
}
