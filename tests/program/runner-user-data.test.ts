// The EC2 runner's boot script: it must wait for its route out (the Elastic IP comes
// after the instance) instead of failing apt-get, and refuse a node older than ferry needs.
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { describe, expect, it } from "vitest";
import { requireNodeScript, runnerUserData, waitForRouteScript } from "../../components/target/userData";

const run = promisify(execFile);

/** Run a shell snippet; resolves with its exit code and stderr. */
async function bash(script: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run("bash", ["-c", script], { env });
    return { code: 0, stderr };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A directory holding a fake `node` that prints the given version. */
function fakeNode(version: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-node-"));
  fs.writeFileSync(path.join(dir, "node"), `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  return dir;
}

describe("runner user data", () => {
  const script = runnerUserData({ ferryRepo: "https://github.com/example/ferry.git", ferryRef: "main" });

  it("is valid bash, waits for the route before apt-get, and checks node before installing ferry", () => {
    execFileSync("bash", ["-n"], { input: script });
    const order = ["ferry_wait_for_route\n", "apt-get -o Acquire::Retries=5 update", "ferry_require_node\n", "git clone", "npm ci"].map((s) => script.lastIndexOf(s));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(script).toContain("AcceptEnv FERRY_* HEROKU_*");
  });

  it("waits until the route answers instead of failing at once", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/debian/dists/trixie/Release`;
    let server: http.Server | undefined;
    // The "Elastic IP" arrives a few seconds after boot starts.
    const late = setTimeout(() => { server = http.createServer((_, res) => res.end("ok")).listen(port, "127.0.0.1"); }, 3000);
    const started = Date.now();
    const result = await bash(`${waitForRouteScript(url, 60)}\nferry_wait_for_route`);
    clearTimeout(late);
    server?.close();
    expect(result.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
  });

  it("gives up at its deadline with one line naming what it waited for", async () => {
    const port = await freePort();
    const result = await bash(`${waitForRouteScript(`http://127.0.0.1:${port}/`, 3)}\nferry_wait_for_route`);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`ferry: no route to http://127.0.0.1:${port}/ after 3s (is the Elastic IP associated?)`);
  });

  it.each([
    ["v18.19.0", 1],
    ["v20.18.3", 1],
    ["v20.19.2", 0],
    ["v22.3.0", 0],
  ])("node %s: exit %i", async (version, code) => {
    const env = { ...process.env, PATH: `${fakeNode(version)}:/usr/bin:/bin` };
    const result = await bash(`${requireNodeScript()}\nferry_require_node`, env);
    expect(result.code).toBe(code);
    if (code) expect(result.stderr).toContain(`ferry: needs node 20.19+, found ${version}`);
  });
});
