// The ECS stand-in runs the pooler's task definition as the program declares it
// (components/target/pooler: poolerContainers): the fetch container's `aws s3 cp` of
// ferry's bundle and the RDS bundle from the S3 stand-in, then the pooler container's own
// command (its apt-get of Debian's pgbouncer, then `ferry pooler serve`), with its secrets
// from the Secrets Manager stand-in, at the task's own loopback address. An app connects
// through it over TLS to a real PostgreSQL; what ECS would refuse fails the task.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AwsApi } from "../../../rehearsal/servers/aws-api";
import { LocalPostgres, makeCa, portOpen, serverCertificate, startPostgres, tempDir, waitFor } from "../../../rehearsal/servers";
import { RDS_CA_KEY, RDS_CA_VOLUME } from "../../../components/target/app/rds-ca";
import { POOLER_PORT, POOLER_SIZE, poolerContainers, PoolerPlan } from "../../../components/target/pooler";
import { isMachineImage, isMachineTask, machineTaskSpec } from "../../../rehearsal/stack/standins/ecs-image";
import { AppProcess, startProcess } from "../../../rehearsal/app-process";
import type { EcsContext } from "../../../rehearsal/stack/standins/ecs";

const BUCKET = "stack-bucket";
const ROOT = join(__dirname, "../../..");
const plan: PoolerPlan = {
  namespace: "t.pooler.internal", replicas: [{ service: "pooler-0", host: "pooler-0.t.pooler.internal", controlUrl: "https://pooler-0.t.pooler.internal:6433" }],
  database: "appdb", clientUser: "app", server: "source", pauseTimeoutSeconds: 10, queryWaitTimeoutSeconds: 30, poolSize: 3, image: "node:20-bookworm-slim", size: POOLER_SIZE,
};

let aws: AwsApi;
let pg: LocalPostgres;
let secretArn: string;
let tlsArn: string;
const clientPassword = randomBytes(12).toString("hex");
const adminPassword = randomBytes(12).toString("hex");
let poolerCa: string;

/** ferry's bundle, as the runner's `ferry --help` builds it (bin/lib/bundle.js), and its key in the bucket. */
function builtBundle(): Buffer {
  execFileSync(process.execPath, [join(ROOT, "bin/ferry.js"), "--help"], { stdio: "ignore" });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the CLI's own CommonJS helper
  const b = require(join(ROOT, "bin/lib/bundle.js")) as { bundleKey(): string; cacheDirs(): string[] };
  const file = b.cacheDirs().map((d) => join(d, `ferry-${b.bundleKey()}.js`)).find(existsSync);
  if (!file) throw new Error("no built bundle of ferry");
  return readFileSync(file);
}

beforeAll(async () => {
  aws = new AwsApi({ region: "us-east-1", account: "123456789012", tasks: { runTask: async () => undefined } });
  await aws.start();
  aws.createBucket(BUCKET);
  const dbCa = await makeCa(tempDir("ecs-image-db-ca"), "db CA");
  pg = await startPostgres({ tls: { kind: "private-ca", ca: dbCa } });
  await pg.query(`CREATE ROLE app_src LOGIN PASSWORD '${clientPassword}'`);
  await pg.query("CREATE DATABASE srcdb OWNER app_src");
  const dir = tempDir("ecs-image-pooler-tls");
  const ca = await makeCa(dir, "pooler CA");
  const tls = await serverCertificate(dir, { kind: "private-ca", ca, hostnames: [plan.replicas[0].host, "127.0.0.1"] });
  poolerCa = readFileSync(ca.caFile, "utf8");
  secretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:t/pooler-abc123";
  tlsArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:t/pooler-tls-def456";
  aws.createSecret(secretArn, "t/pooler");
  aws.createSecret(tlsArn, "t/pooler-tls");
  aws.putSecret(secretArn, JSON.stringify({
    FERRY_POOLER_SERVER_URL: `postgresql://app_src:${clientPassword}@127.0.0.1:${pg.port}/srcdb?sslmode=require`,
    FERRY_POOLER_CLIENT_PASSWORD: clientPassword, FERRY_POOLER_ADMIN_PASSWORD: adminPassword,
  }));
  aws.putSecret(tlsArn, JSON.stringify({ FERRY_POOLER_TLS_CERT: readFileSync(tls.certFile, "utf8"), FERRY_POOLER_TLS_KEY: readFileSync(tls.keyFile, "utf8") }));
  aws.putObject(BUCKET, RDS_CA_KEY, Buffer.from(readFileSync(dbCa.caFile, "utf8")));
}, 120_000);

