// A box's app stays while a store moves (issue 31): one variable of its env file set to
// the target's URL and put back as it was, as pure rewrites, and `ferry box repoint` doing
// it over real SSH (a throwaway sshd), the value never on a command line or in the output.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseEnv } from "node:util";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../rehearsal/servers";
import { restoreEnvVar, setEnvVar } from "../../../dataplane/box/env-file";
import { savedPath } from "../../../dataplane/box/repoint";
import { runFerry } from "../traffic/run-ferry";
import { startSshd, TestSshd } from "../traffic/sshd";

// Drawn per run (with a character that must be percent-encoded): no credential lives in the source.
const TARGET = `postgres://app:${encodeURIComponent(`${randomBytes(8).toString("hex")}@$`)}@db.example.rds.amazonaws.com:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Frds.pem`;
const ENV_FILE = [
  "# Mastodon",
  "LOCAL_DOMAIN=social.example",
  "export DATABASE_URL=postgres://mastodon:old-PLACEHOLDER@localhost/mastodon_production",
  "REDIS_URL=redis://localhost:6379",
  "DATABASE_URL=postgres://shadowed-PLACEHOLDER@localhost/x",
  "SECRET_KEY_BASE=abc",
  "",
].join("\n");

describe("setEnvVar / restoreEnvVar", () => {
  test("sets the variable where it stood (export kept, later definitions dropped), readable by dotenv as the exact value", () => {
    const { text, previous } = setEnvVar(ENV_FILE, "DATABASE_URL", TARGET);
    expect(previous).toEqual([
      "export DATABASE_URL=postgres://mastodon:old-PLACEHOLDER@localhost/mastodon_production",
      "DATABASE_URL=postgres://shadowed-PLACEHOLDER@localhost/x",
    ]);
    expect(text.split("\n")[2]).toBe(`export DATABASE_URL='${TARGET}'`);
    expect(text).not.toContain("PLACEHOLDER@");
    const vars = parseEnv(text) as Record<string, string>;
    expect(vars.DATABASE_URL).toBe(TARGET);
    expect(vars.REDIS_URL).toBe("redis://localhost:6379");
    expect(vars.SECRET_KEY_BASE).toBe("abc");
  });

  test("the way back gives the file byte for byte when only ferry touched the variable; other edits stay", () => {
    const { text, previous } = setEnvVar(ENV_FILE, "DATABASE_URL", TARGET);
    const back = restoreEnvVar(text, "DATABASE_URL", previous);
    expect(back).toBe(ENV_FILE.replace("DATABASE_URL=postgres://shadowed-PLACEHOLDER@localhost/x\n", "").replace(
      "export DATABASE_URL=postgres://mastodon:old-PLACEHOLDER@localhost/mastodon_production\n",
      "export DATABASE_URL=postgres://mastodon:old-PLACEHOLDER@localhost/mastodon_production\nDATABASE_URL=postgres://shadowed-PLACEHOLDER@localhost/x\n",
    ));
    // Another store's repoint in between survives this one's way back.
    const both = setEnvVar(text, "REDIS_URL", "rediss://:pw@203.0.113.9:6380/0").text;
    expect(parseEnv(restoreEnvVar(both, "DATABASE_URL", previous)).REDIS_URL).toBe("rediss://:pw@203.0.113.9:6380/0");
  });

  test("a variable the file did not set is appended, and the way back removes it", () => {
    const { text, previous } = setEnvVar("A=1\n", "REDIS_URL", "rediss://x");
    expect(previous).toEqual([]);
    expect(text).toBe("A=1\nREDIS_URL='rediss://x'\n");
    expect(restoreEnvVar(text, "REDIS_URL", previous)).toBe("A=1\n");
  });

  test("a value no env file carries unchanged is refused in one line, without the value", () => {
    expect(() => setEnvVar(ENV_FILE, "DATABASE_URL", "postgres://a:it's-PLACEHOLDER@h/d")).toThrow(/^--from-env: the value for DATABASE_URL holds a single quote or a line break/);
    try {
      setEnvVar(ENV_FILE, "DATABASE_URL", "postgres://a:it's-PLACEHOLDER@h/d");
    } catch (e) {
      expect((e as Error).message).not.toContain("PLACEHOLDER");
    }
  });
});

