// `ferry box config copy` over real SSH (a loopback sshd): the box's env file parsed
// with Node's dotenv parser and handed to the AWS CLI on stdin; only names printed; a
// missing file, an unknown host key and bad flags each one line.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../rehearsal/servers";
import { runFerry, FerryRun } from "../traffic/run-ferry";
import { startSshd, TestSshd } from "../traffic/sshd";
import { fakeAws, SECRET } from "../heroku/fake-aws";

let sshd: TestSshd;
let bin: string;
let envFile: string;

const ENV_FILE = [
  "# Mastodon's .env.production",
  "LOCAL_DOMAIN=famichiki.example",
  "SECRET_KEY_BASE=skb-box-secret",
  'OTP_SECRET="otp box secret"',
  "export SMTP_PASSWORD='smtp#box'",
  "DB_PASS=dbpass-box-secret",
  "",
].join("\n");

function copy(extra: string[], opts: { knownHosts?: string } = {}): Promise<FerryRun> {
  return runFerry([
    "box", "config", "copy", "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY",
    "--known-hosts", opts.knownHosts ?? sshd.knownHosts, ...extra,
  ], { FERRY_TEST_SSH_KEY: sshd.clientKey, PATH: `${bin}:${process.env.PATH}`, AWS_DIR: bin });
}

beforeAll(async () => {
  sshd = await startSshd();
  bin = tempDir("fake-aws");
  fakeAws(bin);
  envFile = join(tempDir("box-env"), ".env.production");
  writeFileSync(envFile, ENV_FILE, { mode: 0o600 });
});

afterAll(() => {
  sshd?.stop();
});

describe("ferry box config copy", () => {
  test("the env file's vars reach the secret through stdin, the excluded left out; names only printed", async () => {
    const r = await copy(["--env-file", envFile, "--secret-id", SECRET, "--region", "eu-central-1", "--exclude", "DB_PASS"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(bin, "stdin"), "utf8"))).toEqual({
      LOCAL_DOMAIN: "famichiki.example", OTP_SECRET: "otp box secret", SECRET_KEY_BASE: "skb-box-secret", SMTP_PASSWORD: "smtp#box",
    });
    expect(r.stdout).toBe(`${sshd.user}@127.0.0.1:${sshd.port}:${envFile}: 4 vars copied to ${SECRET} (version 2b4c6d8e-0000-4000-8000-00000000000a): LOCAL_DOMAIN, OTP_SECRET, SECRET_KEY_BASE, SMTP_PASSWORD\n`);
    const argv = readFileSync(join(bin, "argv"), "utf8");
    for (const secret of ["skb-box-secret", "otp box secret", "smtp#box", "dbpass-box-secret", "PRIVATE KEY"]) expect(r.stdout + r.stderr + argv).not.toContain(secret);
  });

  test("a missing env file: one line naming it and the host", async () => {
    const r = await copy(["--env-file", "/nonexistent/.env.production", "--secret-id", SECRET]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: --env-file /nonexistent/.env.production on ${sshd.user}@127.0.0.1:${sshd.port}: /nonexistent/.env.production: No such file or directory\n`);
  });

  test("a box whose host key is not known is refused", async () => {
    const empty = join(tempDir("kh"), "known_hosts");
    writeFileSync(empty, "");
    const r = await copy(["--env-file", envFile, "--secret-id", SECRET], { knownHosts: empty });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: ssh to .* failed: .*[Hh]ost key verification failed/);
  });

  test("bad flags: one line naming the flag, exit 2", async () => {
    const rel = await copy(["--env-file", "live/.env.production", "--secret-id", SECRET]);
    expect([rel.code, rel.stderr]).toEqual([2, 'ferry: --env-file must be an absolute path on the box: "live/.env.production"\n']);
    const local = await runFerry(["box", "config", "copy", "--host", "local", "--env-file", envFile, "--secret-id", SECRET]);
    expect([local.code, local.stderr]).toEqual([2, "ferry: --host must be user@host[:port]: the env file is read over SSH\n"]);
  });
});
