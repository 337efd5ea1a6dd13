// A configured add-on or hostname that Heroku does not list fails the update with the
// key's name. The failure is a rejected output (an unhandled rejection ends the program,
// as it ends `pulumi up`), so each case runs in its own process.
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runNode } from "../support/run-node";

const ROOT = path.join(__dirname, "..", "..");

function run(mismatch: string) {
  return runNode(["--import", "tsx", "tests/program/heroku-mismatch.ts"], { cwd: ROOT, env: { ...process.env, FERRY_TEST_MISMATCH: mismatch } });
}

describe("the Heroku inventory check under mocks", () => {
  it("passes when Heroku lists what ferry:source names", async () => {
    const ok = await run("none");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("inventory read: masto-web, masto-streaming");
  }, 120_000);

  it("fails on a hostname Heroku does not list", async () => {
    const bad = await run("hostname");
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('ferry:source.apps[1].hostnames[0]: "streaming.staging.social.example.com" is not a domain of Heroku app masto-streaming');
  }, 120_000);

  it("fails on an add-on Heroku does not list", async () => {
    const bad = await run("addon");
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('ferry:source.postgres.addon: "postgresql-curved-12345" is not an add-on of Heroku app masto-web');
  }, 120_000);
});
