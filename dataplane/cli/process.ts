// Running programs from the data plane (and the tools that start servers for it): a
// program to completion with its stderr in the error, and waiting for a condition.
import { execFile } from "node:child_process";
import { userInfo } from "node:os";

export const isRoot = (): boolean => userInfo().uid === 0;

/** Run a program to completion; reject with its stderr on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${cmd} ${args[0] ?? ""} failed: ${stderr.trim() || err.message}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    // A program that exits before reading its input closes the pipe: its exit code says why.
    child.stdin?.on("error", () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Wait until `check` resolves true, or fail after `timeoutMs` with `what` in the message. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
}
