// S3, as the rehearsal stands it in: a process of its own in front of the AWS stand-in.
// In production S3 is another machine; here it must at least not share an event loop with
// the Pulumi engine. The rehearsal's main thread evaluates the user's program at every
// `pulumi up` and is busy for seconds then (0.6-5.1 s measured on the staging stack); with
// S3 answered there, each media upload the app made meanwhile waited out the stall and
// some timed out at the load generator's 5 s, failures no user of S3 would have seen.
//
// The process answers S3 (path-style REST, https://docs.aws.amazon.com/AmazonS3/latest/API/):
// PutObject (the body may be `aws-chunked`, as botocore 1.36+ sends it with a trailing
// checksum: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html),
// GetObject (a `Range: bytes=a-b` answered 206, as the CLI downloads a large object in
// ranges) and HeadObject, with the object's user metadata (x-amz-meta-*) kept and given
// back (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html; the final
// backups carry their checksum there), and the multipart upload the CLI uses above 8 MB
// (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html), each authorized
// as s3:PutObject; into a bucket that exists only, else NoSuchBucket, 404
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList).
// Every other request (the JSON APIs, X-Amz-Target set) passes through to the AWS
// stand-in in the rehearsal's process, unchanged.
//
// Buckets and objects live in a directory both processes read (a bucket is a directory, an
// object a file named by its encoded key, written whole by rename), so the rehearsal reads
// and seeds them synchronously, as before, without asking this process. Each S3 call is
// appended to a JSON-lines file before it is answered: the IAM check sees every call made.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, IncomingMessage, request, ServerResponse } from "node:http";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { ChildProcess, spawn } from "node:child_process";
import { moveOffServingPath, onExit } from "./process";

/** One recorded call: its IAM action and resource, and whose credentials signed it. */
export interface AwsCall {
  action: string;
  resource: string;
  ok: boolean;
  status: number;
  /** Whose credentials signed it (the access key id in SigV4's Credential), when it was signed. */
  accessKeyId?: string;
}

export class S3Error extends Error {
  constructor(readonly status: number, readonly type: string, message: string) {
    super(message);
  }
}

/** The access key id of a SigV4-signed request (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`). */
export function signedBy(req: IncomingMessage): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ""))?.[1];
}

/** Decode an `aws-chunked` body: `<hex size>[;chunk-signature=...]\r\n<data>\r\n` ... `0\r\n<trailers>\r\n\r\n`. */
export function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    if (eol < 0) throw new S3Error(400, "IncompleteBody", "aws-chunked body ends inside a chunk header");
    const size = parseInt(body.subarray(at, eol).toString("latin1").split(";")[0], 16);
    if (!Number.isFinite(size)) throw new S3Error(400, "InvalidRequest", "aws-chunked body has a malformed chunk size");
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The buckets and objects, as files under `dir`; what both processes read and write. */
export class ObjectStore {
  readonly callsFile: string;
  private readonly bucketsDir: string;

  constructor(readonly dir: string) {
    this.bucketsDir = join(dir, "buckets");
    this.callsFile = join(dir, "calls.jsonl");
    mkdirSync(this.bucketsDir, { recursive: true });
  }

  createBucket(name: string): void {
    mkdirSync(join(this.bucketsDir, name), { recursive: true });
  }

  hasBucket(name: string): boolean {
    // S3 bucket names hold no "/" and no ".." (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
    return !name.includes("/") && !name.includes("..") && existsSync(join(this.bucketsDir, name));
  }

  bucketNames(): string[] {
    return readdirSync(this.bucketsDir);
  }

  /** Store an object and its user metadata whole: a reader never sees part of them. (An object seeded before the run brings its bucket.) */
  put(bucket: string, key: string, data: Buffer, metadata: Record<string, string> = {}): void {
    this.createBucket(bucket);
    const file = this.file(bucket, key);
    const partial = `${file}.${randomUUID()}.partial`;
    writeFileSync(`${partial}.meta`, JSON.stringify(metadata));
    renameSync(`${partial}.meta`, `${file}.meta`);
    writeFileSync(partial, data);
    renameSync(partial, file);
  }

  /** The x-amz-meta-* headers the object was put with. */
  metadata(bucket: string, key: string): Record<string, string> {
    const file = `${this.file(bucket, key)}.meta`;
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : {};
  }

  get(bucket: string, key: string): Buffer | undefined {
    const file = this.file(bucket, key);
    return existsSync(file) ? readFileSync(file) : undefined;
  }

