// Copying a release's slug out of Heroku: Heroku deletes slugs of old releases (since
// 2025-10-01: older than 30 days and beyond the last 20), so ferry keeps its own copy.
// The blob URL is a signed, time-limited URL on Heroku's storage: it gets no Heroku
// credentials (S3 refuses a request carrying two auth mechanisms, and the key must not
// leave api.heroku.com), and it is never printed (anyone holding it can read the code).
// The file is written under a temporary name, hashed while it streams, and renamed into
// place only when its SHA-256 matches the checksum Heroku reports.
import { createHash } from "node:crypto";
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { basename, dirname, join } from "node:path";
import type { Slug } from "./types";

export class SlugDownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SlugDownloadError";
  }
}

export interface DownloadedSlug {
  file: string;
  bytes: number;
  /** "SHA256:<hex>" of what was written: equal to Heroku's checksum. */
  checksum: string;
}

const CHECKSUM = /^SHA256:([0-9a-f]{64})$/i;

/** Heroku's "SHA256:<hex>" as lowercase hex; refuses a slug that has none. */
export function expectedSha256(slug: Pick<Slug, "id" | "checksum">): string {
  const m = CHECKSUM.exec(slug.checksum ?? "");
  if (!m) throw new SlugDownloadError(`slug ${slug.id}: Heroku reports no SHA256 checksum (${JSON.stringify(slug.checksum)}); refusing a copy that cannot be verified`);
  return m[1].toLowerCase();
}

/** Where the blob lives, without the signature: the only part of the URL fit to print. */
export function blobHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "an unparsable URL";
  }
}

export async function downloadSlug(slug: Slug, outFile: string, opts: { timeoutMs?: number } = {}): Promise<DownloadedSlug> {
  const want = expectedSha256(slug);
  if ((slug.blob?.method ?? "").toUpperCase() !== "GET" || !slug.blob.url) {
    throw new SlugDownloadError(`slug ${slug.id}: no blob to GET (method ${JSON.stringify(slug.blob?.method)})`);
  }
  const res = await fetchBlob(slug, opts.timeoutMs ?? 15 * 60_000);
  const partial = join(dirname(outFile), `.${basename(outFile)}.partial-${process.pid}`);
  const hash = createHash("sha256");
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), hashing, createWriteStream(partial, { mode: 0o600 }));
  } catch (err) {
    rmSync(partial, { force: true });
    throw new SlugDownloadError(`slug ${slug.id}: download from ${blobHost(slug.blob.url)} broke off after ${bytes} bytes: ${(err as Error).message}`);
  }
  const got = hash.digest("hex");
  if (got !== want) {
    rmSync(partial, { force: true });
    throw new SlugDownloadError(`slug ${slug.id}: checksum mismatch (Heroku says SHA256:${want}, the ${bytes} bytes downloaded are SHA256:${got}); refused, ${outFile} not written`);
  }
  renameSync(partial, outFile);
  return { file: outFile, bytes, checksum: `SHA256:${got}` };
}

async function fetchBlob(slug: Slug, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    // No Authorization header: the URL carries its own signature.
    res = await fetch(slug.blob.url, { method: "GET", signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string }; message?: string };
    const reason = e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.message ?? String(err));
    throw new SlugDownloadError(`slug ${slug.id}: cannot reach ${blobHost(slug.blob.url)}: ${reason}`);
  }
  if (!res.ok || !res.body) {
    const hint = res.status === 403 ? " (the signed URL has expired: ask Heroku for the slug again)" : "";
    await res.body?.cancel();
    throw new SlugDownloadError(`slug ${slug.id}: ${blobHost(slug.blob.url)} answered ${res.status}${hint}`);
  }
  return res;
}
