// The stack rehearsal of both example stacks at --size small, as CI runs it: the
// program's own steps in the engine's order against the stand-ins, under load, all the
// way through, and back down from cutover. Each run takes a few minutes.
import { describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../rehearsal/servers";

const ROOT = join(__dirname, "..", "..");

function rehearse(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // As `npm run rehearse` runs it (tsx, which loads the program's modules either way).
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "rehearsal", "stack", "main.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A URL with a password that is not redacted, anywhere in the report directory. */
function leakedPasswords(dir: string): string[] {
  const leaks: string[] = [];
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, f);
    if (!f.includes(".") || !existsSync(path) || f.endsWith("state.json")) continue;
    const text = readFileSync(path, "utf8");
    for (const m of text.matchAll(/[a-z]+:\/\/[^:/\s"@]+:([^@\s"]+)@/g)) if (m[1] !== "***") leaks.push(`${f}: ${m[0]}`);
  }
  return leaks;
}

interface Up {
  stage: string;
  ok: boolean;
  refused?: boolean;
  steps: Array<{ resource: string; op: string; ok: boolean; command?: string }>;
}

function green(out: string, stderr: string) {
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  expect(report.ok, stderr.slice(-4000)).toBe(true);
  expect(report.lostWrites).toBe(0);
  expect(report.lostRedisWrites).toBe(0);
  expect(report.acknowledgedWrites).toBeGreaterThan(100);
  expect(report.acknowledgedRedisWrites).toBeGreaterThan(10);
  expect(leakedPasswords(out)).toEqual([]);
  return report as { stack: { ups: Up[] }; writeUnavailableMs: number };
}

const ran = (ups: Up[], stage: string, pattern: RegExp) =>
  ups.find((u) => u.stage === stage)?.steps.some((s) => s.ok && pattern.test(s.command ?? "")) ?? false;

const common = ["--size", "small", "--hold", "1", "--split", "50", "--writes-per-second", "10", "--reads-per-second", "5"];

describe("the stack rehearsal", { timeout: 900_000 }, () => {
  for (const stack of ["staging", "prod"] as const) {
    test(`${stack}: every stage flag up to decommission, the program's commands run for real, nothing lost`, async () => {
      const out = tempDir(`stack-${stack}`);
      const r = await rehearse(["--stack", stack, ...common, "--out", out]);
      expect(r.code, r.stderr.slice(-4000)).toBe(0);
      const report = green(out, r.stderr);
      const ups = report.stack.ups;
      expect(ups.every((u) => u.ok)).toBe(true);
      expect(ups.map((u) => u.stage)).toEqual(stack === "staging"
        ? ["provision", "replicate", "proxy 50%", "proxy 100%", "cutover", "decommission"]
        : ["provision", "replicate", "proxy", "cutover", "decommission"]);
      expect(ran(ups, "replicate", /ferry --json pg replicate --strategy (dump|logical)/)).toBe(true);
      expect(ran(ups, "cutover", /ferry --json pg cutover/)).toBe(true);
      expect(ran(ups, "cutover", /ferry --json redis cutover/)).toBe(true);
      // The cutover fenced writes and the load generator saw it.
      expect(report.writeUnavailableMs).toBeGreaterThan(0);
    });

    test(`${stack}: ${stack === "staging" ? "back down from cutover is refused before anything moves (the target took writes)" : "back down from proxy, one flag at a time, to provision"}; nothing lost`, async () => {
      const out = tempDir(`stack-${stack}-back`);
      const from = stack === "staging" ? "cutover" : "proxy";
      const r = await rehearse(["--stack", stack, ...common, "--rollback-from", from, "--out", out]);
      expect(r.code, r.stderr.slice(-4000)).toBe(0);
      const report = green(out, r.stderr);
      const ups = report.stack.ups;
      if (from === "cutover") {
        const back = ups[ups.length - 1];
        expect(back.stage).toBe("back to proxy 100%");
        expect(back.refused).toBe(true);
        // Only the guards ran: no update, no delete, no rollback command.
        expect(back.steps.every((s) => s.resource.endsWith("-guard"))).toBe(true);
        expect(back.steps.some((s) => !s.ok && /pg rollback --check/.test(s.command ?? ""))).toBe(true);
      } else {
        expect(ups.map((u) => u.stage).slice(-2)).toEqual(["back to replicate", "back to provision"]);
        expect(ups.every((u) => u.ok)).toBe(true);
        // Lowering proxy deletes the old nginx's proxy (revert); lowering replicate the replication.
        expect(ups.at(-2)!.steps.some((s) => s.op === "delete" && /ferry --json proxy revert/.test(s.command ?? ""))).toBe(true);
        expect(ups.at(-1)!.steps.some((s) => s.op === "delete" && /ferry --json pg cleanup/.test(s.command ?? ""))).toBe(true);
        expect(ups.at(-1)!.steps.some((s) => s.op === "delete" && /ferry --json redis cleanup/.test(s.command ?? ""))).toBe(true);
      }
    });
  }
});
