// What `ferry redis ...` prints can end up in a Pulumi stack's state (a Command's stdout),
// in CI logs and in reports: no command may print a password or a URL carrying one, a
// key's value, or a key name that could be data (a session token, an e-mail address, a
// reset code). Every command the stages and an operator run, with --json and without,
// against a source and a target whose differences verify has to report.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
import { keyFingerprint } from "../../../dataplane/redis/key-label";
import { client, closeClients, ferry, urls } from "./helpers";

const SOURCE_PASSWORD = "src-Pa55word-7f3e";
const TARGET_PASSWORD = "tgt-Pa55word-91ab";
/** Substrings that are data (or secrets) and must never be printed. */
const SECRETS = [SOURCE_PASSWORD, TARGET_PASSWORD, "SECRETTOKEN123", "VALUE-SECRET", "alice@example.com", "CODE-SECRET"];

let source: LocalRedis;
let target: LocalRedis;
let env: Record<string, string>;

beforeAll(async () => {
  source = await startRedis({ password: SOURCE_PASSWORD, settings: { "notify-keyspace-events": "KEA" } });
  target = await startRedis({ password: TARGET_PASSWORD });
  env = urls(source, target);
  const c = client(source);
  await c.set("session:tok-SECRETTOKEN123", "VALUE-SECRET-1");
  await c.hset("alice@example.com:profile", "email", "VALUE-SECRET-2");
  await c.set("plain:1", "x");
});

afterAll(async () => {
  closeClients();
  await source.stop();
  await target.stop();
});

function printsNoSecret(what: string, out: { stdout: string; stderr: string }): void {
  for (const secret of SECRETS) expect(out.stdout + out.stderr, `${what} printed ${secret}`).not.toContain(secret);
}

// One move, step by step (the tests share the servers and run in order).
describe("no ferry redis command prints a secret, a value or a key name that may be data", () => {
  test("preflight, replicate, status (--json and text)", async () => {
    for (const [what, args] of [
      ["preflight", ["redis", "preflight", "--listen", "0"]], ["replicate", ["redis", "replicate", "--strategy", "copy"]], ["status", ["redis", "status"]],
    ] as const) {
      for (const json of [["--json"], []]) {
        const r = await ferry([...json, ...args], env);
        expect(r.code, `${what}: ${r.stderr}`).toBe(0);
        printsNoSecret(what, r);
      }
    }
  });

  test("verify names a differing key by namespace and fingerprint; whole names only with --show-keys", async () => {
    // The target drifts: a value changed, a key gone, a key only it has.
    const t = client(target);
    await t.set("session:tok-SECRETTOKEN123", "VALUE-SECRET-3");
    await t.del("alice@example.com:profile");
    await t.set("reset:CODE-SECRET-9", "VALUE-SECRET-4");

    const verify = await ferry(["--json", "redis", "verify"], env);
    expect(verify.code).toBe(1);
    printsNoSecret("verify", verify);
    const fp = (key: string) => keyFingerprint(Buffer.from(key));
    expect(verify.json.differing).toEqual(expect.arrayContaining([
      { db: 0, key: `session:…#${fp("session:tok-SECRETTOKEN123")}`, reason: "value differs" },
      { db: 0, key: `…#${fp("alice@example.com:profile")}`, reason: "missing on the target" },
      { db: 0, key: `reset:…#${fp("reset:CODE-SECRET-9")}`, reason: "exists only on the target" },
    ]));
    const human = await ferry(["redis", "verify"], env);
    printsNoSecret("verify (text)", human);
    expect(human.stdout).toContain(`session:…#${fp("session:tok-SECRETTOKEN123")}: value differs`);
    const shown = await ferry(["redis", "verify", "--show-keys"], env);
    expect(shown.stdout).toContain(`session:tok-SECRETTOKEN123 #${fp("session:tok-SECRETTOKEN123")}: value differs`);
    expect(shown.stdout).not.toContain("VALUE-SECRET");
  });

  test("cutover (per store and whole stack), rollback, cleanup", async () => {
    // The cutover's catch-up repairs the drift (verify's reads mark the keys as touched), then
    // the stack's cutover finds it done, a rollback refuses, cleanup has nothing to do.
    for (const [what, args, code] of [
      ["redis cutover", ["redis", "cutover"], 0], ["cutover", ["cutover"], 0], ["rollback", ["redis", "rollback"], 1], ["cleanup", ["redis", "cleanup"], 0],
    ] as const) {
      const r = await ferry(["--json", ...args], env);
      expect(r.code, `${what}: ${r.stderr}`).toBe(code);
      printsNoSecret(what, r);
    }
  });

  test("drain --pattern reports the pattern, not the keys it matches", async () => {
    const drain = await ferry(["--json", "redis", "drain", "--pattern", "session:*", "--timeout", "0"], env);
    expect(drain.code).toBe(1);
    expect(drain.json.left).toEqual([{ key: "session:*", kind: "pattern", count: 1 }]);
    printsNoSecret("drain", drain);
  });

  test("rebuild: a command that prints its URL and the password on its own", async () => {
    const printsItsUrl = `node -e 'const u = new URL(process.env.REDIS_URL); console.log(process.env.REDIS_URL); console.log("pw=" + decodeURIComponent(u.password))'`;
    const rebuild = await ferry(["--json", "redis", "rebuild", "--command", printsItsUrl], env);
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(rebuild.json.outputTail).toEqual([expect.stringMatching(/^redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0$/), "pw=***"]);
    printsNoSecret("rebuild", rebuild);
  });
});
