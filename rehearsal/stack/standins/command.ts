// @pulumi/command's Command, run for real. As the provider documents
// (https://www.pulumi.com/registry/packages/command/api-docs/local/command/): `create` runs
// when the resource is created; changed inputs run `update`, or `create` again when there
// is no `update`; `delete` runs when it is deleted; a change to `triggers` replaces it
// (the engine model asks `replaceKeys`). The command runs in `/bin/sh -c` with the
// declared `environment` on top of the runner's own, and the previous run's output in
// PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR (addPreviousOutputInEnv, default true).
// A remote Command runs on this machine when it targets the runner (the rehearsal's
// runner is this machine), and over real SSH otherwise (the old box's sshd), with the
// environment sent as SSH environment variables, never on a command line.
import { ChildProcess, spawn } from "node:child_process";
import { appendFileSync, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Goal, Realized, StoredResource } from "../engine";
import { offServingPath, tempDir } from "../../servers";
import { secretStrings } from "../values";
import { droppedBeforeSession } from "../../../dataplane/traffic/remote-host";

export class CommandFailed extends Error {
  constructor(readonly exitCode: number, readonly tail: string, what: string) {
    super(`${what} exited ${exitCode}${tail ? `: ${tail}` : ""}`);
  }
}

export interface CommandHost {
  /** The runner's environment: PATH with `ferry` on it, the stand-ins' CA, the Heroku API. */
  runnerEnv: Record<string, string>;
  /** Addresses that are this machine (the runner's public and private IPs). */
  isRunner(host: string): boolean;
  /** Each command's output is kept here (ferry redacts its own; the report scrubs again). */
  logsDir: string;
  /** Called with every secret value the command receives, so reports can scrub them. */
  secret(value: string): void;
  log(line: string): void;
  /**
   * A fault the rehearsal injects into one step (e.g. the runner lost in the cutover's
   * window): given the step, a handler that receives its process (in a process group of
   * its own, so the handler can kill the whole tree), or undefined to run it untouched.
   */
  fault?(name: string, phase: Phase): ((child: ChildProcess) => void) | undefined;
}

const DIAL_ERROR_LIMIT = 10;

function isDialError(r: { code: number; stderr: string }): boolean {
  return droppedBeforeSession(r.code, r.stderr) || (r.code === 255 && /^ssh: connect to host .*: (Connection refused|Connection timed out|No route to host)/m.test(r.stderr));
}

export type Phase = "create" | "update" | "delete";

interface Connection {
  host: string;
  user: string;
  port?: number;
  privateKey?: string;
}

/** What a failed `ferry --json` step said: its error, or the verify's differences. */
function jsonSummary(stdout: string): string | undefined {
  try {
    const r = JSON.parse(stdout) as { error?: string; verify?: { differingCount?: number; differing?: Array<{ key?: string; reason?: string }> } };
    if (r.error) return r.error;
    if (r.verify && r.verify.differingCount) return `verify: ${r.verify.differingCount} difference(s), e.g. ${(r.verify.differing ?? []).slice(0, 3).map((d) => `${d.key}: ${d.reason}`).join("; ")}`;
  } catch {
    // not JSON
  }
  return undefined;
}

function lastLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).pop()?.slice(0, 300) ?? "";
}

export class CommandRunner {
  constructor(private readonly host: CommandHost) {}

  async create(goal: Goal): Promise<Realized> {
    this.noteSecrets(goal);
    return { id: `${goal.name}-${Date.now().toString(36)}`, outputs: await this.run(goal.name, goal.type, goal.inputs, "create") };
  }

  async update(old: StoredResource, goal: Goal): Promise<Realized> {
    this.noteSecrets(goal);
    const phase: Phase = goal.inputs.update ? "update" : "create";
    return { id: old.id, outputs: await this.run(goal.name, goal.type, goal.inputs, phase, old.outputs) };
  }

  async delete(old: StoredResource): Promise<void> {
    if (!old.inputs.delete) return;
    // The state's inputs come without their secret marks: every value of its environment is taken for one.
    for (const v of Object.values((old.inputs.environment as Record<string, unknown>) ?? {})) this.host.secret(String(v));
    await this.run(old.name, old.type, old.inputs, "delete", old.outputs);
  }

  /**
   * The step's secrets, for the report to scrub: what the program made a Pulumi secret in
   * its environment and its stdin, where a step's credentials go. A plain value beside
   * them (an app or add-on name) stays readable, as `pulumi preview` shows it. (Not every
   * input: a secret's other leaves, numbers and short words, would scrub the report's
   * own figures.)
   */
  private noteSecrets(goal: Goal): void {
    for (const v of [...secretStrings(goal.raw.environment), ...secretStrings(goal.raw.stdin)]) this.host.secret(v);
  }

