// Run the real `ferry` program in this process (no tsx start-up per call) and capture
// what it prints and the exit code it sets, exactly as a shell would see them.
import { main } from "../../../dataplane/cli/main";

export interface FerryRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

export async function runFerry(args: string[], env: NodeJS.ProcessEnv = {}): Promise<FerryRun> {
  const out: string[] = [];
  const err: string[] = [];
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  const savedEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    savedEnv[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  process.stdout.write = ((chunk: string | Uint8Array) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await main(["node", "ferry", ...args]);
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  const stdout = out.join("");
  return { code, stdout, stderr: err.join(""), json: <T>() => JSON.parse(stdout) as T };
}
