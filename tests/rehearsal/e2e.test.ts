// One whole rehearsal per source kind at --size small, as CI runs it: the real
// servers, the real ferry CLI, the real load. Each takes about a minute.
import { describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { portOpen, tempDir } from "../../rehearsal/servers";

const ROOT = join(__dirname, "..", "..");

function rehearse(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--require", "tsx/cjs", join(ROOT, "rehearsal", "main.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      for (const line of String(d).split("\n")) onLine?.(line, () => child.kill("SIGINT"));
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A URL with a password that is not redacted, anywhere in the report directory. */
function leakedPasswords(dir: string): string[] {
  const leaks: string[] = [];
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, f);
    if (!f.includes(".") || !existsSync(path)) continue;
    const text = readFileSync(path, "utf8");
    for (const m of text.matchAll(/[a-z]+:\/\/[^:/\s"@]+:([^@\s"]+)@/g)) if (m[1] !== "***") leaks.push(`${f}: ${m[0]}`);
  }
  return leaks;
}

function expectGreenReport(out: string, stderr: string): void {
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  expect(report.ok, stderr.slice(-3000)).toBe(true);
  expect(report.lostWrites).toBe(0);
  expect(report.acknowledgedWrites).toBeGreaterThan(100);
  expect(report.stages.map((s: { name: string; outcome: string }) => `${s.name}:${s.outcome}`)).toEqual([
    "source:ok", "provision:ok", "replicate:ok", "proxy:ok", "cutover:ok", "decommission:ok", "checks:ok", "cleanup:ok",
  ]);
  // the cutover fenced writes, and the load generator saw it
  expect(report.writeUnavailableMs).toBeGreaterThan(0);
  expect(typeof report.cutoverWriteUnavailableMs).toBe("number");
  expect(report.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
  expect(report.checks).toHaveLength(5);
  // the weighted split really split: both apps served during the proxy stage
  const proxy = report.stages.find((s: { name: string }) => s.name === "proxy");
  expect(Object.keys(proxy.servedShare).sort()).toEqual(["source", "target"]);
  expect(readFileSync(join(out, "report.md"), "utf8")).toContain("PASSED");
  expect(readFileSync(join(out, "report.svg"), "utf8")).toContain("cutover (ok)");
  expect(leakedPasswords(out)).toEqual([]);
}

// One weighted step (50%) keeps CI short; the default run steps 10% then 50%.
const common = ["--size", "small", "--hold", "1", "--split", "50", "--writes-per-second", "20", "--reads-per-second", "10"];

describe("npm run rehearse --size small", () => {
  test("--source vultr (physical standby, Redis by REPLICAOF, old nginx proxying)", async () => {
    const out = tempDir("rehearsal-vultr");
    const r = await rehearse(["--source", "vultr", ...common, "--out", out]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expectGreenReport(out, r.stderr);
  }, 240_000);

  test("--source heroku (maintenance window, dump, Redis live copy from a source refusing PSYNC)", async () => {
    const out = tempDir("rehearsal-heroku");
    const r = await rehearse(["--source", "heroku", ...common, "--out", out]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expectGreenReport(out, r.stderr);
  }, 240_000);

  test("Ctrl-C stops every server it started", async () => {
    const out = tempDir("rehearsal-sigint");
    const ports: number[] = [];
    const r = await rehearse(["--source", "vultr", ...common, "--out", out], (line, kill) => {
      const pg = /source PostgreSQL on port (\d+)/.exec(line);
      if (pg) ports.push(Number(pg[1]));
      const door = /through the front door http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (door) ports.push(Number(door[1]));
      if (/stage provision: started/.test(line)) kill();
    });
    expect(r.code).toBe(130);
    expect(ports).toHaveLength(2);
    for (const p of ports) expect(await portOpen(p)).toBe(false);
  }, 120_000);
});
