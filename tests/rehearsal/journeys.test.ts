// The stories whose stores move before the app, or without it (issue 31), rehearsed as
// overrides of the staging example (rehearsal/stack/stories.ts): the program's own steps
// against the stand-ins, under load through the app's real dyno processes on Heroku.
import { describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../rehearsal/servers";

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
    const r = await rehearse(["--story", "002", ...common, "--out", out]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const report = green(out, r.stderr);
    const ups = report.stack.ups;
    expect(ups.every((u) => u.ok)).toBe(true);
    const ran = commands(ups);
    // Redis's own window around the app: its cutover, then the add-on's var repointed at the target.
    expect(ran.some((c) => /ferry --json redis cutover/.test(c))).toBe(true);
    expect(ran.some((c) => /ferry --json heroku repoint/.test(c))).toBe(true);
    // Postgres never moved.
    expect(ran.some((c) => /ferry --json (pg cutover|cutover )/.test(c))).toBe(false);
    // The app never left: no split, the hostnames' records adopted as they are and never changed.
    const steps = firstUps(ups).flatMap((u) => u.steps);
    expect(steps.filter((s) => /^cloudflare:index\/loadBalancer:/.test(s.type ?? ""))).toEqual([]);
    const records = steps.filter((s) => s.type === "cloudflare:index/dnsRecord:DnsRecord" && /-dns-\d+$/.test(s.resource));
    expect(records.length).toBeGreaterThan(0);
    expect(records.filter((s) => s.op !== "import" && s.op !== "read")).toEqual([]);
    expect(report.checks.find((c) => c.name.startsWith("the app that stayed on Heroku"))?.ok).toBe(true);
  });

  test("story 002: back down from Redis's cutover is refused before anything moves (the target took the app's writes); nothing lost, the dynos stay on it", async () => {
    const out = tempDir("journey-002-back");
    const r = await rehearse(["--story", "002", ...common, "--rollback-from", "cutover", "--out", out]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const report = green(out, r.stderr);
    const back = report.stack.ups[report.stack.ups.length - 1];
    expect(back.stage.startsWith("back to ")).toBe(true);
    expect(back.refused).toBe(true);
    expect(back.steps.every((s) => s.resource.endsWith("-guard"))).toBe(true);
    expect(back.steps.some((s) => !s.ok && /redis rollback --check/.test(s.command ?? ""))).toBe(true);
    expect(report.checks.find((c) => c.name.startsWith("the app that stayed on Heroku"))?.ok).toBe(true);
  });

  test("story 000: Postgres cut over with the app on Heroku, then Redis, then the app; nothing lost, the dynos served from each moved store until the app moved", async () => {
    const out = tempDir("journey-000");
    const r = await rehearse(["--story", "000", ...common, "--out", out]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const report = green(out, r.stderr);
    const ups = report.stack.ups;
    expect(ups.every((u) => u.ok)).toBe(true);
    const labels = firstUps(ups).map((u) => u.stage);
    expect(labels.slice(labels.indexOf("cutover"))).toEqual(["cutover", "cutover: Redis", "the app: proxy 50%", "the app: proxy 100%", "cutover: the app", "decommission"]);
    const by = (label: string) => commands(ups.filter((u) => u.stage === label));
    // Each store in a window of its own, the add-on's var repointed each time; the stores never in one `ferry cutover`.
    expect(by("cutover").some((c) => /ferry --json pg cutover/.test(c))).toBe(true);
    expect(by("cutover").some((c) => /ferry --json redis cutover/.test(c))).toBe(false);
    expect(by("cutover: Redis").some((c) => /ferry --json redis cutover/.test(c))).toBe(true);
    for (const label of ["cutover", "cutover: Redis"]) expect(by(label).some((c) => /ferry --json heroku repoint/.test(c))).toBe(true);
    expect(commands(ups).some((c) => /ferry --json cutover /.test(c))).toBe(false);
    // Only the app's own cutover stops the dynos for good.
    expect(by("cutover: the app").some((c) => /ferry --json heroku scale .*=0/.test(c))).toBe(true);
    expect(report.checks.find((c) => c.name.startsWith("the app that stayed on Heroku"))?.ok).toBe(true);
  });
});
