// The rehearsal's registries with the real tools the runner uses: `aws ecr
// get-login-password` piped to `skopeo login`, then `skopeo copy` from the public registry
// stand-in into the ECR stand-in, exactly the program's copy step (components/target/images.ts);
// and Docker Hub's anonymous limit as the ECS stand-in meets it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AwsApi, awsWrapper } from "../../rehearsal/servers/aws-api";
import { tempDir } from "../../rehearsal/servers";
import { startHosts, Hosts } from "../../rehearsal/stack/hosts";
import { startCa } from "../../rehearsal/stack/standins/ca";
import { DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR, Registries, skopeoWrapper } from "../../rehearsal/stack/standins/registry";
import { imageCopyCommand, parseImageCopy } from "../../components/target/images";

// An account of its own: a rehearsal running beside this test names its own ECR host.
const ACCOUNT = "111122223333";
const which = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();

let hosts: Hosts;
let api: AwsApi;
let registries: Registries;
let bin: string;
let clock = Date.now();

function sh(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", script], {
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: tempDir("registry-home"), AWS_ACCESS_KEY_ID: "AKIAREHEARSAL0000000", AWS_SECRET_ACCESS_KEY: "x", AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  hosts = startHosts(`registry-${randomBytes(3).toString("hex")}`);
  const ca = await startCa();
  api = new AwsApi({ region: "us-east-1", account: ACCOUNT, tasks: { runTask: async () => undefined } });
  await api.start();
  registries = new Registries({
    hosts, ca, region: "us-east-1", account: ACCOUNT, images: ["heroku/heroku:24", "ghcr.io/mastodon/mastodon:v4.3.0"],
    validToken: (t) => api.validEcrToken(t), record: (a, r) => api.recordCall(a, r), log: () => undefined, now: () => clock,
  });
  await registries.start();
  bin = tempDir("registry-bin");
  writeFileSync(join(bin, "aws"), awsWrapper(which("aws"), api.url, process.env.PATH), { mode: 0o755 });
  writeFileSync(join(bin, "skopeo"), skopeoWrapper(which("skopeo"), ca.file, registries.registriesConf), { mode: 0o755 });
}, 60_000);

afterAll(async () => {
  await registries?.stop();
  await api?.stop();
  hosts?.close();
});

describe("the registry stand-ins", () => {
  it("the program's copy step: logged in with ECR's token, heroku/heroku:24 lands in the repository the program created, and a task pulls that copy", async () => {
    const { repositoryUrl } = registries.createRepository("ferry/docker.io/heroku/heroku");
    const run = await sh(imageCopyCommand({ source: "heroku/heroku:24", repositoryUrl, region: "us-east-1" }));
    expect(run.code, run.stderr).toBe(0);
    const image = parseImageCopy(run.stdout, "heroku/heroku:24");
    expect(image).toMatch(new RegExp(`^${ACCOUNT}\\.dkr\\.ecr\\.us-east-1\\.amazonaws\\.com/ferry/docker\\.io/heroku/heroku@sha256:[0-9a-f]{64}$`));
    // The task pulls the copy: no Docker Hub pull, and the copy stands for heroku/heroku:24.
    expect(registries.pull(image, "nat")).toBe("heroku/heroku:24");
    expect(registries.hubPullCounts()).toEqual({ "the runner's Elastic IP": 1 });
    expect(api.calls.map((c) => c.action)).toEqual(expect.arrayContaining(["ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:PutImage"]));
  }, 120_000);

  it("ECR refuses a push without the login, and into a repository the program did not create", async () => {
    registries.createRepository("ferry/ghcr.io/mastodon/mastodon");
    const noLogin = await sh(`skopeo copy docker://ghcr.io/mastodon/mastodon:v4.3.0 docker://${registries.ecrHost}/ferry/ghcr.io/mastodon/mastodon:v4.3.0`);
    expect(noLogin.code, noLogin.stderr).not.toBe(0);
    expect(noLogin.stderr).toMatch(/authentication required|unauthorized|401/i);
    const missing = await sh(imageCopyCommand({ source: "ghcr.io/mastodon/mastodon:v4.3.0", repositoryUrl: `${registries.ecrHost}/ferry/not-created`, region: "us-east-1" }));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/does not exist in the registry|name unknown/i);
  }, 120_000);

  it("Docker Hub: 10 anonymous pulls an hour per address, the 11th refused as toomanyrequests; an hour later pulls go through", () => {
    for (let i = 0; i < DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR; i++) expect(registries.pull("heroku/heroku:24", "the NAT gateway")).toBe("heroku/heroku:24");
    expect(() => registries.pull("heroku/heroku:24", "the NAT gateway")).toThrow(/^CannotPullContainerError: heroku\/heroku:24: toomanyrequests: You have reached your unauthenticated pull rate limit/);
    // Other registries count nothing against Docker Hub's limit.
    expect(registries.pull("ghcr.io/mastodon/mastodon:v4.3.0", "the NAT gateway")).toBe("ghcr.io/mastodon/mastodon:v4.3.0");
    clock += 3600_001;
    expect(registries.pull("heroku/heroku:24", "the NAT gateway")).toBe("heroku/heroku:24");
  });

  it("a copy that was never pushed cannot be pulled", () => {
    expect(() => registries.pull(`${registries.ecrHost}/ferry/docker.io/heroku/heroku@sha256:${"0".repeat(64)}`, "nat")).toThrow(/^CannotPullContainerError: .* not found/);
  });
});
