// `rebuild --command "..."`: some data is cheaper to rebuild than to copy (Mastodon's
// home feeds: `tootctl feeds build`). Run the app's own command against the target: the
// target's URL reaches the command through an environment variable (REDIS_URL unless
// told otherwise), never through its arguments. Report the time, exit status and keys.
import { spawn } from "node:child_process";
import { redact } from "../cli/common";
import { DbClients, Endpoint, parseRedisUrl } from "./connection";
import { dataKeyCounts } from "./data-keys";

export interface RebuildOptions {
  command: string;
  target: Endpoint;
  envVar: string;
  timeoutMs: number;
}

export interface RebuildResult {
  ok: boolean;
  exitCode: number | null;
  signal?: string;
  timedOut: boolean;
  seconds: number;
  targetKeysBefore: number;
  targetKeysAfter: number;
  outputTail: string[];
}

async function totalKeys(target: Endpoint): Promise<number> {
  const clients = new DbClients(target);
  try {
    return [...(await dataKeyCounts(clients)).values()].reduce((a, b) => a + b, 0);
  } finally {
    await clients.close();
  }
}

/** The command has the URL in its environment and may print the password on its own, not as a URL. */
function withoutPassword(line: string, target: Endpoint): string {
  const { password } = parseRedisUrl(target.url, target.flag);
  return password ? line.split(password).join("***") : line;
}

export async function rebuild(opts: RebuildOptions): Promise<RebuildResult> {
  const targetKeysBefore = await totalKeys(opts.target);
  const started = Date.now();
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 20));
  };
  const child = spawn("sh", ["-c", opts.command], {
    env: { ...process.env, [opts.envVar]: opts.target.url },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so a timeout stops everything it started
  });
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  }, opts.timeoutMs);
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, sig) => resolve([code, sig]));
  }).finally(() => clearTimeout(timer));
  const seconds = (Date.now() - started) / 1000;
  return {
    ok: exitCode === 0 && !timedOut,
    exitCode,
    signal: signal ?? undefined,
    timedOut,
    seconds,
    targetKeysBefore,
    targetKeysAfter: await totalKeys(opts.target),
    outputTail: lines.map((line) => withoutPassword(redact(line), opts.target)),
  };
}
