// A local stand-in for the few AWS APIs the app plane's steps call through the real AWS
// CLI (pointed here with --endpoint-url by a wrapper on the runner's PATH), following the
// documented wire protocols for just those operations:
//   - S3 (`aws s3 cp FILE s3://b/k`, the app's media uploads): answered by a process of its
//     own in front of this one (servers/s3.ts), never by the rehearsal's busy main thread;
//     its buckets are the program's once created and the app's own from before the migration.
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
import { AwsCall, ObjectStore, S3Process, signedBy, startS3Process } from "./s3";
import { tempDir } from "./process";

export type { AwsCall } from "./s3";

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

export class AwsApi {
  /** Calls answered here; S3's are in the object store's file (`calls` has both). */
  private readonly ownCalls: AwsCall[] = [];
  private readonly store = new ObjectStore(tempDir("aws-s3"));
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly tasks = new Map<string, EcsTask>();
  /** ECR login passwords handed out by GetAuthorizationToken (valid 12 hours on AWS). */
  private readonly ecrTokens = new Set<string>();
  private server?: Server;
  private s3?: S3Process;
  /** The endpoint clients use: the S3 process, which passes the JSON APIs through to this one. */
  url = "";

  constructor(private readonly opts: { region: string; account: string; tasks: TaskRunner }) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => this.fail(res, e instanceof AwsApiError ? e : new AwsApiError(500, "InternalFailure", (e as Error).message)));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address() as { port: number };
    this.s3 = await startS3Process(this.store, address.port);
    this.url = this.s3.url;
  }

  async stop(): Promise<void> {
    for (const t of this.tasks.values()) t.stop?.();
    await this.s3?.stop();
    // The CLI keeps its connections alive: close them, or close() waits for their timeout.
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Every call made so far, with the IAM action and resource each needed. */
  get calls(): AwsCall[] {
    return [...this.ownCalls, ...this.store.calls()];
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
    this.store.put(bucket, key, data);
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
    this.store.createBucket(name);
  }

  /** Every bucket that exists. */
  bucketNames(): string[] {
    return this.store.bucketNames();
  }

  /** Every key stored in `bucket`. */
  keys(bucket: string): string[] {
    return this.store.keys(bucket);
  }

  object(bucket: string, key: string): Buffer | undefined {
    return this.store.get(bucket, key);
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
    throw new AwsApiError(400, "UnknownOperationException", `${target || `${req.method} ${req.url}`} is not stood in`);
  }

  private record(action: string, resource: string, caller: string | undefined, status = 200): void {
    this.ownCalls.push({ action, resource, ok: status < 300, status, ...(caller ? { accessKeyId: caller } : {}) });
  }

  private fail(res: ServerResponse, e: AwsApiError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const last = this.ownCalls[this.ownCalls.length - 1];
    if (last && last.ok && last.status === 200 && !res.writableEnded) {
      // The call was recorded before it failed: mark it.
      last.ok = false;
      last.status = e.status;
    }
    res.writeHead(e.status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
    res.end(JSON.stringify({ __type: e.type, message: e.message, Message: e.message }));
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
    res.end(JSON.stringify(body));
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
