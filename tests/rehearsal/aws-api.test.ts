// The rehearsal's AWS stand-in, driven by the real AWS CLI through the same wrapper the
// rehearsal puts on the runner's PATH: the slug copy's `aws s3 cp`, the config copy's
// `put-secret-value` (value on stdin), and the release phase's run-task / wait /
// describe-tasks; every call recorded with its IAM action and resource, and checked
// against a policy as the rehearsal checks the runner's role.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AwsApi, awsWrapper, EcsTask } from "../../rehearsal/servers/aws-api";
import { decodeAwsChunked } from "../../rehearsal/servers/s3";
import { tempDir } from "../../rehearsal/servers";
import { allowedBy, iamMatch } from "../../rehearsal/stack/standins/iam";
import { putSecretValue } from "../../dataplane/heroku/copy-config";
import { precondition } from "../support/precondition";

const REAL_AWS = spawnSync("sh", ["-c", "command -v aws"], { encoding: "utf8" }).stdout.trim();
const HAVE_AWS = precondition(REAL_AWS !== "", "AWS CLI (aws on PATH)");
const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:ferry/ferry/heroku-masto-web-0001-a1b2c3";
const CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/ferry-app-cluster";

let api: AwsApi;
let bin: string;
let env: Record<string, string>;
/** How each started task ends: the exit code its app container reports. */
const exitCodes = new Map<string, number>();

