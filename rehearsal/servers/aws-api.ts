// A local stand-in for the few AWS APIs the app plane's steps call through the real AWS
// CLI (pointed here with --endpoint-url by a wrapper on the runner's PATH), following the
// documented wire protocols for just those operations:
//   - S3 REST, path-style (https://docs.aws.amazon.com/AmazonS3/latest/API/): PutObject
//     (`aws s3 cp FILE s3://b/k`, the app's media uploads; the body may be `aws-chunked`, as
//     botocore 1.36+ sends it with a trailing checksum: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html),
//     GetObject (a `Range: bytes=a-b` answered 206, as the CLI downloads a large object in
//     ranges), HeadObject, with the object's user metadata (x-amz-meta-*) kept and given back
//     (the final backups carry their checksum there), and the multipart upload the CLI uses
//     above 8 MB (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//     AbortMultipartUpload: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html);
//     into a bucket that exists only (the program's bucket once
//     created, the app's own bucket from before the migration), else NoSuchBucket, 404
//     (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList).
//   - Secrets Manager, JSON 1.1 with X-Amz-Target `secretsmanager.<Op>`
//     (https://docs.aws.amazon.com/secretsmanager/latest/apireference/): PutSecretValue,
//     GetSecretValue.
//   - ECS, JSON 1.1 with X-Amz-Target `AmazonEC2ContainerServiceV20141113.<Op>`
//     (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/): RunTask, DescribeTasks,
//     StopTask; the CLI's `aws ecs wait tasks-stopped` polls DescribeTasks.
//   - ECR, JSON 1.1 with X-Amz-Target `AmazonEC2ContainerRegistry_V20150921.<Op>`
//     (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html):
//     GetAuthorizationToken, as `aws ecr get-login-password` calls it (the password is the
//     token's part after "AWS:"); the registry stand-in accepts exactly the tokens handed out.
// Signatures are not checked (the credentials are dummies in the rehearsal's runner
// environment only). Every call is recorded with its IAM action and resource ARN, so the
// rehearsal can check it against the policy the program gave the runner.
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { buffer } from "node:stream/consumers";
import { randomUUID } from "node:crypto";

export interface AwsCall {
  action: string;
  resource: string;
  ok: boolean;
  status: number;
  /** Whose credentials signed it (the access key id in SigV4's Credential), when it was signed. */
  accessKeyId?: string;
}

/** The access key id of a SigV4-signed request (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`). */
export function signedBy(req: IncomingMessage): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ""))?.[1];
}

export interface StoredSecret {
  arn: string;
  name: string;
  /** Version id -> value; the last put is AWSCURRENT. */
  versions: Map<string, string>;
  current?: string;
}

export interface EcsTask {
  taskArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  startedBy?: string;
  lastStatus: "PROVISIONING" | "RUNNING" | "STOPPED";
  stopCode?: string;
  stoppedReason?: string;
  containers: Array<{ name: string; lastStatus: string; exitCode?: number; reason?: string }>;
  stop?: () => void;
}

/** What runs a task: the ECS stand-in (rehearsal/stack/standins/ecs.ts). */
export interface TaskRunner {
  /** Start the task; update it (status, exit codes) as it runs. Throws a client error for a bad request. */
  runTask(task: EcsTask): Promise<void>;
}

export class AwsApiError extends Error {
  constructor(readonly status: number, readonly type: string, message: string) {
    super(message);
  }
}

const ECS_TARGET = "AmazonEC2ContainerServiceV20141113.";
const SM_TARGET = "secretsmanager.";
const ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921.";

/** Decode an `aws-chunked` body: `<hex size>[;chunk-signature=...]\r\n<data>\r\n` ... `0\r\n<trailers>\r\n\r\n`. */
export function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    if (eol < 0) throw new AwsApiError(400, "IncompleteBody", "aws-chunked body ends inside a chunk header");
    const size = parseInt(body.subarray(at, eol).toString("latin1").split(";")[0], 16);
    if (!Number.isFinite(size)) throw new AwsApiError(400, "InvalidRequest", "aws-chunked body has a malformed chunk size");
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

