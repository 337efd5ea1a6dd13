// Running the stack rehearsal (rehearsal/stack/main.ts) from a bench, as `npm run rehearse`
// runs it, in a process of its own, and reading back the report.json it wrote. The bench
// only drives the rehearsal and reads its reports; it never changes what a run does.
import { spawn, StdioOptions } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { RehearsalReport } from "../../rehearsal/report/build";

export const ROOT = join(__dirname, "..", "..");

/**
 * One rehearsal with `args` (`--stack`, `--size`, ...) writing its report to `out` (an
 * `--out` in `args` wins):
 * resolves with its exit code (0 passed, 1 failed, 2 bad options, 3 a missing program).
 * Its output goes to `logFile` when given, else to this terminal.
 */
export function runStackRehearsal(args: string[], out: string, logFile?: string): Promise<number> {
  const fd = logFile ? openSync(logFile, "w") : undefined;
  const stdio: StdioOptions = fd === undefined ? "inherit" : ["ignore", fd, fd];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--require", "tsx/cjs", join(ROOT, "rehearsal", "stack", "main.ts"), "--out", out, ...args], { cwd: ROOT, stdio });
    child.on("close", (code) => {
      if (fd !== undefined) closeSync(fd);
      resolve(code ?? 1);
    });
  });
}

/** Remove what an earlier run left in `out`, so a run that writes no report is never read as one that did. */
export function clearReport(out: string): void {
  rmSync(out, { recursive: true, force: true });
}

/** The report.json a rehearsal wrote in `out`, or undefined when it wrote none. */
export function readRehearsalReport(out: string): RehearsalReport | undefined {
  const file = join(out, "report.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RehearsalReport) : undefined;
}
