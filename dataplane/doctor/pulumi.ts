// The Pulumi CLI and the stack, read the way the program will get them: `pulumi config
// --json --show-secrets` gives every key's value (objects as JSON text) and whether it was
// stored as a secret. The values stay in this process: no finding prints one.
import { execFile } from "node:child_process";
import { redact } from "../cli/common";
import { Finding, finding } from "./findings";

/** `pulumi config --json`: key -> its value (objects as JSON text) and whether it is a secret. */
type ConfigJson = Record<string, { value?: string; secret?: boolean }>;

export interface StackConfig {
  /** Full key (`ferry:source`) -> value, as Pulumi hands them to the program. */
  raw: Record<string, string>;
  isSecret(key: string): boolean;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  missing: boolean;
}

function runPulumi(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile("pulumi", args, { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) => {
      const missing = (err as NodeJS.ErrnoException | null)?.code === "ENOENT";
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr, missing });
    });
    child.stdin?.end();
  });
}

const firstLine = (text: string) => redact(text.trim().split("\n").find((l) => l.trim() !== "") ?? "no output").trim();

/**
 * The CLI's version, then the stack's configuration. Undefined config when either is
 * missing: every later check needs it.
 */
export async function readStack(stack: string, dir: string, env: NodeJS.ProcessEnv): Promise<{ findings: Finding[]; config?: StackConfig }> {
  const version = await runPulumi(["version"], dir, env);
  if (version.missing) return { findings: [finding("pulumi", "block", "the Pulumi CLI is not on PATH; install it: https://www.pulumi.com/docs/iac/download-install/")] };
  if (version.code !== 0) return { findings: [finding("pulumi", "block", `\`pulumi version\` failed: ${firstLine(version.stderr || version.stdout)}`)] };
  const findings = [finding("pulumi", "ok", version.stdout.trim())];
  const listed = await runPulumi(["config", "--json", "--show-secrets", "--stack", stack, "--non-interactive"], dir, env);
  if (listed.code !== 0) {
    findings.push(finding(`stack ${stack}`, "block", `\`pulumi config --stack ${stack}\` failed in ${dir}: ${firstLine(listed.stderr || listed.stdout)}`));
    return { findings };
  }
  let parsed: ConfigJson;
  try {
    parsed = JSON.parse(listed.stdout) as ConfigJson;
  } catch {
    findings.push(finding(`stack ${stack}`, "block", "`pulumi config --json` printed no JSON"));
    return { findings };
  }
  const raw = Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v?.value === "string").map(([k, v]) => [k, v.value as string]));
  findings.push(finding(`stack ${stack}`, "ok", `${Object.keys(raw).length} config keys read`));
  return { findings, config: { raw, isSecret: (key) => parsed[key]?.secret === true } };
}