/** The CLI, asynchronously: the stand-in answers from this process, whose event loop must keep running. */
function aws(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(bin, "aws"), args, { env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(async () => {
  api = new AwsApi({
    region: "us-east-1",
    account: "000000000000",
    tasks: {
      async runTask(task: EcsTask) {
        task.lastStatus = "RUNNING";
        task.containers = [{ name: "app", lastStatus: "RUNNING" }];
        // The task stops shortly after, as a release phase does.
        setTimeout(() => {
          task.lastStatus = "STOPPED";
          task.containers = [{ name: "app", lastStatus: "STOPPED", exitCode: exitCodes.get(task.taskDefinitionArn) ?? 0 }];
        }, 100);
      },
    },
  });
  await api.start();
  bin = tempDir("aws-bin");
  writeFileSync(join(bin, "aws"), awsWrapper(REAL_AWS, api.url), { mode: 0o755 });
  env = {
    PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME ?? "/root", AWS_ACCESS_KEY_ID: "AKIAREHEARSAL0000000", AWS_SECRET_ACCESS_KEY: "x".repeat(40),
    AWS_DEFAULT_REGION: "us-east-1", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true",
  };
  api.createSecret(SECRET_ARN, "ferry/ferry/heroku-masto-web-0001");
  api.createBucket("ferry-bucket");
});

afterAll(async () => {
  await api?.stop();
});

describe.skipIf(!HAVE_AWS)("the AWS API stand-in under the real AWS CLI", () => {
  it("aws s3 cp: PutObject stores exactly the file's bytes (aws-chunked or not); the call is recorded", async () => {
    const file = join(tempDir("slug"), "slug.tgz");
    const bytes = randomBytes(300_000);
    writeFileSync(file, bytes);
    const r = await aws(["s3", "cp", "--only-show-errors", file, "s3://ferry-bucket/slugs/masto-web/abc.tgz"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(api.object("ferry-bucket", "slugs/masto-web/abc.tgz")?.equals(bytes)).toBe(true);
    expect(api.calls).toContainEqual({ action: "s3:PutObject", resource: "arn:aws:s3:::ferry-bucket/slugs/masto-web/abc.tgz", ok: true, status: 200, accessKeyId: "AKIAREHEARSAL0000000" });
  });

  it("aws s3 cp --metadata: the object's user metadata is kept and head-object gives it back, as S3 does", async () => {
    const file = join(tempDir("backup"), "dump");
    writeFileSync(file, "dump bytes");
    const put = await aws(["s3", "cp", "--only-show-errors", "--metadata", "sha256=abc123", file, "s3://ferry-bucket/backups/final.dump"]);
    expect(put.stderr).toBe("");
    const head = await aws(["s3api", "head-object", "--bucket", "ferry-bucket", "--key", "backups/final.dump"]);
    expect(head.status, head.stderr).toBe(0);
    expect((JSON.parse(head.stdout) as { Metadata: Record<string, string> }).Metadata).toEqual({ sha256: "abc123" });
    expect(api.keys("ferry-bucket")).toContain("backups/final.dump");
    expect(api.keys("ferry-bucket").every((k) => !k.endsWith(".meta"))).toBe(true);
  });

  it("aws s3 cp of a file above the CLI's 8 MB threshold: a multipart upload with its metadata, read back in ranges byte for byte", async () => {
    const dir = tempDir("big");
    const bytes = randomBytes(20 * 1024 * 1024);
    writeFileSync(join(dir, "up"), bytes);
    const up = await aws(["s3", "cp", "--only-show-errors", "--metadata", "ferry-sha256=abc", join(dir, "up"), "s3://ferry-bucket/final-backup/postgres.pgdump"]);
    expect(up.stderr).toBe("");
    expect(api.object("ferry-bucket", "final-backup/postgres.pgdump")?.equals(bytes)).toBe(true);
    // Create, at least two parts, complete: each authorized as s3:PutObject.
    expect(api.calls.filter((c) => c.action === "s3:PutObject" && c.resource.endsWith("/final-backup/postgres.pgdump")).length).toBeGreaterThanOrEqual(4);
    const head = await aws(["s3api", "head-object", "--bucket", "ferry-bucket", "--key", "final-backup/postgres.pgdump", "--output", "json"]);
    expect(JSON.parse(head.stdout)).toMatchObject({ ContentLength: bytes.length, Metadata: { "ferry-sha256": "abc" } });
    const down = await aws(["s3", "cp", "--only-show-errors", "s3://ferry-bucket/final-backup/postgres.pgdump", join(dir, "down")]);
    expect(down.stderr).toBe("");
    expect(readFileSync(join(dir, "down")).equals(bytes)).toBe(true);
  });

  it("aws s3 cp into a bucket that does not exist: NoSuchBucket, as S3 answers, and nothing stored", async () => {
    const file = join(tempDir("slug"), "slug.tgz");
    writeFileSync(file, randomBytes(1000));
    const r = await aws(["s3", "cp", "--only-show-errors", file, "s3://no-such-bucket/slugs/x.tgz"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/NoSuchBucket/);
    expect(api.object("no-such-bucket", "slugs/x.tgz")).toBeUndefined();
    expect(api.calls).toContainEqual({ action: "s3:PutObject", resource: "arn:aws:s3:::no-such-bucket/slugs/x.tgz", ok: false, status: 404, accessKeyId: "AKIAREHEARSAL0000000" });
  });

  it("put-secret-value through ferry's putSecretValue: the value from stdin, never argv, is the new AWSCURRENT", async () => {
    const value = JSON.stringify({ SECRET_KEY_BASE: "skb-123", OTP_SECRET: "otp-456" });
    const previousPath = process.env.PATH;
    process.env.PATH = env.PATH;
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY, AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true" });
    try {
      const version = await putSecretValue(SECRET_ARN, value, "us-east-1");
      expect(api.secretValue(SECRET_ARN, version)).toBe(value);
      expect(api.secretValue(SECRET_ARN)).toBe(value);
    } finally {
      process.env.PATH = previousPath;
    }
  });

  it("an unknown secret is ResourceNotFoundException, as Secrets Manager answers", async () => {
    const r = await aws(["secretsmanager", "put-secret-value", "--secret-id", "arn:aws:secretsmanager:us-east-1:000000000000:secret:nope-abcdef", "--secret-string", "x"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ResourceNotFoundException/);
  });

  it("run-task, wait tasks-stopped and describe-tasks report the app container's exit code", async () => {
    const definition = "arn:aws:ecs:us-east-1:000000000000:task-definition/ferry-app-masto-web-release:3";
    exitCodes.set(definition, 3);
    const run = await aws(["ecs", "run-task", "--cluster", CLUSTER, "--task-definition", definition, "--launch-type", "FARGATE", "--query", "tasks[0].taskArn", "--output", "text"]);
    expect(run.stderr).toBe("");
    const task = run.stdout.trim();
    expect(task).toMatch(/^arn:aws:ecs:us-east-1:000000000000:task\/ferry-app-cluster\/[0-9a-f]{32}$/);
    expect((await aws(["ecs", "wait", "tasks-stopped", "--cluster", CLUSTER, "--tasks", task])).status).toBe(0);
    const code = await aws(["ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", task, "--query", "tasks[0].containers[?name=='app'].exitCode | [0]", "--output", "text"]);
    expect(code.stdout.trim()).toBe("3");
    expect(api.calls.filter((c) => c.action.startsWith("ecs:")).map((c) => c.action)).toEqual(expect.arrayContaining(["ecs:RunTask", "ecs:DescribeTasks"]));
  }, 60_000);
});

describe("S3 beside the rehearsal's busy main thread", () => {
  it("answers an upload while the rehearsal's main thread is blocked, as S3 on its own machines does", async () => {
    // The app's upload, made by a process of its own that times its own request, while this
    // thread is blocked for 3 s, as evaluating the program at a `pulumi up` blocks it.
    const uploader = spawn(process.execPath, ["-e", `
      const started = Date.now();
      fetch(process.argv[1] + "/ferry-bucket/media/during-a-stall.png", { method: "PUT", body: "png bytes" })
        .then((r) => console.log(JSON.stringify({ status: r.status, ms: Date.now() - started })));
    `, api.url]);
    let out = "";
    uploader.stdout.on("data", (d) => (out += d));
    const exited = new Promise((resolve) => uploader.on("close", resolve));
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    await exited;
    const answer = JSON.parse(out) as { status: number; ms: number };
    expect(answer.status).toBe(200);
    // Well under the block: the upload did not wait for this thread.
    expect(answer.ms).toBeLessThan(1500);
    expect(api.object("ferry-bucket", "media/during-a-stall.png")?.toString()).toBe("png bytes");
  });
});

describe("the runner role check", () => {
  it("matches IAM wildcards: * a run, ? one character; actions case-insensitively", () => {
    expect(iamMatch("arn:aws:s3:::b/slugs/*", "arn:aws:s3:::b/slugs/app/1.tgz")).toBe(true);
    expect(iamMatch("arn:aws:s3:::b/slugs/*", "arn:aws:s3:::b/assets/x")).toBe(false);
    expect(iamMatch("arn:aws:ecs:us-east-1:*:task-definition/ferry-app-*:*", "arn:aws:ecs:us-east-1:000000000000:task-definition/ferry-app-masto-web-release:2")).toBe(true);
    expect(iamMatch("s3:putobject", "s3:PutObject", true)).toBe(true);
    expect(iamMatch("a?c", "abc")).toBe(true);
  });

  it("allows a call only when one Allow statement has both its action and its resource", () => {
    const statements = [
      { Effect: "Allow", Action: ["s3:PutObject"], Resource: "arn:aws:s3:::b/slugs/*" },
      { Effect: "Allow", Action: ["ecs:DescribeTasks"], Resource: "arn:aws:ecs:us-east-1:*:task/c/*" },
    ];
    expect(allowedBy(statements, { action: "s3:PutObject", resource: "arn:aws:s3:::b/slugs/x.tgz", ok: true, status: 200 })).toBe(true);
    expect(allowedBy(statements, { action: "s3:PutObject", resource: "arn:aws:s3:::b/other", ok: true, status: 200 })).toBe(false);
    expect(allowedBy(statements, { action: "ecs:StopTask", resource: "arn:aws:ecs:us-east-1:1:task/c/t", ok: true, status: 200 })).toBe(false);
  });

  it("decodes aws-chunked bodies (chunk sizes in hex, signatures and trailers ignored)", () => {
    const body = Buffer.from("5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n");
    expect(decodeAwsChunked(body).toString()).toBe("hello world");
  });
});
