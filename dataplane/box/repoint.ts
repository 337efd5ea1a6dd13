// `ferry box repoint`: the box's app keeps running on the box while a store moved (issue
// 31): one variable of its env file set to the target's URL, read from an environment
// variable (never argv), then its units restarted on it. The variable's old lines are kept
// beside the file (ENV_FILE.ferry-VAR, mode 0600) for `--restore`, which stops the units
// and writes them back: the cutover's way back starts the units once the store's rollback
// ran. Files travel over the SSH session (stdout, heredocs on the script's stdin): no value
// reaches a command line, a log line or ferry's output, which names only the variable.
import { Command } from "commander";
import { randomBytes } from "node:crypto";
import { action, emit, FerryError, GlobalOptions } from "../cli/common";
import { describeTarget, HostTarget, parseHostKey, parseHostTarget, runScript, SshOptions } from "../traffic/remote-host";
import { restoreEnvVar, setEnvVar } from "./env-file";
import { shellQuoteArg } from "./quote";

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const UNIT = /^[A-Za-z0-9@._-]+$/;

interface RepointFlags {
  host: string;
  envFile: string;
  var: string;
  fromEnv?: string;
  restore?: boolean;
  unit: string[];
  sshKeyEnv?: string;
  knownHosts?: string;
  hostKey?: string;
  sudo?: boolean;
}

/** Where the variable's old lines wait for `--restore`. */
export function savedPath(envFile: string, variable: string): string {
  return `${envFile}.ferry-${variable}`;
}

/** A script that replaces `path` with `body` in one rename, keeping `reference`'s owner and mode (or 0600). */
export function writeFileScript(path: string, body: string, reference?: string): string {
  const end = `FERRY_ENV_${randomBytes(8).toString("hex")}`;
  const next = shellQuoteArg(`${path}.ferry-new`);
  const keep = reference
    ? `chown --reference=${shellQuoteArg(reference)} ${next}\nchmod --reference=${shellQuoteArg(reference)} ${next}\n`
    : `chmod 0600 ${next}\n`;
  return `set -e\numask 077\ncat > ${next} <<'${end}'\n${body}${end}\n${keep}mv -f -- ${next} ${shellQuoteArg(path)}\n`;
}

function lastLine(text: string, code: number): string {
  return text.trim().split("\n").pop() || `exit ${code}`;
}

class Box {
  constructor(private readonly target: HostTarget, private readonly ssh: SshOptions) {}

  get name(): string {
    return describeTarget(this.target);
  }

  /** The file's text, or undefined when it does not exist. */
  async read(path: string): Promise<string | undefined> {
    const r = await runScript(this.target, `if [ -e ${shellQuoteArg(path)} ]; then cat -- ${shellQuoteArg(path)}; else exit 3; fi\n`, this.ssh);
    if (r.code === 3) return undefined;
    if (r.code !== 0) throw new FerryError(`${path} on ${this.name}: ${lastLine(r.stderr.replace(/^cat: /, ""), r.code)}`, 1);
    return r.stdout;
  }

  async run(script: string, what: string): Promise<void> {
    const r = await runScript(this.target, script, this.ssh);
    if (r.code !== 0) throw new FerryError(`${what} on ${this.name}: ${lastLine(r.stderr, r.code)}`, 1);
  }
}

function unitsScript(verb: "restart" | "stop", units: string[]): string {
  const quoted = units.map(shellQuoteArg).join(" ");
  return verb === "restart" ? `systemctl enable ${quoted}\nsystemctl restart ${quoted}\n` : `systemctl disable --now ${quoted}\n`;
}

/** Set the variable (its old lines kept once: a rerun after a failure keeps the first ones), then restart the units. */
async function pointAt(box: Box, flags: RepointFlags, value: string): Promise<{ action: "set"; restarted: string[] }> {
  const text = await box.read(flags.envFile);
  if (text === undefined) throw new FerryError(`--env-file ${flags.envFile} on ${box.name}: no such file`, 1);
  const { text: next, previous } = setEnvVar(text, flags.var, value);
  const saved = savedPath(flags.envFile, flags.var);
  if ((await box.read(saved)) === undefined) await box.run(writeFileScript(saved, `${JSON.stringify({ lines: previous })}\n`), `keeping ${flags.var}'s old lines`);
  await box.run(writeFileScript(flags.envFile, next, flags.envFile), `writing ${flags.envFile}`);
  if (flags.unit.length > 0) await box.run(unitsScript("restart", flags.unit), "systemctl restart");
  return { action: "set", restarted: flags.unit };
}

