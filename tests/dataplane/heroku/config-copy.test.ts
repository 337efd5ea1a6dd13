// `ferry heroku config copy`: the Heroku app's config vars into a Secrets Manager secret
// through the AWS CLI's stdin. The stand-in `aws` answers as PutSecretValue documents
// (VersionId in the JSON output; ValidationException over 65,536 bytes; a missing secret
// is ResourceNotFoundException) and records what reached it, so the test can check the
// values went only through stdin and nothing printed holds one.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startHerokuApi, FakeHerokuApi } from "../../../rehearsal/servers/heroku-api";
import { tempDir } from "../../../rehearsal/servers";
import { runFerry, FerryRun } from "../traffic/run-ferry";
import { fakeAws, SECRET } from "./fake-aws";
import { AwsApi, awsWrapper } from "../../../rehearsal/servers/aws-api";
import { spawnSync } from "node:child_process";
import { API_KEY, PAGE_SIZE, mastodonApp } from "./seed";

let api: FakeHerokuApi;
let bin: string;

function copy(args: string[]): Promise<FerryRun> {
  return runFerry(["heroku", "config", "copy", "--app", "famichiki", ...args], { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, PATH: `${bin}:${process.env.PATH}`, AWS_DIR: bin });
}

beforeAll(async () => {
  api = await startHerokuApi({ apiKey: API_KEY, pageSize: PAGE_SIZE, apps: [{ ...mastodonApp(), configVars: { RAILS_ENV: "production", SECRET_KEY_BASE: "skb-very-secret", OTP_SECRET: "otp-very-secret" } }] });
  bin = tempDir("fake-aws");
  fakeAws(bin);
});

afterAll(async () => {
  await api.stop();
});

describe("ferry heroku config copy", () => {
  test("every var but the excluded ones reaches the secret through stdin; only names come back", async () => {
    const r = await copy(["--secret-id", SECRET, "--region", "us-east-1", "--exclude", "DATABASE_URL,REDIS_URL"]);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(readFileSync(join(bin, "stdin"), "utf8"));
    expect(written).toEqual({ OTP_SECRET: "otp-very-secret", RAILS_ENV: "production", SECRET_KEY_BASE: "skb-very-secret" });
    const argv = readFileSync(join(bin, "argv"), "utf8");
    expect(argv).toBe(`secretsmanager put-secret-value --secret-id ${SECRET} --secret-string file:///dev/stdin --output json --region us-east-1\n`);
    expect(r.stdout).toBe(`famichiki: 3 config vars copied to ${SECRET} (version 2b4c6d8e-0000-4000-8000-00000000000a): OTP_SECRET, RAILS_ENV, SECRET_KEY_BASE\n`);
    for (const secret of ["skb-very-secret", "otp-very-secret", "pgsecret", "redissecret", API_KEY]) expect(r.stdout + r.stderr + argv).not.toContain(secret);
  });

  test("--json: names, the excluded vars that existed, and the version", async () => {
    const r = await runFerry(["--json", "heroku", "config", "copy", "--app", "famichiki", "--secret-id", SECRET, "--exclude", "DATABASE_URL,NOT_THERE"], { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, PATH: `${bin}:${process.env.PATH}`, AWS_DIR: bin });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({
      app: "famichiki", secretId: SECRET, versionId: "2b4c6d8e-0000-4000-8000-00000000000a",
      names: ["OTP_SECRET", "RAILS_ENV", "REDIS_URL", "SECRET_KEY_BASE"], excluded: ["DATABASE_URL"],
    });
  });

  test("the AWS CLI's refusal is one line, without the value", async () => {
    const r = await copy(["--secret-id", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-XyZ"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ferry: aws secretsmanager put-secret-value --secret-id arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-XyZ failed: An error occurred (ResourceNotFoundException) when calling the PutSecretValue operation: Secrets Manager can't find the specified secret.\n");
  });

  test("vars too large for one secret are refused before anything is written", async () => {
    api.app("famichiki")!.configVars.BIG = "x".repeat(70_000);
    writeFileSync(join(bin, "argv"), "");
    try {
      const r = await copy(["--secret-id", SECRET]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^ferry: famichiki's config vars take \d+ bytes as JSON, more than the 65536 a Secrets Manager secret holds\n$/);
      expect(readFileSync(join(bin, "argv"), "utf8")).toBe("");
    } finally {
      delete api.app("famichiki")!.configVars.BIG;
    }
  });

  test("bad flags name the flag, exit 2", async () => {
    expect((await copy(["--secret-id", "a b"])).stderr).toBe('ferry: --secret-id must be a secret ARN or name: "a b"\n');
    const region = await copy(["--secret-id", SECRET, "--region", "mars"]);
    expect([region.code, region.stderr]).toEqual([2, 'ferry: --region must be an AWS region: "mars"\n']);
  });
});

describe("ferry heroku config copy, run again (every pulumi up until cutover)", () => {
  // The real AWS CLI against the Secrets Manager stand-in (rehearsal/servers/aws-api.ts).
  const realAws = spawnSync("sh", ["-c", "command -v aws"], { encoding: "utf8" }).stdout.trim();

  test("writes a version only when a value changed: the same values print the same version id", async () => {
    expect(realAws, "the AWS CLI (apt-get install awscli)").not.toBe("");
    const aws = new AwsApi({ region: "us-east-1", account: "123456789012", tasks: { runTask: async () => undefined } });
    await aws.start();
    const dir = tempDir("real-aws");
    writeFileSync(join(dir, "aws"), awsWrapper(realAws, aws.url), { mode: 0o755 });
    const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/heroku-famichiki-AbCdEf";
    aws.createSecret(arn, "ferry/heroku-famichiki");
    const env = {
      HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, PATH: `${dir}:${process.env.PATH}`,
      AWS_ACCESS_KEY_ID: "AKIATEST0000000000", AWS_SECRET_ACCESS_KEY: "test-secret-key", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true",
    };
    const run = () => runFerry(["--json", "heroku", "config", "copy", "--app", "famichiki", "--secret-id", arn, "--region", "us-east-1", "--exclude", "DATABASE_URL,REDIS_URL"], env);
    const versions = () => aws.calls.filter((c) => c.action === "secretsmanager:PutSecretValue" && c.ok).length;
    try {
      const first = await run();
      expect(first.code, first.stderr).toBe(0);
      expect(versions()).toBe(1);
      const second = await run();
      expect(second.code, second.stderr).toBe(0);
      // Nothing changed on Heroku: no new version, and the step prints exactly what it printed.
      expect(versions()).toBe(1);
      expect(second.stdout).toBe(first.stdout);
      api.app("famichiki")!.configVars.SMTP_PASSWORD = "rotated-smtp-password";
      const third = await run();
      expect(third.code, third.stderr).toBe(0);
      expect(versions()).toBe(2);
      expect(third.json<{ versionId: string }>().versionId).not.toBe(first.json<{ versionId: string }>().versionId);
      expect(JSON.parse(aws.secretValue(arn))).toMatchObject({ SMTP_PASSWORD: "rotated-smtp-password" });
    } finally {
      delete api.app("famichiki")!.configVars.SMTP_PASSWORD;
      await aws.stop();
    }
  });
});
