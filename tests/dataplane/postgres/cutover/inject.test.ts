// The rehearsal's failure on purpose (test-only): FERRY_INJECT_FAILURE with
// FERRY_REHEARSAL=1 fails the cutover's gate or in-window verify once per target, so a
// rehearsal can show a failed cutover rolled back, then retried; without FERRY_REHEARSAL
// it does nothing.
import { describe, expect, test } from "vitest";
import { canWrite, runFerry, useClusterPair } from "../helpers";

const CUTOVER = ["--json", "pg", "cutover", "--strategy", "dump", "--timeout", "10"];

describe("FERRY_INJECT_FAILURE", () => {
  const clusters = useClusterPair();

  test("pg-verify: the first cutover fails fenced, the rollback gives the source back, the retry goes through", async () => {
    const pair = await clusters.seeded("verifyonce");
    const env = { ...pair.env, FERRY_REHEARSAL: "1", FERRY_INJECT_FAILURE: "pg-verify" };
    const failed = await runFerry(CUTOVER, env);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ ok: false, verify: { ok: false, firstDifference: "injected failure (FERRY_INJECT_FAILURE, rehearsal only)" } });
    expect(await canWrite(pair.appSrc)).toBe(false); // fenced: the target was not released

    const back = await runFerry(["pg", "rollback", "--strategy", "dump"], env);
    expect(back.code, back.stderr).toBe(0);
    expect(await canWrite(pair.appSrc)).toBe(true);

    const retry = await runFerry(CUTOVER, env);
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout)).toMatchObject({ ok: true, verify: { ok: true } });
  }, 180000);

  test("pg-gate fails once before anything changes; ignored without FERRY_REHEARSAL=1", async () => {
    const pair = await clusters.seeded("gateonce");
    const ignored = await runFerry(["pg", "cutover", "--strategy", "dump", "--timeout", "10"], { ...pair.env, FERRY_INJECT_FAILURE: "pg-gate", FERRY_REHEARSAL: undefined });
    expect(ignored.code, ignored.stderr).toBe(0);

    const other = await clusters.seeded("gatetwice");
    const env = { ...other.env, FERRY_REHEARSAL: "1", FERRY_INJECT_FAILURE: "pg-gate,pg-verify" };
    const gate = await runFerry(["pg", "cutover", "--strategy", "dump", "--timeout", "10"], env);
    expect([gate.code, gate.stderr]).toEqual([1, "ferry: gate not met: injected failure (FERRY_INJECT_FAILURE, rehearsal only); the source was not touched\n"]);
    expect(await canWrite(other.appSrc)).toBe(true);
  }, 180000);
});