  private async run(name: string, type: string, inputs: Record<string, unknown>, phase: Phase, previous?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const script = String(inputs[phase] ?? "");
    const environment = Object.fromEntries(Object.entries((inputs.environment as Record<string, string>) ?? {}).map(([k, v]) => [k, String(v)]));
    if (previous && inputs.addPreviousOutputInEnv !== false) {
      environment.PULUMI_COMMAND_STDOUT = String(previous.stdout ?? "");
      environment.PULUMI_COMMAND_STDERR = String(previous.stderr ?? "");
    }
    const connection = inputs.connection as Connection | undefined;
    const remote = type === "command:remote:Command" && connection && !this.host.isRunner(connection.host);
    this.host.log(`    ${phase} ${name}: ${script.length > 160 ? `${script.slice(0, 160)}...` : script}${remote ? ` (on ${connection!.host} over SSH)` : ""}`);
    const { stdout, stderr, code } = remote
      ? await this.overSsh(connection!, script, environment)
      : await this.exec("/bin/sh", ["-c", script], { ...this.host.runnerEnv, ...environment }, inputs.stdin as string | undefined, this.host.fault?.(name, phase));
    appendFileSync(join(this.host.logsDir, "commands.log"), `\n== ${new Date().toISOString()} ${phase} ${name} (exit ${code})\n$ ${script}\n${stdout}${stderr ? `\n-- stderr --\n${stderr}` : ""}\n`);
    if (code !== 0) throw new CommandFailed(code, lastLine(stderr) || jsonSummary(stdout) || lastLine(stdout), `${phase} of ${name}`);
    // The provider returns the streams without their trailing newline.
    return { ...inputs, stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") };
  }

  private overSsh(c: Connection, script: string, environment: Record<string, string>) {
    const dir = tempDir("ssh-key");
    const key = join(dir, "id");
    writeFileSync(key, (c.privateKey ?? "").replace(/\r?\n?$/, "\n"), { mode: 0o600 });
    chmodSync(key, 0o600);
    // SendEnv names the variables; their values travel inside the SSH session (the
    // server must AcceptEnv them, as remote.Command requires).
    const sendEnv = Object.keys(environment).map((k) => `-oSendEnv=${k}`);
    const args = [
      "-i", key, "-p", String(c.port ?? 22), "-oBatchMode=yes", "-oStrictHostKeyChecking=no", "-oUserKnownHostsFile=/dev/null",
      "-oLogLevel=ERROR", ...sendEnv, `${c.user}@${c.host}`, script,
    ];
    return this.dialing(() => this.exec("ssh", args, { ...this.host.runnerEnv, ...environment }));
  }

  /**
   * The provider dials again on a connection error, up to `dialErrorLimit` times (default
   * 10: https://www.pulumi.com/registry/packages/command/api-docs/remote/command/#connection).
   * ssh's connect and handshake failures are those dial errors; the command never started.
   */
  private async dialing(run: () => Promise<{ stdout: string; stderr: string; code: number }>) {
    let result = await run();
    for (let dial = 2; dial <= DIAL_ERROR_LIMIT && isDialError(result); dial++) {
      await new Promise((r) => setTimeout(r, 1000));
      result = await run();
    }
    return result;
  }

  private exec(cmd: string, args: string[], env: Record<string, string>, stdin?: string, fault?: (child: ChildProcess) => void): Promise<{ stdout: string; stderr: string; code: number }> {
    return new Promise((resolve, reject) => {
      // The runner is a machine of its own in production: its steps run off the serving path.
      const [bin, ...argv] = offServingPath([cmd, ...args]);
      const child = spawn(bin, argv, { env, stdio: ["pipe", "pipe", "pipe"], cwd: env.FERRY_PROJECT_DIR ?? process.cwd(), detached: fault !== undefined });
      fault?.(child);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ stdout, stderr, code: code ?? (signal ? 128 : 1) }));
      // A command (or ssh) that exits before reading its stdin closes the pipe: its exit code says why.
      child.stdin.on("error", () => {});
      child.stdin.end(stdin ?? "");
    });
  }
}

/**
 * The runner's PATH additions: `ferry` as `npm link` (or the EC2 runner's user data) puts
 * it there, and `cloud-init`, which on this machine has nothing left to wait for.
 */
export function ferryOnPath(projectDir: string): string {
  const dir = tempDir("ferry-bin");
  writeFileSync(join(dir, "ferry"), `#!/bin/sh\nexec node ${JSON.stringify(join(projectDir, "bin", "ferry.js"))} "$@"\n`, { mode: 0o755 });
  writeFileSync(join(dir, "cloud-init"), `#!/bin/sh\n# The rehearsal's runner is provisioned before its steps run: boot is done.\n[ "$1" = status ] && { echo "status: done"; exit 0; }\necho "cloud-init stand-in: only 'status' is known" >&2; exit 1\n`, { mode: 0o755 });
  return dir;
}