afterAll(async () => {
  await pg?.stop("immediate");
  await aws?.stop();
});

const ctx = (): EcsContext => ({
  aws,
  registry: { slugFor: () => { throw new Error("no slug: an image task"); }, processTypeFor: () => "worker", machineImage: isMachineImage },
  ssmParameter: () => undefined,
});

function taskDefinition(bundleKey: string): Record<string, unknown> {
  return {
    networkMode: "awsvpc",
    volumes: [{ name: "ferry" }, { name: RDS_CA_VOLUME }],
    containerDefinitions: JSON.stringify(poolerContainers({
      plan, image: plan.image, fetchImage: "public.ecr.aws/aws-cli/aws-cli:2.22.35", secretArn, tlsSecretArn: tlsArn,
      bundleUrl: `s3://${BUCKET}/${bundleKey}`, rdsCaUrl: `s3://${BUCKET}/${RDS_CA_KEY}`, logs: { group: "/t/pooler", region: "us-east-1" },
    })),
  };
}

/** A loopback address of the task's own (awsvpc), as the rehearsal's hosts hand out. */
const taskAddress = () => `127.${70 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 200)}.${2 + Math.floor(Math.random() * 200)}`;

describe("the ECS stand-in's image tasks", () => {
  test("node's bookworm images stand for this machine; the app's and the AWS CLI's do not", () => {
    expect(isMachineImage("node:20-bookworm-slim")).toBe(true);
    expect(isMachineImage("docker.io/library/node:20.11-bookworm")).toBe(true);
    expect(isMachineImage("node:22-bookworm-slim")).toBe(false);
    expect(isMachineImage("node:20-alpine")).toBe(false);
    expect(isMachineImage("public.ecr.aws/aws-cli/aws-cli:2.22.35")).toBe(false);
    expect(isMachineTask(ctx(), taskDefinition("ferry/x.js"))).toBe(true);
  });

  test("a bundle missing from the bucket stops the task before the pooler starts, as the fetch container's aws s3 cp would", () => {
    expect(() => machineTaskSpec(ctx(), taskDefinition("ferry/ferry-missing.js"), "pooler-0", "pooler-0", taskAddress()))
      .toThrow(/container ferry-fetch exited 1 \(fatal error: .*404.*Key "ferry\/ferry-missing\.js" does not exist\), and pooler waits for its SUCCESS/);
  });

  test("the pooler task serves the app over TLS at its own address, pointed at the server its secret names", async () => {
    const key = `ferry/ferry-${randomBytes(16).toString("hex")}.js`;
    aws.putObject(BUCKET, key, builtBundle());
    const address = taskAddress();
    const spec = machineTaskSpec(ctx(), taskDefinition(key), "pooler-0", "pooler-0", address);
    // No secret on the command line: the launcher and the command name none.
    expect([...(spec.launch.kind === "image" ? [...spec.launch.launcher, spec.launch.command] : [])].join(" ")).not.toMatch(new RegExp(`${clientPassword}|${adminPassword}`));
    let task: AppProcess | undefined;
    try {
      task = await startProcess({ name: "pooler-0.1", platform: "ecs", launch: spec.launch as never, env: spec.env, logFile: join(tempDir("ecs-image-log"), "pooler.log") });
      await waitFor("the pooler's port", () => portOpen(POOLER_PORT, address), 30_000);
      const client = new Client({ host: address, port: POOLER_PORT, user: "app", password: clientPassword, database: "appdb", ssl: { ca: poolerCa, servername: plan.replicas[0].host } });
      await client.connect();
      try {
        const { rows } = await client.query("SELECT current_database() AS db, current_user AS who");
        expect(rows[0]).toEqual({ db: "srcdb", who: "app_src" });
      } finally {
        await client.end();
      }
    } finally {
      await task?.stop();
    }
  }, 120_000);
});