  keys(bucket: string): string[] {
    if (!this.hasBucket(bucket)) return [];
    // A key's own file name has no "." (encoded): the others are its metadata and partial writes.
    return readdirSync(join(this.bucketsDir, bucket)).filter((f) => !f.includes(".")).map(decodeURIComponent);
  }

  record(call: AwsCall): void {
    appendFileSync(this.callsFile, JSON.stringify(call) + "\n");
  }

  calls(): AwsCall[] {
    if (!existsSync(this.callsFile)) return [];
    return readFileSync(this.callsFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as AwsCall);
  }

  /** A key as one file name: every "/" and "." encoded, so no key reaches outside its bucket. */
  private file(bucket: string, key: string): string {
    return join(this.bucketsDir, bucket, encodeURIComponent(key).replace(/\./g, "%2E"));
  }
}

// ---- the S3 process --------------------------------------------------------------------

/** The x-amz-meta-* headers of a request: an object's user metadata. */
function userMetadata(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).filter(([h]) => h.startsWith("x-amz-meta-")).map(([h, v]) => [h, String(v)]));
}

/** A PUT's payload, decoded when the CLI sent it `aws-chunked`. */
function payload(req: IncomingMessage, body: Buffer): Buffer {
  const chunked = /aws-chunked/.test(String(req.headers["content-encoding"] ?? "")) || String(req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
  const data = chunked ? decodeAwsChunked(body) : body;
  const declared = req.headers["x-amz-decoded-content-length"];
  if (declared !== undefined && Number(declared) !== data.length) throw new S3Error(400, "IncompleteBody", `expected ${declared} bytes, got ${data.length}`);
  return data;
}

const requestId = () => randomUUID();
const etag = () => `"${randomUUID().replace(/-/g, "")}"`;

function xml(res: ServerResponse, inner: string): void {
  res.writeHead(200, { "content-type": "application/xml", "x-amz-request-id": requestId() });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${inner}`);
}

/** Multipart uploads in progress, by upload id: the object, its metadata and its parts by number. */
const uploads = new Map<string, { bucket: string; key: string; metadata: Record<string, string>; parts: Map<number, Buffer> }>();

/** A multipart upload's request, answered; false for any other request. */
function multipart(store: ObjectStore, req: IncomingMessage, res: ServerResponse, url: URL, object: { bucket: string; key: string }, body: Buffer): boolean {
  const { bucket, key } = object;
  if (req.method === "POST" && url.searchParams.has("uploads")) {
    const id = randomUUID().replace(/-/g, "");
    uploads.set(id, { bucket, key, metadata: userMetadata(req), parts: new Map() });
    xml(res, `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
    return true;
  }
  const uploadId = url.searchParams.get("uploadId");
  if (uploadId === null) return false;
  const upload = uploads.get(uploadId);
  if (!upload || upload.bucket !== bucket || upload.key !== key) throw new S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist.");
  if (req.method === "PUT") {
    upload.parts.set(Number(url.searchParams.get("partNumber")), payload(req, body));
    res.writeHead(200, { etag: etag(), "x-amz-request-id": requestId() });
    res.end();
    return true;
  }
  if (req.method === "POST") {
    // The parts the request lists, in its order (PartNumber ascending, as S3 requires).
    const listed = [...body.toString("utf8").matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
    const missing = listed.filter((n) => !upload.parts.has(n));
    if (missing.length) throw new S3Error(400, "InvalidPart", `part(s) ${missing.join(", ")} were not uploaded`);
    store.put(bucket, key, Buffer.concat(listed.map((n) => upload.parts.get(n)!)), upload.metadata);
    uploads.delete(uploadId);
    xml(res, `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"${randomUUID().replace(/-/g, "")}-${listed.length}"</ETag></CompleteMultipartUploadResult>`);
    return true;
  }
  if (req.method === "DELETE") {
    uploads.delete(uploadId);
    res.writeHead(204, { "x-amz-request-id": requestId() });
    res.end();
    return true;
  }
  throw new S3Error(405, "MethodNotAllowed", `${req.method} of a multipart upload is not stood in`);
}

/** GetObject or HeadObject, the whole object or the one range asked for. */
function getObject(store: ObjectStore, req: IncomingMessage, res: ServerResponse, bucket: string, key: string): void {
  const data = store.get(bucket, key);
  if (!data) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.");
  const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ""));
  const [from, to] = range ? [Number(range[1]), Math.min(range[2] ? Number(range[2]) : data.length - 1, data.length - 1)] : [0, data.length - 1];
  const slice = data.subarray(from, to + 1);
  res.writeHead(range ? 206 : 200, {
    "content-length": slice.length, "content-type": "application/octet-stream", "last-modified": new Date().toUTCString(), etag: '"rehearsal"',
    ...(range ? { "content-range": `bytes ${from}-${to}/${data.length}` } : {}),
    ...store.metadata(bucket, key),
  });
  res.end(req.method === "HEAD" ? undefined : slice);
}

