// The CLI behaves the same for every command: --version, "did you mean" for a mistyped
// command, every failure one line starting with `ferry:`, and under --json the same
// failure as a JSON object on stdout naming the side when the failure is about one.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sideOf, FerryError } from "../../../dataplane/cli/common";
import { usageLine } from "../../../dataplane/cli/main";
import { runFerry } from "../postgres/helpers";

const { version } = JSON.parse(readFileSync(join(__dirname, "../../../package.json"), "utf8")) as { version: string };

describe("ferry's command line", () => {
  it("--version prints package.json's version and exits 0", async () => {
    const run = await runFerry(["--version"]);
    expect(run.stdout).toBe(`${version}\n`);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  it.each([
    [["dcotor", "--stack", "staging"], "ferry: unknown command 'dcotor' (did you mean doctor?)"],
    [["redis", "verfy"], "ferry: unknown command 'verfy' (did you mean verify?)"],
    [["heroku", "adons", "--app", "x"], "ferry: unknown command 'adons' (did you mean addons?)"],
    [["pg", "zzzzzz"], "ferry: unknown command 'zzzzzz'"],
  ])("%j: one line, exit 2", async (args, line) => {
    const run = await runFerry(args);
    expect(run.stderr).toBe(`${line}\n`);
    expect(run.stdout).toBe("");
    expect(run.code).toBe(2);
  });

  it("--json: a usage error is also a JSON object on stdout", async () => {
    const run = await runFerry(["--json", "pg", "replcate"]);
    expect(run.stderr).toBe("ferry: unknown command 'replcate' (did you mean replicate?)\n");
    expect(JSON.parse(run.stdout)).toEqual({ error: "unknown command 'replcate' (did you mean replicate?)", exitCode: 2 });
    expect(run.code).toBe(2);
  });

  it("--json: a failed step is a JSON object naming its side, with the password redacted", async () => {
    const run = await runFerry(["--json", "pg", "status"], { FERRY_SOURCE_URL: "postgres://u:pw-secret-1@127.0.0.1:1/db", FERRY_TARGET_URL: "postgres://u:pw-secret-2@127.0.0.1:2/db" });
    expect(run.stderr).toBe("ferry: --source 127.0.0.1:1/db: connect ECONNREFUSED 127.0.0.1:1\n");
    expect(JSON.parse(run.stdout)).toEqual({ error: "--source 127.0.0.1:1/db: connect ECONNREFUSED 127.0.0.1:1", side: "source", exitCode: 1 });
    expect(run.stdout + run.stderr).not.toMatch(/pw-secret/);
    expect(run.code).toBe(1);
  });

  it("without --json, stdout stays empty on failure", async () => {
    const run = await runFerry(["pg", "preflight", "--strategy", "dump"], { FERRY_SOURCE_URL: undefined, FERRY_TARGET_URL: undefined });
    expect(run.stderr).toBe("ferry: missing --source: pass --source URL or set FERRY_SOURCE_URL\n");
    expect(run.stdout).toBe("");
    expect(run.code).toBe(2);
  });
});

describe("usageLine and sideOf", () => {
  it("folds commander's suggestion into the line and drops its error: prefix", () => {
    expect(usageLine("error: unknown command 'dcotor'\n(Did you mean doctor?)\n")).toBe("unknown command 'dcotor' (did you mean doctor?)");
    expect(usageLine("error: unknown option '--bogus'\n")).toBe("unknown option '--bogus'");
  });

  it("names a side only when the failure names exactly one", () => {
    expect(sideOf(new Error("x"), "--target redis://127.0.0.1:2: connection refused")).toBe("target");
    expect(sideOf(new Error("x"), "missing FERRY_SOURCE_URL")).toBe("source");
    expect(sideOf(new Error("x"), "source and target differ in 3 tables")).toBeUndefined();
    expect(sideOf(new FerryError("versions differ", 1, "target"), "versions differ")).toBe("target");
    expect(sideOf(new Error("x"), "Heroku refused the key")).toBeUndefined();
  });
});
