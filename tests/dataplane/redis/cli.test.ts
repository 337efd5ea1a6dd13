// The CLI contract: bad input exits 2 with one line naming the flag; secrets never echo.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort, startRedis, LocalRedis } from "../../../rehearsal/servers";
import { ferry } from "./helpers";

let redis: LocalRedis;
let env: Record<string, string>;
beforeAll(async () => {
  redis = await startRedis();
  env = { FERRY_SOURCE_REDIS_URL: redis.url(), FERRY_TARGET_REDIS_URL: redis.url(1) };
});
afterAll(async () => {
  await redis.stop();
});

describe("ferry redis: bad input", () => {
  test.each([
    [["redis", "replicate"], /^ferry: missing --strategy: pass --strategy replicaof\|copy\n$/],
    [["redis", "replicate", "--strategy", "sync"], /--strategy <s>' argument 'sync' is invalid/],
    [["redis", "replicate", "--strategy", "replicaof", "--conflict", "skip"], /--conflict skip is impossible with --strategy replicaof/],
    [["redis", "replicate", "--strategy", "replicaof", "--follow"], /--follow applies to --strategy copy only/],
    [["redis", "replicate", "--strategy", "copy", "--batch", "0"], /--batch must be a whole number from 1/],
    [["redis", "verify", "--sample", "abc"], /--sample must be a percentage from 0 to 100/],
    [["redis", "cutover", "--strategy", "copy", "--timeout", "-5"], /--timeout/],
    [["redis", "rebuild", "--command", "true", "--env-var", "1BAD"], /--env-var must be a variable name/],
  ])("%j", async (args, message) => {
    const r = await ferry(args, env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  test("URLs: missing, malformed, wrong scheme, unreadable --tls-ca", async () => {
    const missing = await ferry(["redis", "status"], { FERRY_SOURCE_REDIS_URL: "", FERRY_TARGET_REDIS_URL: "" });
    expect(missing).toMatchObject({ code: 2, stderr: "ferry: missing --source: pass --source URL or set FERRY_SOURCE_REDIS_URL\n" });
    const scheme = await ferry(["redis", "status"], { ...env, FERRY_TARGET_REDIS_URL: "http://127.0.0.1:1/" });
    expect(scheme).toMatchObject({ code: 2, stderr: "ferry: --target must be a redis:// or rediss:// URL, got http://\n" });
    const ca = await ferry(["redis", "status", "--tls-ca", "/nonexistent.pem"], { ...env, FERRY_TARGET_REDIS_URL: "rediss://127.0.0.1:1/" });
    expect(ca).toMatchObject({ code: 2, stderr: "ferry: --tls-ca file /nonexistent.pem cannot be read\n" });
  });

  test("a password in argv draws a warning and never appears in errors", async () => {
    const port = await freePort();
    const r = await ferry(["redis", "verify", "--source", `redis://:hunter2@127.0.0.1:${port}/0`], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--source carries a password that other users can read in the process list");
    expect(r.stderr).toContain(`ferry: --source redis://127.0.0.1:${port}: connection refused`);
    expect(r.stderr).not.toContain("hunter2");
  });

  test("--json prints exactly one JSON object", async () => {
    const r = await ferry(["--json", "redis", "status"], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ mode: "none", detail: "the target is neither a replica nor holds ferry copy state" });
  });
});