/** The units stopped, then the variable's old lines back; nothing kept means nothing to undo. */
async function pointBack(box: Box, flags: RepointFlags): Promise<{ action: "restored" | "nothing-to-restore"; stopped: string[] }> {
  const saved = savedPath(flags.envFile, flags.var);
  const kept = await box.read(saved);
  if (kept === undefined) return { action: "nothing-to-restore", stopped: [] };
  const previous = (JSON.parse(kept) as { lines: string[] }).lines;
  if (flags.unit.length > 0) await box.run(unitsScript("stop", flags.unit), "systemctl stop");
  const text = (await box.read(flags.envFile)) ?? "";
  await box.run(writeFileScript(flags.envFile, restoreEnvVar(text, flags.var, previous), flags.envFile), `writing ${flags.envFile}`);
  await box.run(`rm -f -- ${shellQuoteArg(saved)}\n`, `removing ${saved}`);
  return { action: "restored", stopped: flags.unit };
}

function checkFlags(flags: RepointFlags): { target: HostTarget; value?: string } {
  const target = parseHostTarget(flags.host);
  if (!flags.envFile.startsWith("/")) throw new FerryError(`--env-file must be an absolute path on the box: ${JSON.stringify(flags.envFile)}`, 2);
  if (!VAR_NAME.test(flags.var)) throw new FerryError(`--var must be a variable name (letters, digits, _): ${JSON.stringify(flags.var)}`, 2);
  const badUnit = flags.unit.find((u) => !UNIT.test(u));
  if (badUnit !== undefined) throw new FerryError(`--unit must be a systemd unit name: ${JSON.stringify(badUnit)}`, 2);
  if (!!flags.fromEnv === !!flags.restore) throw new FerryError("box repoint: give exactly one of --from-env ENV_VAR or --restore", 2);
  if (!flags.fromEnv) return { target };
  if (!VAR_NAME.test(flags.fromEnv)) throw new FerryError(`--from-env must name an environment variable: ${JSON.stringify(flags.fromEnv)}`, 2);
  const value = process.env[flags.fromEnv];
  if (!value) throw new FerryError(`--from-env names ${flags.fromEnv}, which is not set`, 2);
  return { target, value };
}

export function registerBoxRepoint(box: Command, hostKeyHelp: string): void {
  box
    .command("repoint")
    .description("point one variable of the app's env file at a moved store (the value read from --from-env, never argv), then restart the units; --restore stops them and writes the old lines back")
    .requiredOption("--host <user@host[:port]>", "the box, over SSH (local: this machine)")
    .requiredOption("--env-file <path>", "the app's env file on the box, e.g. /home/mastodon/live/.env.production")
    .requiredOption("--var <NAME>", "the variable to set, e.g. DATABASE_URL")
    .option("--from-env <ENV_VAR>", "environment variable of this process holding the new value")
    .option("--restore", "the way back: stop the units, then the variable's lines as they were before the first repoint")
    .option("--unit <name>", "a systemd unit to restart on the new value (stopped by --restore), repeatable", (v: string, p: string[]) => [...p, v], [] as string[])
    .option("--ssh-key-env <NAME>", "environment variable holding the SSH private key (default: the agent)")
    .option("--known-hosts <file>", "known_hosts file with the box's host key")
    .option("--host-key <key>", hostKeyHelp)
    .option("--sudo", "run through sudo -n (the SSH user cannot write the file or run systemctl)")
    .action(
      action(async (flags: RepointFlags, command: Command) => {
        const opts = command.optsWithGlobals() as GlobalOptions;
        const { target, value } = checkFlags(flags);
        const ssh: SshOptions = { keyEnv: flags.sshKeyEnv, knownHosts: flags.knownHosts, hostKey: flags.hostKey === undefined ? undefined : parseHostKey(flags.hostKey), sudo: flags.sudo };
        const remote = new Box(target, ssh);
        const outcome = value === undefined ? await pointBack(remote, flags) : await pointAt(remote, flags, value);
        emit(opts, { host: remote.name, envFile: flags.envFile, variable: flags.var, ...outcome }, (r) => {
          if (r.action === "nothing-to-restore") return `${r.host}:${r.envFile}: ${r.variable} was not repointed by ferry; nothing changed`;
          if (r.action === "restored") return `${r.host}:${r.envFile}: ${r.variable} as it was${"stopped" in r && r.stopped.length ? `; ${r.stopped.join(", ")} stopped` : ""}`;
          return `${r.host}:${r.envFile}: ${r.variable} set${"restarted" in r && r.restarted.length ? `; ${r.restarted.join(", ")} restarted on it` : ""} (undo: ferry box repoint --restore)`;
        });
      }),
    );
}
