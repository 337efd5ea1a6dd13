// The stack's bucket, through the AWS CLI (on the runner it takes the instance role's
// credentials, locally the operator's: ferry never holds an AWS key). A backup object
// carries its SHA-256 in its own metadata (x-amz-meta-ferry-sha256), written with it;
// every read (the check right after the upload, a restore) hashes the bytes S3 returns
// and compares them with it, so a damaged or replaced object is refused, never restored.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FerryError } from "../cli/common";

/** Where one backup lives: the bucket, its key, and the bucket's region (the CLI's default when absent). */
export interface BackupObject {
  bucket: string;
  key: string;
  region?: string;
}

/** What a verified upload or download found. */
export interface StoredBackup {
  bucket: string;
  key: string;
  bytes: number;
  sha256: string;
}

/** The metadata name the checksum is stored under (S3 lowercases user metadata names). */
export const CHECKSUM_METADATA = "ferry-sha256";

export const describeObject = (o: BackupObject) => `s3://${o.bucket}/${o.key}`;

/** The SHA-256 (hex) and size of a file, read in a stream. */
export function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    createReadStream(path)
      .on("data", (chunk: Buffer | string) => {
        bytes += chunk.length;
        hash.update(chunk);
      })
      .on("error", reject)
      .on("end", () => resolve({ sha256: hash.digest("hex"), bytes }));
  });
}

/** `aws ARGS`; a failure is one line naming what was asked of S3. */
function awsCli(args: string[], what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("aws", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e) => reject(new FerryError(`${what}: cannot run the AWS CLI (aws): ${(e as NodeJS.ErrnoException).code ?? e.message}`, 1)));
    child.on("close", (code) => {
      if (code === 0) return resolve(stdout);
      const line = stderr.trim().split("\n").filter(Boolean).pop() ?? `exit ${code}`;
      reject(new FerryError(`${what}: ${line}`, 1));
    });
  });
}

const regionArgs = (o: BackupObject) => (o.region ? ["--region", o.region] : []);

/** The checksum the object was stored with; an object without one is refused. */
export async function storedChecksum(o: BackupObject): Promise<string> {
  const out = await awsCli(["s3api", "head-object", "--bucket", o.bucket, "--key", o.key, ...regionArgs(o), "--output", "json"], `reading ${describeObject(o)}`);
  let metadata: Record<string, string> = {};
  try {
    metadata = (JSON.parse(out) as { Metadata?: Record<string, string> }).Metadata ?? {};
  } catch {
    throw new FerryError(`reading ${describeObject(o)}: aws s3api head-object printed no JSON`, 1);
  }
  const sha256 = metadata[CHECKSUM_METADATA];
  if (!/^[0-9a-f]{64}$/.test(sha256 ?? "")) throw new FerryError(`${describeObject(o)} carries no ${CHECKSUM_METADATA} metadata: not a ferry backup, refusing to restore it`, 1);
  return sha256;
}

/**
 * Download `o` into `file` and check its bytes against the checksum stored with it; a
 * mismatch is one line and nothing is restored from it.
 */
export async function downloadVerified(o: BackupObject, file: string): Promise<StoredBackup> {
  const expected = await storedChecksum(o);
  await awsCli(["s3", "cp", "--only-show-errors", ...regionArgs(o), describeObject(o), file], `downloading ${describeObject(o)}`);
  const got = await hashFile(file);
  if (got.sha256 !== expected) {
    throw new FerryError(`${describeObject(o)} is damaged: its bytes hash to sha256 ${got.sha256}, not the ${expected} stored with it; refusing to restore it`, 1);
  }
  return { bucket: o.bucket, key: o.key, bytes: got.bytes, sha256: got.sha256 };
}

/**
 * Upload `file` to `o` with its checksum in the object's metadata, then read it back
 * and check it: the backup counts only once S3 holds exactly these bytes.
 */
export async function uploadVerified(file: string, o: BackupObject): Promise<StoredBackup> {
  const local = await hashFile(file);
  await awsCli(
    ["s3", "cp", "--only-show-errors", ...regionArgs(o), "--metadata", `${CHECKSUM_METADATA}=${local.sha256}`, file, describeObject(o)],
    `uploading to ${describeObject(o)}`,
  );
  const dir = mkdtempSync(join(tmpdir(), "ferry-check-"));
  try {
    const stored = await downloadVerified(o, join(dir, "object"));
    if (stored.sha256 !== local.sha256) {
      throw new FerryError(`${describeObject(o)}: S3 holds sha256 ${stored.sha256} after the upload of ${local.sha256}; the backup did not land`, 1);
    }
    return stored;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A private temporary directory for `fn`, removed afterwards (a dump holds data). */
export async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
