// The stories whose stores move before the app, or without it (issue 31), rehearsed as
// overrides of the staging example (rehearsal/stack/stories.ts): the program's own steps
// against the stand-ins, under load through the app's real dyno processes on Heroku.
import { describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../rehearsal/servers";
import { storyStackFile } from "../../rehearsal/stack/stories";

const ROOT = join(__dirname, "..", "..");

function rehearse(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "rehearsal", "stack", "main.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

interface Step { resource: string; type?: string; op: string; ok: boolean; command?: string }
interface Up { stage: string; ok: boolean; refused?: boolean; secondUp?: boolean; steps: Step[] }
interface Report { checks: Array<{ name: string; ok: boolean; detail: string }>; lostWrites: number; lostRedisWrites: number; acknowledgedWrites: number; acknowledgedRedisWrites: number; stack: { ups: Up[] } }

function green(out: string, stderr: string): Report {
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as Report;
  expect(report.checks.filter((c) => !c.ok), stderr.slice(-4000)).toEqual([]);
  expect(report.lostWrites).toBe(0);
  expect(report.lostRedisWrites).toBe(0);
  expect(report.acknowledgedWrites).toBeGreaterThan(100);
  expect(report.acknowledgedRedisWrites).toBeGreaterThan(10);
  return report;
}

const commands = (ups: Up[]) => ups.flatMap((u) => u.steps.filter((s) => s.ok).map((s) => s.command ?? ""));
const firstUps = (ups: Up[]) => ups.filter((u) => !u.secondUp);
const common = ["--size", "small", "--hold", "1", "--split", "50", "--writes-per-second", "10", "--reads-per-second", "5", "--time-factor", "5"];

describe("the stores-first journeys", { timeout: 1_800_000 }, () => {
  test("story 002: Redis alone moves to Redis on EC2 (TLS, published) while the app stays on Heroku for good; nothing lost, the dynos serve from it", async () => {
    const out = tempDir("journey-002");
    const r = await rehearse(["--stack-file", storyStackFile(ROOT, "002", out), ...common, "--out", out]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const report = green(out, r.stderr);
    const ups = report.stack.ups;
    expect(ups.every((u) => u.ok)).toBe(true);
    const ran = commands(ups);
    // Redis's own window around the app: its cutover, then the add-on's var repointed at the target.
    expect(ran.some((c) => /ferry --json redis cutover/.test(c))).toBe(true);
    expect(ran.some((c) => /ferry --json heroku repoint/.test(c))).toBe(true);
    // Postgres never moved, and the app never left: no pg cutover, no ECS service, no DNS change.
    expect(ran.some((c) => /ferry --json (pg cutover|cutover )/.test(c))).toBe(false);
    const created = firstUps(ups).flatMap((u) => u.steps).filter((s) => s.op === "create").map((s) => s.type ?? "");
    expect(created).toContain("aws:ec2/instance:Instance");
    expect(created.filter((t) => /^aws:ecs\/service:|^cloudflare:index\/loadBalancer:/.test(t))).toEqual([]);
    expect(report.checks.find((c) => c.name.startsWith("the app that stayed on Heroku"))?.ok).toBe(true);
  });
});