export class AwsApi {
  readonly calls: AwsCall[] = [];
  private readonly objects = new Map<string, Buffer>();
  /** Each object's user metadata: the x-amz-meta-* headers it was put with. */
  private readonly metadata = new Map<string, Record<string, string>>();
  /** Multipart uploads in progress, by upload id: the object's path, its metadata and its parts by number. */
  private readonly uploads = new Map<string, { path: string; metadata: Record<string, string>; parts: Map<number, Buffer> }>();
  private readonly buckets = new Set<string>();
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly tasks = new Map<string, EcsTask>();
  /** ECR login passwords handed out by GetAuthorizationToken (valid 12 hours on AWS). */
  private readonly ecrTokens = new Set<string>();
  private server?: Server;
  url = "";

  constructor(private readonly opts: { region: string; account: string; tasks: TaskRunner }) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => this.fail(res, e instanceof AwsApiError ? e : new AwsApiError(500, "InternalFailure", (e as Error).message), req));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    for (const t of this.tasks.values()) t.stop?.();
    // The CLI keeps its connections alive: close them, or close() waits for their timeout.
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // ---- state the cloud stand-in shares ---------------------------------------------

  /** A secret the program created (aws:secretsmanager/secret): PutSecretValue may now write it. */
  createSecret(arn: string, name: string): void {
    if (!this.secrets.has(arn)) this.secrets.set(arn, { arn, name, versions: new Map() });
  }

  /** A value the program wrote (aws:secretsmanager/secretVersion); returns the version id. */
  putSecret(secretId: string, value: string): string {
    const secret = this.secret(secretId);
    const version = randomUUID();
    secret.versions.set(version, value);
    secret.current = version;
    return version;
  }

  /** A secret's value at a version (AWSCURRENT when none is named). */
  secretValue(secretId: string, version?: string): string {
    const secret = this.secret(secretId);
    const id = version || secret.current;
    const value = id ? secret.versions.get(id) : undefined;
    if (value === undefined) throw new AwsApiError(400, "ResourceNotFoundException", `Secrets Manager can't find the specified secret value for VersionId: ${id ?? "AWSCURRENT"}`);
    return value;
  }

  /** An object put in place as if by PutObject (a bucket's content before the run). */
  putObject(bucket: string, key: string, data: Buffer): void {
    this.objects.set(`${bucket}/${key}`, data);
  }

  /** Whether an ECR login password is one GetAuthorizationToken handed out. */
  validEcrToken(password: string): boolean {
    return this.ecrTokens.has(password);
  }

  /** An API call made elsewhere (the registry stand-in's pushes), for the IAM check. */
  recordCall(action: string, resource: string): void {
    this.record(action, resource, undefined);
  }

  /** A bucket exists from now on (CreateBucket: the program's bucket, or the app's own, made before the migration). */
  createBucket(name: string): void {
    this.buckets.add(name);
  }

  /** Every bucket that exists. */
  bucketNames(): string[] {
    return [...this.buckets];
  }

  /** Every key stored in `bucket`. */
  keys(bucket: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(`${bucket}/`)).map((k) => k.slice(bucket.length + 1));
  }

  object(bucket: string, key: string): Buffer | undefined {
    return this.objects.get(`${bucket}/${key}`);
  }

  private secret(secretId: string): StoredSecret {
    const found = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.name === secretId);
    if (!found) throw new AwsApiError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    return found;
  }

  // ---- the wire ----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await buffer(req);
    const target = String(req.headers["x-amz-target"] ?? "");
    const caller = signedBy(req);
    if (req.method === "POST" && target.startsWith(ECS_TARGET)) return this.json(res, await this.ecs(target.slice(ECS_TARGET.length), parseJson(body), caller));
    if (req.method === "POST" && target.startsWith(SM_TARGET)) return this.json(res, this.secretsManager(target.slice(SM_TARGET.length), parseJson(body), caller));
    if (req.method === "POST" && target.startsWith(ECR_TARGET)) return this.json(res, this.ecr(target.slice(ECR_TARGET.length), caller));
    return this.s3(req, res, body, caller);
  }

  private record(action: string, resource: string, caller: string | undefined, status = 200): void {
    this.calls.push({ action, resource, ok: status < 300, status, ...(caller ? { accessKeyId: caller } : {}) });
  }

  private fail(res: ServerResponse, e: AwsApiError, req: IncomingMessage): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const last = this.calls[this.calls.length - 1];
    if (last && last.ok && last.status === 200 && !res.writableEnded) {
      // The call was recorded before it failed: mark it.
      last.ok = false;
      last.status = e.status;
    }
    if (req.headers["x-amz-target"]) {
      res.writeHead(e.status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
      res.end(JSON.stringify({ __type: e.type, message: e.message, Message: e.message }));
      return;
    }
    res.writeHead(e.status, { "content-type": "application/xml", "x-amz-request-id": randomUUID() });
    res.end(req.method === "HEAD" ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.type}</Code><Message>${e.message}</Message></Error>`);
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
    res.end(JSON.stringify(body));
  }

  // S3: path-style /bucket/key (a custom endpoint with an IP address is addressed path-style).
  private s3(req: IncomingMessage, res: ServerResponse, body: Buffer, caller: string | undefined): void {
    const url = new URL(req.url ?? "/", "http://s3");
    const [bucket, ...rest] = url.pathname.slice(1).split("/");
    const key = rest.map(decodeURIComponent).join("/");
    if (!bucket || !key) throw new AwsApiError(400, "InvalidRequest", "only object operations (/bucket/key) are stood in");
    const arn = `arn:aws:s3:::${bucket}/${key}`;
    if (!this.buckets.has(bucket)) {
      this.record(req.method === "PUT" ? "s3:PutObject" : "s3:GetObject", arn, caller, 404);
      throw new AwsApiError(404, "NoSuchBucket", "The specified bucket does not exist");
    }
    const path = `${bucket}/${key}`;
    if (this.multipart(req, res, url, body, path, arn, caller)) return;
    if (req.method === "PUT") {
      this.record("s3:PutObject", arn, caller);
      const chunked = /aws-chunked/.test(String(req.headers["content-encoding"] ?? "")) || String(req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
      const data = chunked ? decodeAwsChunked(body) : body;
      const declared = req.headers["x-amz-decoded-content-length"];
      if (declared !== undefined && Number(declared) !== data.length) throw new AwsApiError(400, "IncompleteBody", `expected ${declared} bytes, got ${data.length}`);
      this.objects.set(path, data);
      this.metadata.set(path, userMetadata(req));
      res.writeHead(200, { etag: `"${randomUUID().replace(/-/g, "")}"`, "x-amz-request-id": randomUUID() });
      res.end();
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      this.record("s3:GetObject", arn, caller);
      const data = this.objects.get(path);
      if (!data) throw new AwsApiError(404, "NoSuchKey", "The specified key does not exist.");
      const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ""));
      const [from, to] = range ? [Number(range[1]), Math.min(range[2] ? Number(range[2]) : data.length - 1, data.length - 1)] : [0, data.length - 1];
      const slice = data.subarray(from, to + 1);
      res.writeHead(range ? 206 : 200, {
        "content-length": slice.length, "content-type": "application/octet-stream", "last-modified": new Date().toUTCString(), etag: '"rehearsal"',
        ...(range ? { "content-range": `bytes ${from}-${to}/${data.length}` } : {}),
        ...this.metadata.get(path),
      });
      res.end(req.method === "HEAD" ? undefined : slice);
      return;
    }
    throw new AwsApiError(405, "MethodNotAllowed", `${req.method} is not stood in`);
  }

  /** A multipart upload's request, answered; false for any other request. IAM authorizes its steps as s3:PutObject. */
  private multipart(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, path: string, arn: string, caller: string | undefined): boolean {
    const uploadId = url.searchParams.get("uploadId");
    const [bucket, ...rest] = path.split("/");
    const key = rest.join("/");
    const xml = (inner: string) => {
      res.writeHead(200, { "content-type": "application/xml", "x-amz-request-id": randomUUID() });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${inner}`);
    };
    if (req.method === "POST" && url.searchParams.has("uploads")) {
      this.record("s3:PutObject", arn, caller);
      const id = randomUUID().replace(/-/g, "");
      this.uploads.set(id, { path, metadata: userMetadata(req), parts: new Map() });
      xml(`<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
      return true;
    }
    if (uploadId === null) return false;
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.path !== path) throw new AwsApiError(404, "NoSuchUpload", "The specified multipart upload does not exist.");
    if (req.method === "PUT") {
      this.record("s3:PutObject", arn, caller);
      const chunked = /aws-chunked/.test(String(req.headers["content-encoding"] ?? "")) || String(req.headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-");
      upload.parts.set(Number(url.searchParams.get("partNumber")), chunked ? decodeAwsChunked(body) : body);
      res.writeHead(200, { etag: `"${randomUUID().replace(/-/g, "")}"`, "x-amz-request-id": randomUUID() });
      res.end();
      return true;
    }
    if (req.method === "POST") {
      this.record("s3:PutObject", arn, caller);
      // The parts the request lists, in its order (PartNumber ascending, as S3 requires).
      const listed = [...body.toString("utf8").matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
      const missing = listed.filter((n) => !upload.parts.has(n));
      if (missing.length) throw new AwsApiError(400, "InvalidPart", `part(s) ${missing.join(", ")} were not uploaded`);
      this.objects.set(path, Buffer.concat(listed.map((n) => upload.parts.get(n)!)));
      this.metadata.set(path, upload.metadata);
      this.uploads.delete(uploadId);
      xml(`<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"${randomUUID().replace(/-/g, "")}-${listed.length}"</ETag></CompleteMultipartUploadResult>`);
      return true;
    }
    if (req.method === "DELETE") {
      this.record("s3:AbortMultipartUpload", arn, caller);
      this.uploads.delete(uploadId);
      res.writeHead(204, { "x-amz-request-id": randomUUID() });
      res.end();
      return true;
    }
    throw new AwsApiError(405, "MethodNotAllowed", `${req.method} of a multipart upload is not stood in`);
  }

  private secretsManager(op: string, body: Record<string, unknown>, caller: string | undefined): unknown {
    const secretId = String(body.SecretId ?? "");
    const secret = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.name === secretId);
    this.record(`secretsmanager:${op}`, secret?.arn ?? secretId, caller);
    switch (op) {
      case "PutSecretValue": {
        if (typeof body.SecretString !== "string") throw new AwsApiError(400, "InvalidParameterException", "You must provide either SecretString or SecretBinary.");
        // PutSecretValue: SecretString is at most 65,536 bytes.
        if (Buffer.byteLength(body.SecretString) > 65536) throw new AwsApiError(400, "ValidationException", "1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536");
        const version = this.putSecret(secretId, body.SecretString);
        const s = this.secret(secretId);
        return { ARN: s.arn, Name: s.name, VersionId: version, VersionStages: ["AWSCURRENT"] };
      }
      case "GetSecretValue": {
        const s = this.secret(secretId);
        const version = typeof body.VersionId === "string" ? body.VersionId : s.current;
        return { ARN: s.arn, Name: s.name, VersionId: version, SecretString: this.secretValue(secretId, version), VersionStages: version === s.current ? ["AWSCURRENT"] : [] };
      }
      default:
        throw new AwsApiError(400, "UnknownOperationException", `secretsmanager ${op} is not stood in`);
    }
  }

  private ecr(op: string, caller: string | undefined): unknown {
    if (op !== "GetAuthorizationToken") throw new AwsApiError(400, "UnknownOperationException", `ecr ${op} is not stood in`);
    // No resource-level permission: IAM evaluates it against "*".
    this.record("ecr:GetAuthorizationToken", "*", caller);
    const password = randomUUID().replace(/-/g, "");
    this.ecrTokens.add(password);
    return {
      authorizationData: [{
        authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"),
        expiresAt: Math.floor(Date.now() / 1000) + 12 * 3600,
        proxyEndpoint: `https://${this.opts.account}.dkr.ecr.${this.opts.region}.amazonaws.com`,
      }],
    };
  }

  private async ecs(op: string, body: Record<string, unknown>, caller: string | undefined): Promise<unknown> {
    const cluster = String(body.cluster ?? "default");
    switch (op) {
      case "RunTask": {
        const taskDefinitionArn = String(body.taskDefinition ?? "");
        this.record("ecs:RunTask", taskDefinitionArn, caller);
        const task: EcsTask = {
          taskArn: `arn:aws:ecs:${this.opts.region}:${this.opts.account}:task/${cluster.split("/").pop()}/${randomUUID().replace(/-/g, "")}`,
          clusterArn: cluster,
          taskDefinitionArn,
          startedBy: typeof body.startedBy === "string" ? body.startedBy : undefined,
          lastStatus: "PROVISIONING",
          containers: [],
        };
        await this.opts.tasks.runTask(task);
        this.tasks.set(task.taskArn, task);
        return { tasks: [taskJson(task)], failures: [] };
      }
      case "DescribeTasks": {
        const arns = (body.tasks as string[] | undefined) ?? [];
        for (const a of arns) this.record("ecs:DescribeTasks", a, caller);
        const found = arns.map((a) => this.tasks.get(a)).filter((t): t is EcsTask => !!t);
        return { tasks: found.map(taskJson), failures: arns.filter((a) => !this.tasks.has(a)).map((arn) => ({ arn, reason: "MISSING" })) };
      }
      case "StopTask": {
        const arn = String(body.task ?? "");
        this.record("ecs:StopTask", arn, caller);
        const task = this.tasks.get(arn);
        if (!task) throw new AwsApiError(400, "InvalidParameterException", "The referenced task was not found.");
        task.stoppedReason = typeof body.reason === "string" ? body.reason : "Task stopped by user";
        task.stop?.();
        return { task: taskJson(task) };
      }
      default:
        throw new AwsApiError(400, "UnknownOperationException", `ecs ${op} is not stood in`);
    }
  }
}

