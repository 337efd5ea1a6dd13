// Run a node script in a child process without blocking the test's worker. spawnSync
// would: vitest's worker must answer its runner within a fixed 60 s RPC deadline, and a
// slow child on a busy machine outlasts it, failing a green run with "[vitest-worker]:
// Timeout calling onTaskUpdate" (vitest-dev/vitest#8164: use an asynchronous spawn).
import { spawn } from "node:child_process";

export interface NodeRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runNode(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<NodeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}
