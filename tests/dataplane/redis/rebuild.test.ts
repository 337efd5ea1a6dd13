// rebuild --command runs the app's command against the target, URL in the environment.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { client, closeClients, ferry } from "./helpers";

/** Whether process `pid` still runs (an exited one its parent has not reaped yet does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

let target: LocalRedis;
beforeAll(async () => {
  target = await startRedis({ password: "tgt-pw" });
});
afterAll(async () => {
  closeClients();
  await target.stop();
});

describe("rebuild", () => {
  test("runs the command with the target URL in $REDIS_URL and reports keys before/after", async () => {
    // A stand-in for `tootctl feeds build`: writes three feeds through the URL it was given.
    const cmd = `node -e 'const R = require("ioredis"); const r = new R(process.env.REDIS_URL); Promise.all([1, 2, 3].map((u) => r.zadd("feed:" + u, 1, "status-1"))).then(() => { console.log("built 3 feeds"); r.disconnect(); })'`;
    const r = await ferry(["--json", "redis", "rebuild", "--command", cmd], { FERRY_TARGET_REDIS_URL: target.url() });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, exitCode: 0, timedOut: false, targetKeysBefore: 0, targetKeysAfter: 3, outputTail: ["built 3 feeds"] });
    expect(await client(target).zscore("feed:2", "status-1")).toBe("1");
  });

  test("a failing command exits 1 with its status; its output is redacted", async () => {
    const r = await ferry(["--json", "redis", "rebuild", "--command", `echo "using $FEEDS_URL"; exit 3`, "--env-var", "FEEDS_URL"], { FERRY_TARGET_REDIS_URL: target.url() });
    expect(r.code).toBe(1);
    expect(r.json.exitCode).toBe(3);
    expect(r.json.outputTail[0]).toMatch(/^using redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0$/);
    expect(r.stdout).not.toContain("tgt-pw");
  });

  test("a command running past --timeout is stopped, with everything it started", async () => {
    // The shell starts a job of its own that would finish (and say so) after 20 s.
    const r = await ferry(["--json", "redis", "rebuild", "--command", "(sleep 20; echo finished) & echo \"started $!\"; wait", "--timeout", "1"], { FERRY_TARGET_REDIS_URL: target.url() });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, timedOut: true, exitCode: null, signal: "SIGTERM" });
    expect(r.json.outputTail).toEqual([expect.stringMatching(/^started \d+$/)]);
    const job = Number(r.json.outputTail[0].split(" ")[1]);
    expect(running(job)).toBe(false);
  });
});
