// A dump cutover's copy is the long step inside `pulumi up` (a Heroku source): run as the
// stages run it (--json, stderr not a terminal), it reports its progress on stderr as
// lines, and stdout stays the one JSON result.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../../rehearsal/servers";
import { ROLE_PASSWORD, startSource } from "../fixtures";
import { runFerry } from "../helpers";

describe("dump cutover progress outside a terminal", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;

  beforeAll(async () => {
    [source, target] = await Promise.all([startSource(2000), startPostgres()]);
    await target.query(`CREATE ROLE app LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  });

  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  test("--json: progress lines on stderr while the copy runs, one JSON document on stdout", async () => {
    const env = { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url(), FERRY_PROGRESS_SECONDS: "0.001" };
    const run = await runFerry(["--json", "pg", "cutover", "--strategy", "dump", "--jobs", "2"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, strategy: "dump" });
    const lines = run.stderr.split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^ferry: cutover copy \(bytes\): \d+\/\d+ \(\d+%\)$/);
    const last = /: (\d+)\/(\d+) /.exec(lines[lines.length - 1])!;
    expect(Number(last[1])).toBe(Number(last[2]));
  }, 120_000);
});
