// Running the real data plane: `node bin/ferry.js --json <args>` as a child process,
// connection URLs (with their passwords) only in the child's environment, one JSON
// object parsed from stdout. The command line we record never carries a secret.
import { spawn, ChildProcess } from "node:child_process";
import { join } from "node:path";
import { redact } from "../migrations/cli/common";
import { onExit } from "./servers";

const FERRY_BIN = join(__dirname, "..", "bin", "ferry.js");

export interface FerryResult {
  command: string;
  exitCode: number;
  json?: Record<string, unknown>;
  stderr: string;
  durationMs: number;
  /** The sub-command does not exist (yet) in this build of ferry. */
  unavailable: boolean;
}

/** The environment variables ferry reads its URLs and keys from. */
export type FerryEnv = Partial<Record<"FERRY_SOURCE_URL" | "FERRY_TARGET_URL" | "FERRY_SOURCE_REDIS_URL" | "FERRY_TARGET_REDIS_URL" | "HEROKU_API_KEY" | "HEROKU_API_URL" | "NODE_EXTRA_CA_CERTS" | "APP_SCHEMA", string>>;

export function commandLine(args: string[]): string {
  return redact(["ferry", ...args].join(" "));
}

/** commander's "unknown command" / "unknown option" for a command the data plane has not grown yet. */
export function isUnavailable(exitCode: number, stderr: string): boolean {
  return exitCode !== 0 && /unknown command|unknown option|too many arguments/i.test(stderr);
}

function parseJson(stdout: string): Record<string, unknown> | undefined {
  const text = stdout.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // a stray line before the object: take the last {...} block
    const start = text.lastIndexOf("\n{");
    try {
      return start >= 0 ? JSON.parse(text.slice(start + 1)) : undefined;
    } catch {
      return undefined;
    }
  }
}

export function spawnFerry(args: string[], env: FerryEnv): ChildProcess {
  const child = spawn(process.execPath, [FERRY_BIN, "--json", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const forget = onExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  child.once("exit", forget);
  return child;
}

export function runFerry(args: string[], env: FerryEnv, timeoutMs = 30 * 60_000): Promise<FerryResult> {
  const started = Date.now();
  const child = spawnFerry(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
  return new Promise((resolve) => {
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const exitCode = code ?? (signal ? 128 : 1);
      resolve({
        command: commandLine(args),
        exitCode,
        json: parseJson(stdout),
        stderr: redact(stderr.trim()),
        durationMs: Date.now() - started,
        unavailable: isUnavailable(exitCode, stderr),
      });
    });
  });
}

/** One line saying why a ferry command did not succeed. */
export function failureReason(args: string[], r: FerryResult): string {
  const name = ["ferry", ...args.filter((a) => !a.startsWith("-")).slice(0, 2)].join(" ");
  if (r.unavailable) return `${name} is not available in this build of ferry (${r.stderr.split("\n")[0]})`;
  const said = r.stderr.split("\n").filter(Boolean).pop() ?? (r.json ? JSON.stringify(r.json).slice(0, 200) : "no output");
  return `${name} exited ${r.exitCode}: ${said}`;
}