/** The x-amz-meta-* headers of a request: an object's user metadata. */
function userMetadata(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).filter(([h]) => h.startsWith("x-amz-meta-")).map(([h, v]) => [h, String(v)]));
}

function taskJson(t: EcsTask): Record<string, unknown> {
  return {
    taskArn: t.taskArn, clusterArn: t.clusterArn, taskDefinitionArn: t.taskDefinitionArn, startedBy: t.startedBy, lastStatus: t.lastStatus,
    desiredStatus: t.lastStatus === "STOPPED" ? "STOPPED" : "RUNNING", launchType: "FARGATE", stopCode: t.stopCode, stoppedReason: t.stoppedReason,
    containers: t.containers.map((c) => ({ name: c.name, lastStatus: c.lastStatus, exitCode: c.exitCode, reason: c.reason })),
  };
}

function parseJson(body: Buffer): Record<string, unknown> {
  try {
    return body.length ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {};
  } catch {
    throw new AwsApiError(400, "SerializationException", "the request body is not JSON");
  }
}

/**
 * The runner's `aws`: the real AWS CLI pointed at the stand-in (`--endpoint-url` works in
 * CLI v1 and v2; AWS_ENDPOINT_URL only from v2.13), with the rehearsal's dummy credentials
 * in its environment only.
 */
export function awsWrapper(realAws: string, endpoint: string, path?: string): string {
  // The CLI's own interpreter may live outside a runner's PATH (a pip install): give it this machine's.
  const env = path ? `PATH=${JSON.stringify(path)} ` : "";
  return `#!/bin/sh\n# The rehearsal's AWS: the real CLI, talking to the local stand-in (rehearsal/servers/aws-api.ts).\n${env}exec ${JSON.stringify(realAws)} --endpoint-url ${JSON.stringify(endpoint)} "$@"\n`;
}