describe("ferry box repoint over SSH", () => {
  let sshd: TestSshd;
  let file: string;

  beforeAll(async () => {
    sshd = await startSshd();
    file = join(tempDir("box-env"), ".env.production");
    writeFileSync(file, ENV_FILE);
    chmodSync(file, 0o640);
  });

  afterAll(() => sshd?.stop());

  const repoint = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
    runFerry(["--json", "box", "repoint", "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--host-key", sshd.hostKey, "--env-file", file, ...extra], { FERRY_TEST_SSH_KEY: sshd.clientKey, ...env });

  test("sets the variable from the environment, keeps the old lines (0600) for the way back, prints no value; a rerun keeps the first old lines", async () => {
    const r = await repoint(["--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"], { FERRY_TARGET_URL: TARGET });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ host: `${sshd.user}@127.0.0.1:${sshd.port}`, envFile: file, variable: "DATABASE_URL", action: "set", restarted: [] });
    expect(r.stdout + r.stderr).not.toContain("PLACEHOLDER");
    expect(r.stdout + r.stderr).not.toContain(new URL(TARGET).password);
    expect(parseEnv(readFileSync(file, "utf8")).DATABASE_URL).toBe(TARGET);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(statSync(savedPath(file, "DATABASE_URL")).mode & 0o777).toBe(0o600);
    const again = await repoint(["--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"], { FERRY_TARGET_URL: TARGET });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(readFileSync(savedPath(file, "DATABASE_URL"), "utf8")).lines[0]).toBe("export DATABASE_URL=postgres://mastodon:old-PLACEHOLDER@localhost/mastodon_production");

    const back = await repoint(["--var", "DATABASE_URL", "--restore"]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.json()).toMatchObject({ action: "restored" });
    expect(parseEnv(readFileSync(file, "utf8")).DATABASE_URL).toBe("postgres://shadowed-PLACEHOLDER@localhost/x");
    expect(readFileSync(file, "utf8")).toContain("export DATABASE_URL=postgres://mastodon:old-PLACEHOLDER@localhost/mastodon_production\n");
    expect(existsSync(savedPath(file, "DATABASE_URL"))).toBe(false);
    // Run again (a delete retried): nothing kept, nothing changed.
    const twice = await repoint(["--var", "DATABASE_URL", "--restore"]);
    expect(twice.json()).toMatchObject({ action: "nothing-to-restore" });
  });

  test("bad input: one line each, nothing changed", async () => {
    const before = readFileSync(file, "utf8");
    const unset = await repoint(["--var", "DATABASE_URL", "--from-env", "FERRY_NOT_SET_ANYWHERE"]);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/--from-env names FERRY_NOT_SET_ANYWHERE, which is not set/);
    const both = await repoint(["--var", "DATABASE_URL", "--restore", "--from-env", "X"], { X: "v" });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --from-env ENV_VAR or --restore/);
    const badVar = await repoint(["--var", "DATABASE-URL", "--restore"]);
    expect(badVar.code).toBe(2);
    expect(badVar.stderr).toMatch(/--var must be a variable name/);
    const missing = await runFerry(["box", "repoint", "--host", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--host-key", sshd.hostKey, "--env-file", "/nonexistent/.env", "--var", "A", "--from-env", "V"], { FERRY_TEST_SSH_KEY: sshd.clientKey, V: "x" });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--env-file \/nonexistent\/\.env on .*: no such file/);
    for (const r of [unset, both, badVar, missing]) expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(readFileSync(file, "utf8")).toBe(before);
  });
});
