// The ECS stand-in gives every task the RDS CA bundle where the program's task definition
// puts it (/etc/ferry, a task volume the fetch container fills from S3): the task's
// processes see it at that path, in a mount namespace of their own, so the app reads its
// DATABASE_URL (sslrootcert=/etc/ferry/rds-global-bundle.pem) untouched; this machine's
// /etc/ferry is not what they see. A bucket without the bundle fails the task, as the
// fetch container's `aws s3 cp` would.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AwsApi } from "../../../rehearsal/servers/aws-api";
import { containerDefinitions, taskVolumes } from "../../../components/target/app/containers";
import { taskLaunch } from "../../../rehearsal/stack/standins/ecs";
import { RDS_CA_IN_TASK } from "../../../components/target/app/rds-ca";

let aws: AwsApi;
const PEM = "-----BEGIN CERTIFICATE-----\nUkRTIHN0YW5kLWluIENB\n-----END CERTIFICATE-----\n";

beforeAll(async () => {
  aws = new AwsApi({ region: "us-east-1", account: "123456789012", tasks: { runTask: async () => undefined } });
  await aws.start();
});

afterAll(async () => {
  await aws.stop();
});

const logs = { group: "/ferry/x/web", region: "us-east-1", streamPrefix: "web" };
const base = { secrets: [], logs, dataGeneration: "g", labels: {}, fetchImage: "public.ecr.aws/aws-cli/aws-cli:2", rdsCaUrl: "s3://bucket-1/certs/rds-global-bundle.pem" };
const ctx = () => ({
  aws,
  registry: { slugFor: () => "/nonexistent/slug.tgz", processTypeFor: () => "worker" },
  ssmParameter: () => undefined,
});
const imageTask = () => ({ volumes: taskVolumes("image"), containerDefinitions: JSON.stringify(containerDefinitions({ kind: "image", image: "ghcr.io/mastodon/mastodon:v4.3.0", command: "bin/tootctl media remove", ...base })) });

describe("the ECS stand-in's RDS CA bundle", () => {
  test("a bucket without the bundle fails the task, as the ca-fetch container's aws s3 cp would", () => {
    expect(() => taskLaunch(ctx(), imageTask(), "job")).toThrow(/ca-fetch exited 1: .*Key "certs\/rds-global-bundle\.pem" does not exist/);
  });

  test("the task's processes read the bundle the program's step put in the bucket, at the path the task definition names", () => {
    aws.putObject("bucket-1", "certs/rds-global-bundle.pem", Buffer.from(PEM));
    const launch = taskLaunch(ctx(), imageTask(), "job");
    expect(launch.launcher.length).toBeGreaterThan(0);
    const [cmd, ...args] = [...launch.launcher, "cat", RDS_CA_IN_TASK];
    expect(execFileSync(cmd, args, { encoding: "utf8" })).toBe(PEM);
  });
});