function s3(store: ObjectStore, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const caller = signedBy(req);
  const url = new URL(req.url ?? "/", "http://s3");
  const [bucket, ...rest] = url.pathname.slice(1).split("/");
  const key = rest.map(decodeURIComponent).join("/");
  if (!bucket || !key) throw new S3Error(400, "InvalidRequest", "only object operations (/bucket/key) are stood in");
  const action = req.method === "GET" || req.method === "HEAD" ? "s3:GetObject" : req.method === "DELETE" ? "s3:AbortMultipartUpload" : "s3:PutObject";
  const resource = `arn:aws:s3:::${bucket}/${key}`;
  const record = (status: number) => store.record({ action, resource, ok: status < 300, status, ...(caller ? { accessKeyId: caller } : {}) });
  try {
    if (!store.hasBucket(bucket)) throw new S3Error(404, "NoSuchBucket", "The specified bucket does not exist");
    if (multipart(store, req, res, url, { bucket, key }, body)) {
      record(200);
      return;
    }
    if (req.method === "PUT") {
      store.put(bucket, key, payload(req, body), userMetadata(req));
      record(200);
      res.writeHead(200, { etag: etag(), "x-amz-request-id": requestId() });
      res.end();
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      getObject(store, req, res, bucket, key);
      record(200);
      return;
    }
    throw new S3Error(405, "MethodNotAllowed", `${req.method} is not stood in`);
  } catch (e) {
    record(e instanceof S3Error ? e.status : 500);
    throw e;
  }
}

function s3Error(req: IncomingMessage, res: ServerResponse, e: S3Error): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(e.status, { "content-type": "application/xml", "x-amz-request-id": randomUUID() });
  res.end(req.method === "HEAD" ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.type}</Code><Message>${e.message}</Message></Error>`);
}

/** A JSON API call: to the AWS stand-in in the rehearsal's process, as it came. */
function passThrough(req: IncomingMessage, res: ServerResponse, body: Buffer, apiPort: number): void {
  const upstream = request({ host: "127.0.0.1", port: apiPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on("error", (e) => s3Error(req, res, new S3Error(502, "InternalFailure", e.message)));
  upstream.end(body);
}

function serve(store: ObjectStore, apiPort: number): void {
  const server = createServer((req, res) => {
    void buffer(req).then((body) => {
      if (req.headers["x-amz-target"]) return passThrough(req, res, body, apiPort);
      try {
        s3(store, req, res, body);
      } catch (e) {
        s3Error(req, res, e instanceof S3Error ? e : new S3Error(500, "InternalFailure", (e as Error).message));
      }
    });
  });
  server.listen(0, "127.0.0.1", () => process.send!({ port: (server.address() as { port: number }).port }));
  // The rehearsal is gone: so is its S3.
  process.on("disconnect", () => process.exit(0));
}

// ---- the rehearsal's handle on it --------------------------------------------------------

export interface S3Process {
  url: string;
  stop(): Promise<void>;
}

/** Start S3 in its own process over `store`, passing the JSON APIs through to `apiPort`. */
export async function startS3Process(store: ObjectStore, apiPort: number): Promise<S3Process> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", __filename], {
    cwd: join(__dirname, "..", ".."),
    env: { ...process.env, FERRY_S3_DIR: store.dir, FERRY_S3_API_PORT: String(apiPort) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  // AWS's machines in production: what it does for the runner (a final backup's upload and
  // read-back, 382 MB at 2gb) takes only the CPU the app leaves idle (servers/process.ts).
  if (child.pid !== undefined) moveOffServingPath(child.pid);
  const removeHook = onExit(() => child.kill("SIGKILL"));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m: { port: number }) => resolve(m.port));
    child.once("exit", (code, signal) => reject(new Error(`the S3 stand-in exited before listening (${code ?? signal})`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      removeHook();
    },
  };
}

if (require.main === module) serve(new ObjectStore(process.env.FERRY_S3_DIR!), Number(process.env.FERRY_S3_API_PORT));
