// The secrets audit, data side: a whole small stack rehearsal of each example stack
// (staging: Heroku's TLS Postgres and Redis, an API key, dump + live copy; prod: a box
// with logical replication into RDS, REPLICAOF into Redis on EC2, the old nginx as proxy
// over SSH) runs with recognizable passwords while the process list is polled;
// afterwards every log line, every file it wrote (reports, logs, the commands' output,
// the engine's state file, acknowledged writes, generated nginx configs) and every
// process command line seen is searched.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Leak, findLeaks } from "./leaks";

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

/** Temp dirs holding what the run generated: nginx configs (front door, old host) and the proxy's saved files. */
const GENERATED = /^ferry-(nginx|box-sites-enabled|box-state)-/;

const isText = (file: string) => !fs.readFileSync(file).includes(0);

const outDirs: string[] = [];
afterAll(() => outDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe.each(["staging", "prod"])("secrets audit: a whole stack rehearsal of %s", (stack) => {
  it("no password or key appears in logs, reports, written files or the process list", async () => {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-audit-"));
    outDirs.push(outDir);
    const drawnBefore = issued.length;
    const tmpBefore = new Set(fs.readdirSync(os.tmpdir()));
    const { parseStackOptions } = await import("../../rehearsal/stack/main");
    const { rehearseStack } = await import("../../rehearsal/stack/rehearse");
    const opts = parseStackOptions(["--stack", stack, "--size", "small", "--out", outDir, "--hold", "1", "--split", "50", "--writes-per-second", "10", "--reads-per-second", "5"]);
    const logLines: string[] = [];
    const processes = new Set<string>();
    const stop = pollProcesses(processes);
    let result;
    try {
      result = await rehearseStack(opts, (line) => logLines.push(line));
    } finally {
      stop();
    }
    expect(result.ok, logLines.slice(-15).join("\n")).toBe(true);

    // The audit is only as good as what it saw: passwords were drawn, files written, processes seen.
    expect(issued.length - drawnBefore).toBeGreaterThanOrEqual(6);
    const secrets = [...new Set(issued)];
    const files = filesUnder(outDir);
    const generated = fs.readdirSync(os.tmpdir()).filter((d) => GENERATED.test(d) && !tmpBefore.has(d))
      .flatMap((d) => filesUnder(path.join(os.tmpdir(), d))).filter(isText);
    expect(generated.some((f) => f.endsWith(".conf"))).toBe(true);
    expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(["report.md", "report.json", "state.json", "commands.log"]));
    expect([...processes].some((p) => /bin\/ferry\.js (--json )?(pg|redis|heroku)/.test(p))).toBe(true);
    expect(findLeaks("canary", `x ${secrets[0]} y`, secrets)).toHaveLength(1);

    const leaks: Leak[] = [
      ...findLeaks("log", logLines.join("\n"), secrets),
      ...files.flatMap((f) => findLeaks(path.relative(outDir, f), fs.readFileSync(f, "utf8"), secrets)),
      ...generated.flatMap((f) => findLeaks(f, fs.readFileSync(f, "utf8"), secrets)),
      ...findLeaks("ps", [...processes].join("\n"), secrets),
    ];
    expect(leaks).toEqual([]);
  }, 900_000);
});
