// Bad input to `ferry cutover` / `ferry status`: one line naming the flag or variable,
// exit 2, before any server is asked anything (the URLs point nowhere that answers).
import { describe, expect, test } from "vitest";
import { runFerry } from "../postgres/helpers";

const NOWHERE = {
  FERRY_SOURCE_URL: "postgresql://app@127.0.0.1:1/db", FERRY_TARGET_URL: "postgresql://app@127.0.0.1:1/db",
  FERRY_SOURCE_REDIS_URL: "redis://127.0.0.1:1/0", FERRY_TARGET_REDIS_URL: "redis://127.0.0.1:1/0",
};
const NO_URLS = { FERRY_SOURCE_URL: "", FERRY_TARGET_URL: "", FERRY_SOURCE_REDIS_URL: "", FERRY_TARGET_REDIS_URL: "" };

describe("ferry cutover: bad input", () => {
  test.each([
    [["cutover"], NO_URLS, /^ferry: no store to move: set FERRY_SOURCE_URL\/FERRY_TARGET_URL and\/or FERRY_SOURCE_REDIS_URL\/FERRY_TARGET_REDIS_URL$/],
    [["status"], NO_URLS, /^ferry: no store to move: /],
    [["cutover"], { ...NO_URLS, FERRY_SOURCE_REDIS_URL: "redis://127.0.0.1:1/0" }, /^ferry: missing --redis-target: the Redis source is given but not its target \(set FERRY_TARGET_REDIS_URL\)$/],
    [["cutover", "--mode", "copy"], { ...NO_URLS, FERRY_SOURCE_URL: NOWHERE.FERRY_SOURCE_URL, FERRY_TARGET_URL: NOWHERE.FERRY_TARGET_URL }, /^ferry: --mode needs the Redis URLs \(FERRY_TARGET_REDIS_URL\)$/],
    [["cutover", "--strategy", "sideways"], NOWHERE, /^ferry: --strategy must be one of physical, logical, dump \(got "sideways"\)$/],
    [["cutover", "--max-lag-bytes", "-1"], NOWHERE, /^ferry: --max-lag-bytes must be an integer >= 0 \(got "-1"\)$/],
    [["cutover", "--mode", "sync"], NOWHERE, /argument 'sync' is invalid\. Allowed choices are replicaof, copy\.$/],
  ] as [string[], Record<string, string>, RegExp][])("%j", async (args, env, error) => {
    const run = await runFerry(args, env);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr.trim()).toMatch(error);
    expect(run.stdout).toBe("");
  });
});
