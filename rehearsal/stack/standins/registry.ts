// Container registries, as the rehearsal stands them in: the public registries the stack's
// images come from (Docker Hub, GitHub's, ECR Public) and the account's private ECR, both
// speaking the OCI distribution API (https://github.com/opencontainers/distribution-spec/blob/main/spec.md)
// over TLS from the rehearsal CA, so the runner's real skopeo copies between them.
//
// What the real services do that the rehearsal enforces:
// - Docker Hub counts a pull for every GET of a manifest (HEAD is not counted) and allows
//   unauthenticated clients 10 pulls per hour per IPv4 address; beyond that it answers 429
//   TOOMANYREQUESTS (https://docs.docker.com/docker-hub/usage/pulls/). Every Fargate task
//   start is a pull (Fargate keeps no image cache), and tasks in private subnets all leave
//   through the NAT gateway's one address: the ECS stand-in's pulls are counted against
//   it, the runner's skopeo against the runner's Elastic IP.
// - ECR: pushes and pulls need a login with the token GetAuthorizationToken handed out
//   (user AWS), and a repository that exists ("The repository with name ... does not exist
//   in the registry": https://docs.aws.amazon.com/AmazonECR/latest/userguide/common-errors.html);
//   a task pulls what was pushed, by tag or digest, or fails with CannotPullContainerError
//   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html).
//
// The images are the rehearsal's own: one tiny layer and a config whose label names the
// reference it stands for, so the ECS stand-in knows which app a copy in ECR is (there is
// no container engine here: ecs.ts runs the rehearsal app's slug for it).
import { createHash, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { buffer } from "node:stream/consumers";
import { createServer, Server } from "node:https";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Hosts } from "../hosts";
import type { PrivateCa } from "./ca";
import { parseImage, qualified } from "../../../components/target/images";
import { tempDir } from "../../servers";

/** Docker Hub's anonymous limit: pulls per hour per address. */
export const DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR = 10;
const HOUR = 3600_000;
const MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
const SOURCE_LABEL = "ferry.rehearsal.image";

const digestOf = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

export class PullRefused extends Error {}

interface Blobs {
  blobs: Map<string, Buffer>;
  /** repository -> reference (tag or digest) -> manifest bytes. */
  manifests: Map<string, Map<string, Buffer>>;
}

/** The one tiny image that stands for `ref`: its manifest, config and layer. */
function standInImage(ref: string): { manifest: Buffer; blobs: Map<string, Buffer> } {
  const layerTar = Buffer.alloc(1024); // an empty tar: two zero blocks
  const layer = gzipSync(layerTar);
  const config = Buffer.from(JSON.stringify({
    architecture: "amd64", os: "linux",
    config: { Labels: { [SOURCE_LABEL]: ref } },
    rootfs: { type: "layers", diff_ids: [digestOf(layerTar)] },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(layer), size: layer.length }],
  }));
  return { manifest, blobs: new Map([[digestOf(config), config], [digestOf(layer), layer]]) };
}

export interface RegistriesOptions {
  hosts: Hosts;
  ca: PrivateCa;
  region: string;
  account: string;
  /** The public images the stack names: the public registries hold these. */
  images: string[];
  /** Whether an ECR login password is one GetAuthorizationToken handed out. */
  validToken(password: string): boolean;
  /** Each ECR API action a push or pull makes, for the IAM check (action, repository ARN). */
  record(action: string, resource: string): void;
  log(line: string): void;
  /** A clock (tests move it). */
  now?: () => number;
}

export class Registries {
  private readonly publicStore: Blobs = { blobs: new Map(), manifests: new Map() };
  private readonly ecrStore: Blobs = { blobs: new Map(), manifests: new Map() };
  private readonly repositories = new Set<string>();
  private readonly uploads = new Map<string, Buffer[]>();
  /** Address label -> times of Docker Hub pulls. */
  private readonly hubPulls = new Map<string, number[]>();
  private servers: Server[] = [];
  private publicAddress = "";
  readonly ecrHost: string;
  /** What the runner's skopeo is pointed at (--registries-conf): the public registries' stand-in. */
  registriesConf = "";

