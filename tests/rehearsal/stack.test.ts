// The stack rehearsal of both example stacks at --size small, as CI runs it: the
// program's own steps in the engine's order against the stand-ins, under load, all the
// way through, and back down. One file, so the runs take turns: each stack's operator
// port forwards and the EC2 runner's RDS bundle are machine-wide, as on a real runner.
//
// The forward runs are also the secrets audit, data side: they run in this process with
// recognizable passwords (every 12+ byte random draw is one) while the process list is
// polled; afterwards every log line, every file they wrote (reports, logs, the commands'
// output, the engine's state file, acknowledged writes, generated nginx configs) and
// every process command line seen is searched.
import { describe, expect, test, vi } from "vitest";
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../rehearsal/servers";
import { Leak, findLeaks } from "../safety/leaks";

/** Every password and key the rehearsal draws is one of these: recognizable, and recorded. */
const issued = vi.hoisted(() => [] as string[]);

vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  let n = 0;
  // Passwords and keys are 12+ random bytes; shorter draws (run ids) stay random.
  const randomBytes = ((size: number, ...rest: unknown[]) => {
    if (size < 12 || rest.length > 0) return (real.randomBytes as (...a: unknown[]) => Buffer)(size, ...rest);
    const bytes = Buffer.alloc(size, `audit${String(++n).padStart(2, "0")}`);
    issued.push(bytes.toString("hex"), bytes.toString("base64"));
    return bytes;
  }) as typeof real.randomBytes;
  return { ...real, default: { ...real, randomBytes }, randomBytes };
});

function pollProcesses(seen: Set<string>): () => void {
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    execFile("ps", ["-eo", "args", "--no-headers"], { maxBuffer: 16 * 1024 * 1024 }, (_err, stdout) => {
      for (const line of (stdout ?? "").split("\n")) if (line.trim()) seen.add(line.trim());
      setTimeout(tick, 150);
    });
  };
  tick();
  return () => {
    stopped = true;
  };
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

/** Temp dirs holding what the run generated: nginx configs and the box's site files. */
const GENERATED = /^ferry-(nginx|box-sites-enabled|box-state)-/;
const isText = (file: string) => !fs.readFileSync(file).includes(0);

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
    // "***" is ferry's redaction, "REDACTED" Sidekiq's (it logs its Redis URL at boot with
    // the password replaced: the app's REDIS_URL names a user, the pooler's client login).
    for (const m of text.matchAll(/[a-z]+:\/\/[^:/\s"@]+:([^@\s"]+)@/g)) if (!["***", "REDACTED"].includes(m[1])) leaks.push(`${f}: ${m[0]}`);
  }
  return leaks;
}

interface Up {
  stage: string;
  ok: boolean;
  refused?: boolean;
  secondUp?: boolean;
  steps: Array<{ resource: string; op: string; ok: boolean; command?: string; verdict?: string; what?: string }>;
}

function green(out: string, stderr: string) {
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  const failed = (report.checks as Array<{ name: string; ok: boolean; detail: string }>).filter((c) => !c.ok);
  expect(failed, stderr.slice(-4000)).toEqual([]);
  expect(report.lostWrites).toBe(0);
  expect(report.lostRedisWrites).toBe(0);
  expect(report.acknowledgedWrites).toBeGreaterThan(100);
  expect(report.acknowledgedRedisWrites).toBeGreaterThan(10);
  expect(leakedPasswords(out)).toEqual([]);
  return report as { stack: { ups: Up[] }; writeUnavailableMs: number; cutoverWriteUnavailableMs: number; atCutover: { requests: number } };
}

const ran = (ups: Up[], stage: string, pattern: RegExp) =>
  ups.find((u) => u.stage === stage)?.steps.some((s) => s.ok && pattern.test(s.command ?? "")) ?? false;

// ECS's and the load balancer's times divided by 5 (Fargate's start, health checks, draining): CI stays quick.
const common = ["--size", "small", "--hold", "1", "--split", "50", "--writes-per-second", "10", "--reads-per-second", "5", "--time-factor", "5"];
/** Each stage's first up (the second up of each stage follows it, labelled "(again)"). */
const firstUps = (ups: Up[]) => ups.filter((u) => !u.secondUp);

