// Releases, slugs and slug blobs for the local Heroku API stand-in (heroku-api.ts), as
// the Platform API reference documents them: `GET /apps/{app}/releases` (Range on
// `version`, `order=desc` for newest first), `GET /apps/{app}/slugs/{id}` (blob.url,
// checksum "SHA256:<hex>", process_types, stack, commit, size), and the blob itself
// behind a signed, expiring URL that, like S3's presigned URLs, refuses a request that
// also carries an Authorization header and answers 403 once expired.
import { createHash, createHmac, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface FakeSlugSeed {
  /** A slug tarball on disk (gzip tar with ./app), served as the blob. */
  file: string;
  processTypes: Record<string, string>;
  stack?: string;
  commit?: string;
  /** Report this checksum instead of the file's real one (to test a mismatch). */
  checksum?: string | null;
}

export interface FakeReleaseSeed {
  description?: string;
  /** "pending" while a release phase runs, "failed" when it failed (default "succeeded"). */
  status?: "succeeded" | "pending" | "failed";
  /** The release's code; null for a release without code (nothing deployed yet). */
  slug: FakeSlugSeed | null;
}

interface FakeSlug {
  id: string;
  bytes: Buffer;
  checksum: string | null;
  processTypes: Record<string, string>;
  stack: string;
  commit: string | null;
  createdAt: string;
}

interface FakeRelease {
  id: string;
  version: number;
  description: string;
  status: string;
  slugId: string | null;
  createdAt: string;
}

/** Heroku's slug blob URLs last minutes; short here so tests can see one expire. */
const DEFAULT_BLOB_TTL_MS = 5 * 60_000;

export class FakeReleases {
  private readonly releases = new Map<string, FakeRelease[]>();
  private readonly slugs = new Map<string, FakeSlug & { app: string }>();
  private readonly signingKey = randomBytes(32);
  /** Blob downloads served, and those refused (with why). */
  readonly blobRequests: Array<{ slugId: string; status: number; authorization: boolean }> = [];
  blobTtlMs = DEFAULT_BLOB_TTL_MS;

  seed(app: string, releases: FakeReleaseSeed[] = []): void {
    for (const r of releases) this.deploy(app, r);
  }

  /** A new release (a `git push heroku` or a config change): the next version. */
  deploy(app: string, seed: FakeReleaseSeed): { version: number; slugId: string | null } {
    const list = this.releases.get(app) ?? [];
    this.releases.set(app, list);
    let slugId: string | null = null;
    if (seed.slug) {
      const bytes = readFileSync(seed.slug.file);
      slugId = randomUUID();
      this.slugs.set(slugId, {
        id: slugId,
        app,
        bytes,
        checksum: seed.slug.checksum === undefined ? `SHA256:${createHash("sha256").update(bytes).digest("hex")}` : seed.slug.checksum,
        processTypes: { ...seed.slug.processTypes },
        stack: seed.slug.stack ?? "heroku-24",
        commit: seed.slug.commit ?? null,
        createdAt: new Date().toISOString(),
      });
    }
    const version = list.length + 1;
    list.push({ id: randomUUID(), version, description: seed.description ?? `Deploy v${version}`, status: seed.status ?? "succeeded", slugId, createdAt: new Date().toISOString() });
    return { version, slugId };
  }

  /** A release phase finishing: the pending release becomes succeeded or failed. */
  settle(app: string, version: number, status: "succeeded" | "failed"): void {
    const r = this.releases.get(app)?.find((x) => x.version === version);
    if (!r) throw new Error(`no release v${version} of ${app}`);
    r.status = status;
  }

  /** What GET /apps/{app}/releases lists (before paging). */
  releasesJson(app: { id: string; name: string }): Array<Record<string, unknown>> {
    const list = this.releases.get(app.name) ?? [];
    const current = [...list].reverse().find((r) => r.status === "succeeded");
    return list.map((r) => ({
      id: r.id,
      version: r.version,
      description: r.description,
      status: r.status,
      current: r === current,
      slug: r.slugId ? { id: r.slugId } : null,
      addon_plan_names: [],
      app: { id: app.id, name: app.name },
      user: { id: "5a2e3f4b-0000-4000-8000-000000000001", email: "owner@example.com" },
      output_stream_url: null,
      created_at: r.createdAt,
      updated_at: r.createdAt,
    }));
  }

  /** GET /apps/{app}/slugs/{id}, with a freshly signed blob URL on this server. */
  slugJson(app: { id: string; name: string }, id: string, baseUrl: string): Record<string, unknown> | undefined {
    const s = this.slugs.get(id);
    if (!s || s.app !== app.name) return undefined;
    const expires = Date.now() + this.blobTtlMs;
    return {
      id: s.id,
      blob: { method: "get", url: `${baseUrl}/blobs/${s.id}?expires=${expires}&signature=${this.sign(s.id, expires)}` },
      buildpack_provided_description: "Ruby/Rails",
      checksum: s.checksum,
      commit: s.commit,
      commit_description: s.commit ? "deployed" : null,
      process_types: s.processTypes,
      size: s.bytes.length,
      stack: { id: "ee582d3c-717d-4a57-ba5f-8b3a39f3a817", name: s.stack },
      created_at: s.createdAt,
      updated_at: s.createdAt,
    };
  }

  /** Is this a blob request (not a Platform API one)? */
  static isBlob(path: string): boolean {
    return path.startsWith("/blobs/");
  }

  /** Serve a blob: the URL's own signature is the only credential accepted. */
  serveBlob(req: IncomingMessage, res: ServerResponse): number {
    const url = new URL(req.url ?? "/", "http://localhost");
    const slugId = decodeURIComponent(url.pathname.slice("/blobs/".length));
    const authorization = req.headers.authorization !== undefined;
    const answer = (status: number, code: string, message: string) => {
      res.writeHead(status, { "Content-Type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
      this.blobRequests.push({ slugId, status, authorization });
      return status;
    };
    // S3: "Only one auth mechanism allowed" when a presigned URL also gets an Authorization header.
    if (authorization) return answer(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified");
    const expires = Number(url.searchParams.get("expires"));
    const signature = url.searchParams.get("signature") ?? "";
    if (!Number.isFinite(expires) || signature !== this.sign(slugId, expires)) return answer(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
    if (Date.now() > expires) return answer(403, "AccessDenied", "Request has expired");
    const slug = this.slugs.get(slugId);
    if (!slug) return answer(404, "NoSuchKey", "The specified key does not exist.");
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(slug.bytes.length) });
    res.end(slug.bytes);
    this.blobRequests.push({ slugId, status: 200, authorization });
    return 200;
  }

  private sign(slugId: string, expires: number): string {
    return createHmac("sha256", this.signingKey).update(`${slugId}\n${expires}`).digest("hex");
  }
}