  constructor(private readonly opts: RegistriesOptions) {
    this.ecrHost = `${opts.account}.dkr.ecr.${opts.region}.amazonaws.com`;
    for (const ref of opts.images) {
      const image = parseImage(ref);
      const { manifest, blobs } = standInImage(ref);
      for (const [d, b] of blobs) this.publicStore.blobs.set(d, b);
      const repo = `${image.host}/${image.path}`;
      const refs = this.publicStore.manifests.get(repo) ?? new Map<string, Buffer>();
      refs.set(image.tag ?? image.digest!, manifest);
      refs.set(digestOf(manifest), manifest);
      this.publicStore.manifests.set(repo, refs);
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async start(): Promise<void> {
    // The public registries: one server, each registry under its own path (registries.conf
    // maps docker.io to <address>/docker.io, ...), so nothing of this machine's DNS changes.
    this.publicAddress = await this.opts.hosts.allocate("public registries (Docker Hub, ghcr.io, public.ecr.aws)");
    const publicCert = await this.opts.ca.issue("registries", [this.publicAddress]);
    this.servers.push(await this.serve(this.publicAddress, publicCert, (req, res) => this.publicRegistry(req, res)));
    const ecrAddress = await this.opts.hosts.allocate(`ECR ${this.ecrHost}`);
    this.opts.hosts.name(this.ecrHost, ecrAddress);
    const ecrCert = await this.opts.ca.issue("ecr", [this.ecrHost]);
    this.servers.push(await this.serve(ecrAddress, ecrCert, (req, res) => this.ecr(req, res)));
    const hosts = [...new Set(this.opts.images.map((r) => parseImage(r).host))];
    this.registriesConf = join(tempDir("registries"), "registries.conf");
    writeFileSync(this.registriesConf, hosts.map((h) => `[[registry]]\nprefix = "${h}"\nlocation = "${this.publicAddress}/${h}"\n`).join("\n"));
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    })));
  }

  private async serve(address: string, cert: { cert: string; key: string }, handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<Server> {
    const server = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
      handle(req, res).catch((e) => {
        if (!res.headersSent) error(res, 500, "UNKNOWN", (e as Error).message);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(443, address, resolve));
    return server;
  }

  // ---- what the program created ---------------------------------------------------------

  /** aws:ecr/repository:Repository, created by the program. */
  createRepository(name: string): { repositoryUrl: string; arn: string } {
    this.repositories.add(name);
    return { repositoryUrl: `${this.ecrHost}/${name}`, arn: this.repositoryArn(name) };
  }

  deleteRepository(name: string): void {
    this.repositories.delete(name);
    this.ecrStore.manifests.delete(name);
  }

  private repositoryArn(name: string): string {
    return `arn:aws:ecr:${this.opts.region}:${this.opts.account}:repository/${name}`;
  }

  // ---- what a task's pull does (the ECS stand-in) ---------------------------------------

  /**
   * A task start pulling `ref` from `address` (the NAT gateway's, for Fargate tasks in the
   * private subnets); returns the public reference the image stands for. Throws what ECS
   * reports when the pull fails.
   */
  pull(ref: string, address: string): string {
    const image = parseImage(ref);
    if (image.host === this.ecrHost) {
      const manifest = this.ecrStore.manifests.get(image.path)?.get(image.digest ?? image.tag!);
      if (!this.repositories.has(image.path) || !manifest) {
        throw new PullRefused(`CannotPullContainerError: pull image manifest has been retried: failed to resolve ref ${ref}: not found`);
      }
      return this.sourceOf(manifest);
    }
    if (image.host === "docker.io") this.countHubPull(address, ref);
    const manifest = this.publicStore.manifests.get(`${image.host}/${image.path}`)?.get(image.digest ?? image.tag!);
    if (!manifest) throw new PullRefused(`CannotPullContainerError: ${qualified(image)}: not found (the rehearsal's public registries hold ${this.opts.images.join(", ")})`);
    return ref;
  }

  /** The public reference an ECR copy stands for (its config's label), or the reference itself. */
  sourceOf(manifestOrRef: Buffer | string): string {
    if (typeof manifestOrRef === "string") {
      const image = parseImage(manifestOrRef);
      if (image.host !== this.ecrHost) return manifestOrRef;
      const manifest = this.ecrStore.manifests.get(image.path)?.get(image.digest ?? image.tag!);
      return manifest ? this.sourceOf(manifest) : manifestOrRef;
    }
    const configDigest = (JSON.parse(manifestOrRef.toString()) as { config: { digest: string } }).config.digest;
    const config = this.ecrStore.blobs.get(configDigest) ?? this.publicStore.blobs.get(configDigest);
    const label = config ? (JSON.parse(config.toString()) as { config?: { Labels?: Record<string, string> } }).config?.Labels?.[SOURCE_LABEL] : undefined;
    if (!label) throw new PullRefused("CannotPullContainerError: the image's config is missing");
    return label;
  }

  /** Docker Hub pulls from each address within the last hour. */
  hubPullCounts(): Record<string, number> {
    const since = this.now() - HOUR;
    return Object.fromEntries([...this.hubPulls].map(([a, times]) => [a, times.filter((t) => t > since).length]));
  }

  private countHubPull(address: string, ref: string): void {
    const since = this.now() - HOUR;
    const times = (this.hubPulls.get(address) ?? []).filter((t) => t > since);
    if (times.length >= DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR) {
      this.hubPulls.set(address, times);
      this.opts.log(`      Docker Hub: pull of ${ref} from ${address} refused: ${times.length} anonymous pulls in the last hour`);
      throw new PullRefused(`CannotPullContainerError: ${ref}: toomanyrequests: You have reached your unauthenticated pull rate limit (${DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR} per hour per IP, from ${address}). https://www.docker.com/increase-rate-limit`);
    }
    times.push(this.now());
    this.hubPulls.set(address, times);
  }

  // ---- the public registries' HTTP API ----------------------------------------------------

  private async publicRegistry(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "https://registry");
    if (url.pathname === "/v2/" || url.pathname === "/v2") return void res.writeHead(200, { "docker-distribution-api-version": "registry/2.0" }).end("{}");
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m || (req.method !== "GET" && req.method !== "HEAD")) return error(res, 405, "UNSUPPORTED", `${req.method} ${url.pathname}: a public registry is read only`);
    const [, repo, kind, reference] = m;
    if (kind === "blobs") return this.sendBlob(res, req, this.publicStore, reference);
    const manifest = this.publicStore.manifests.get(repo)?.get(reference);
    if (!manifest) return error(res, 404, "MANIFEST_UNKNOWN", `manifest unknown: ${repo}:${reference}`);
    // Docker Hub counts a GET of a manifest as a pull; the runner's skopeo is its only client here.
    if (req.method === "GET" && repo.startsWith("docker.io/")) {
      try {
        this.countHubPull("the runner's Elastic IP", `${repo}:${reference}`);
      } catch (e) {
        return error(res, 429, "TOOMANYREQUESTS", (e as Error).message);
      }
    }
    res.writeHead(200, { "content-type": MANIFEST_TYPE, "docker-content-digest": digestOf(manifest), "content-length": manifest.length });
    res.end(req.method === "HEAD" ? undefined : manifest);
  }

  private sendBlob(res: ServerResponse, req: IncomingMessage, store: Blobs, digest: string): void {
    const blob = store.blobs.get(digest);
    if (!blob) return error(res, 404, "BLOB_UNKNOWN", `blob unknown: ${digest}`);
    res.writeHead(200, { "content-type": "application/octet-stream", "docker-content-digest": digest, "content-length": blob.length });
    res.end(req.method === "HEAD" ? undefined : blob);
  }

  // ---- ECR's HTTP API ------------------------------------------------------------------------

  private authorized(req: IncomingMessage): boolean {
    const header = String(req.headers.authorization ?? "");
    if (!header.startsWith("Basic ")) return false;
    const [user, ...rest] = Buffer.from(header.slice(6), "base64").toString().split(":");
    return user === "AWS" && this.opts.validToken(rest.join(":"));
  }

  private async ecr(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `https://${this.ecrHost}`);
    if (!this.authorized(req)) {
      res.writeHead(401, { "www-authenticate": `Basic realm="https://${this.ecrHost}/",service="ecr.amazonaws.com"`, "content-type": "application/json" });
      return void res.end(JSON.stringify({ errors: [{ code: "DENIED", message: "Not Authorized" }] }));
    }
    if (url.pathname === "/v2/" || url.pathname === "/v2") return void res.writeHead(200, { "docker-distribution-api-version": "registry/2.0" }).end("{}");
    const m = /^\/v2\/(.+)\/(manifests|blobs\/uploads|blobs)\/?([^/]*)$/.exec(url.pathname);
    if (!m) return error(res, 404, "NAME_UNKNOWN", url.pathname);
    const [, repo, kind, reference] = m;
    if (!this.repositories.has(repo)) return error(res, 404, "NAME_UNKNOWN", `The repository with name '${repo}' does not exist in the registry with id '${this.opts.account}'`);
    const arn = this.repositoryArn(repo);
    const body = await buffer(req);
    if (kind === "blobs") {
      this.opts.record(req.method === "HEAD" ? "ecr:BatchCheckLayerAvailability" : "ecr:GetDownloadUrlForLayer", arn);
      return this.sendBlob(res, req, this.ecrStore, reference);
    }
    if (kind === "blobs/uploads") return this.upload(req, res, url, repo, reference, body, arn);
    if (req.method === "PUT") {
      this.opts.record("ecr:PutImage", arn);
      const refs = this.ecrStore.manifests.get(repo) ?? new Map<string, Buffer>();
      const parsed = JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      const missing = [parsed.config.digest, ...parsed.layers.map((l) => l.digest)].filter((d) => !this.ecrStore.blobs.has(d));
      if (missing.length) return error(res, 400, "BLOB_UNKNOWN", `blob unknown to registry: ${missing[0]}`);
      refs.set(reference, body);
      refs.set(digestOf(body), body);
      this.ecrStore.manifests.set(repo, refs);
      this.opts.log(`      ECR: ${repo}:${reference} pushed (${digestOf(body).slice(0, 19)}..., the copy of ${this.sourceOf(body)})`);
      res.writeHead(201, { location: `/v2/${repo}/manifests/${digestOf(body)}`, "docker-content-digest": digestOf(body) });
      return void res.end();
    }
    this.opts.record("ecr:BatchGetImage", arn);
    const manifest = this.ecrStore.manifests.get(repo)?.get(reference);
    if (!manifest) return error(res, 404, "MANIFEST_UNKNOWN", `Requested image not found: ${repo}:${reference}`);
    res.writeHead(200, { "content-type": MANIFEST_TYPE, "docker-content-digest": digestOf(manifest), "content-length": manifest.length });
    res.end(req.method === "HEAD" ? undefined : manifest);
  }

  /** POST starts an upload; PATCH appends; PUT ?digest= completes (OCI distribution spec, "Pushing blobs"). */
  private upload(req: IncomingMessage, res: ServerResponse, url: URL, repo: string, id: string, body: Buffer, arn: string): void {
    if (req.method === "POST") {
      this.opts.record("ecr:InitiateLayerUpload", arn);
      const upload = randomUUID();
      this.uploads.set(upload, body.length ? [body] : []);
      const digest = url.searchParams.get("digest");
      if (digest) return this.completeUpload(res, repo, upload, digest, arn);
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${upload}`, range: "0-0", "docker-upload-uuid": upload });
      return void res.end();
    }
    const parts = this.uploads.get(id);
    if (!parts) return error(res, 404, "BLOB_UPLOAD_UNKNOWN", `upload ${id} unknown`);
    if (body.length) {
      this.opts.record("ecr:UploadLayerPart", arn);
      parts.push(body);
    }
    if (req.method === "PATCH") {
      const size = parts.reduce((n, p) => n + p.length, 0);
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${id}`, range: `0-${Math.max(0, size - 1)}`, "docker-upload-uuid": id });
      return void res.end();
    }
    if (req.method === "PUT") return this.completeUpload(res, repo, id, url.searchParams.get("digest") ?? "", arn);
    error(res, 405, "UNSUPPORTED", `${req.method} on an upload`);
  }

  private completeUpload(res: ServerResponse, repo: string, id: string, digest: string, arn: string): void {
    this.opts.record("ecr:CompleteLayerUpload", arn);
    const blob = Buffer.concat(this.uploads.get(id) ?? []);
    this.uploads.delete(id);
    if (digestOf(blob) !== digest) return error(res, 400, "DIGEST_INVALID", `provided digest ${digest} does not match the uploaded content (${digestOf(blob)})`);
    this.ecrStore.blobs.set(digest, blob);
    res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}`, "docker-content-digest": digest });
    res.end();
  }
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ errors: [{ code, message }] }));
}

/**
 * `skopeo` on the rehearsal's runner: the real one, trusting the rehearsal CA
 * (SSL_CERT_FILE, which Go's TLS reads) and pointed at the public registries' stand-in by a
 * registries.conf of the rehearsal's (skopeo's global --registries-conf; 1.9 does not read
 * CONTAINERS_REGISTRIES_CONF), as the aws wrapper adds --endpoint-url.
 */
export function skopeoWrapper(realSkopeo: string, caBundle: string, registriesConf: string): string {
  return `#!/bin/sh\n# The rehearsal's skopeo: the real one; public registries are the stand-in (registries.conf), TLS trusts the rehearsal CA.\nexport SSL_CERT_FILE=${JSON.stringify(caBundle)}\nexec ${JSON.stringify(realSkopeo)} --registries-conf ${JSON.stringify(registriesConf)} "$@"\n`;
}