describe("the stack rehearsal", { timeout: 1_800_000 }, () => {
  for (const stack of ["staging", "prod"] as const) {
    test(`${stack}: every stage flag up to decommission, the program's commands run for real, nothing lost, no secret anywhere`, async () => {
      const out = tempDir(`stack-${stack}`);
      const drawnBefore = issued.length;
      const tmpBefore = new Set(fs.readdirSync(os.tmpdir()));
      const { parseStackOptions } = await import("../../rehearsal/stack/main");
      const { rehearseStack } = await import("../../rehearsal/stack/rehearse");
      const logLines: string[] = [];
      const processes = new Set<string>();
      const stop = pollProcesses(processes);
      try {
        await rehearseStack(parseStackOptions(["--stack", stack, ...common, "--out", out]), (line) => logLines.push(line));
      } finally {
        stop();
      }
      const report = green(out, logLines.slice(-40).join("\n"));
      const ups = report.stack.ups;
      expect(ups.every((u) => u.ok)).toBe(true);
      // Both split by weight at Cloudflare (prod: a box with weightedSplit, its nginx forwarding at 100%).
      expect(firstUps(ups).map((u) => u.stage)).toEqual(["provision", "replicate", "proxy 50%", "proxy 100%", "cutover", "decommission"]);
      // Every stage applied twice, the second up judged step by step.
      expect(ups.filter((u) => u.secondUp).map((u) => u.stage)).toEqual(firstUps(ups).map((u) => `${u.stage} (again)`));
      expect(ups.filter((u) => u.secondUp).flatMap((u) => u.steps).every((s) => s.verdict === "read" || s.verdict === "change")).toBe(true);
      if (stack === "prod") expect(ran(ups, "proxy 100%", /ferry --json proxy apply/)).toBe(true);
      expect(ran(ups, "replicate", /ferry --json pg replicate --strategy (dump|logical|capture)/)).toBe(true);
      // Both stores move: one `ferry cutover` for the two, then Redis's gate on it.
      expect(ran(ups, "cutover", /ferry --json cutover --strategy (dump|logical|capture) --strategy (copy|replicaof)/)).toBe(true);
      expect(ran(ups, "cutover", /ferry --json redis status --require-cutover/)).toBe(true);
      // The cutover fenced writes (ferry's own window), with the load running through its
      // up. The load generator need not see it: through the pooler writes wait, not fail
      // (how many failed and how long one waited is the report's figure, not a test's).
      expect(report.cutoverWriteUnavailableMs).toBeGreaterThan(0);
      expect(report.atCutover.requests).toBeGreaterThan(0);

      // The audit is only as good as what it saw: passwords were drawn, files written, processes seen.
      expect(issued.length - drawnBefore).toBeGreaterThanOrEqual(6);
      const secrets = [...new Set(issued)];
      const files = filesUnder(out);
      const generated = fs.readdirSync(os.tmpdir()).filter((d) => GENERATED.test(d) && !tmpBefore.has(d))
        .flatMap((d) => filesUnder(path.join(os.tmpdir(), d))).filter(isText);
      expect(generated.some((f) => f.endsWith(".conf"))).toBe(true);
      expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(["report.md", "report.json", "state.json", "commands.log"]));
      // ferry as the runner runs it: bin/ferry.js, or the EC2 runner's `ferry` link to it.
      expect([...processes].some((p) => /(bin\/ferry\.js|\/ferry) (--json )?(pg|redis|heroku|box|cutover)\b/.test(p))).toBe(true);
      expect(findLeaks("canary", `x ${secrets[0]} y`, secrets)).toHaveLength(1);
      const leaks: Leak[] = [
        ...findLeaks("log", logLines.join("\n"), secrets),
        ...files.filter(isText).flatMap((f) => findLeaks(path.relative(out, f), fs.readFileSync(f, "utf8"), secrets)),
        ...generated.flatMap((f) => findLeaks(f, fs.readFileSync(f, "utf8"), secrets)),
        ...findLeaks("ps", [...processes].join("\n"), secrets),
      ];
      expect(leaks).toEqual([]);
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
        const back = firstUps(ups);
        expect(back.map((u) => u.stage).slice(-3)).toEqual(["back to proxy 50%", "back to replicate", "back to provision"]);
        expect(ups.every((u) => u.ok)).toBe(true);
        // Lowering the share below 100% brings the split back and reverts the old nginx's
        // forward; lowering proxy removes the split; lowering replicate the replication.
        expect(back.at(-3)!.steps.some((s) => s.op === "create" && /-lb-0$/.test(s.resource))).toBe(true);
        expect(back.at(-3)!.steps.some((s) => s.op === "delete" && /ferry --json proxy revert/.test(s.command ?? ""))).toBe(true);
        expect(back.at(-2)!.steps.some((s) => s.op === "delete" && /-lb-0$/.test(s.resource))).toBe(true);
        expect(back.at(-1)!.steps.some((s) => s.op === "delete" && /ferry --json pg cleanup/.test(s.command ?? ""))).toBe(true);
        expect(back.at(-1)!.steps.some((s) => s.op === "delete" && /ferry --json redis cleanup/.test(s.command ?? ""))).toBe(true);
      }
    });
  }

  test("staging: the cutover's in-window verify fails once (injected); lowering the flag gives every source back; the workers, never quieted (Redis through the pooler's proxy), run every job; the retry goes through; nothing lost", async () => {
    const out = tempDir("stack-staging-failed");
    const r = await rehearse(["--stack", "staging", ...common, "--fail-cutover-once", "verify", "--out", out]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const report = green(out, r.stderr);
    const ups = firstUps(report.stack.ups);
    expect(ups.map((u) => u.stage).slice(-4)).toEqual([
      "cutover (broken: its in-window verify failed once (injected), the sources left fenced)", "back to proxy 100% after the failed cutover", "cutover", "decommission",
    ]);
    const broken = ups.at(-4)!;
    expect(broken.ok).toBe(false);
    // Through the proxy the cutover quiets no Sidekiq (nothing would restart it): the
    // report's job checks (green) say every job ran exactly once, across the failed cutover.
    const cutovers = broken.steps.filter((s) => /ferry --json cutover /.test(s.command ?? ""));
    expect(cutovers.some((s) => !s.ok && /--pooler-redis/.test(s.command ?? ""))).toBe(true);
    expect(cutovers.some((s) => /--sidekiq/.test(s.command ?? ""))).toBe(false);
    // The way back ran the stores' rollbacks.
    expect(ups.at(-3)!.steps.some((s) => s.op === "delete" && /ferry --json redis rollback/.test(s.command ?? ""))).toBe(true);
  });
});
