// `ferry box config copy`: a self-managed box's env file (e.g. Mastodon's
// .env.production), read over SSH, into an AWS Secrets Manager secret for the ECS tasks.
// The file travels over the SSH session's stdout into this process and on to the AWS
// CLI's stdin: never into argv, a file, a log line, ferry's output or Pulumi's state.
// Only the names and the new version id are printed.
import { Command } from "commander";
import { parseEnv } from "node:util";
import { action, emit, FerryError, GlobalOptions } from "../cli/common";
import { secretString, SecretWriteError, writeSecretIfChanged } from "../heroku/copy-config";
import { shellQuoteArg } from "./quote";
import { describeTarget, parseHostKey, parseHostTarget, runScript, SshOptions } from "../traffic/remote-host";
import { parseCrontab, schedulesYaml, switchJobsOff, switchJobsOn } from "./crontab";
import { randomBytes } from "node:crypto";
import { registerBoxRepoint } from "./repoint";

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The variables of a dotenv file (Node's own parser: quotes, `export`, comments); bad names refused. */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const vars = parseEnv(text) as Record<string, string>;
  const bad = Object.keys(vars).filter((k) => !VAR_NAME.test(k));
  if (bad.length) throw new FerryError(`--env-file ${file}: ${bad.map((b) => JSON.stringify(b)).join(", ")} not a variable name (letters, digits, _)`, 2);
  return vars;
}

interface CopyFlags {
  host: string;
  envFile: string;
  secretId: string;
  region?: string;
  exclude: string;
  sshKeyEnv?: string;
  knownHosts?: string;
  hostKey?: string;
  sudo?: boolean;
}

type SshFlags = Pick<CopyFlags, "sshKeyEnv" | "knownHosts" | "hostKey" | "sudo">;

function sshOf(flags: SshFlags): SshOptions {
  return { keyEnv: flags.sshKeyEnv, knownHosts: flags.knownHosts, hostKey: flags.hostKey === undefined ? undefined : parseHostKey(flags.hostKey), sudo: flags.sudo };
}

const HOST_KEY_HELP = "the box's public host key (ssh-ed25519 AAAA...): the only key trusted, whatever known_hosts says";
const UNIT = /^[A-Za-z0-9@._-]+$/;

export function registerBoxCommands(program: Command): void {
  const box = program.command("box").description("read the self-managed box's app settings over SSH");
  box
    .command("crontab")
    .description("the box's cron jobs as EventBridge schedules for ferry:target.compute.schedules (what cannot be converted is listed); `off` comments out the jobs that moved to AWS, `on` puts them back")
    .argument("[off|on]", "off: comment out every job line (each must be a --declared command); on: uncomment what off commented out")
    .requiredOption("--host <user@host[:port]>", "the box, over SSH")
    .option("--user <name>", "whose crontab (crontab -l -u NAME; default the SSH user's)")
    .option("--file <path>", "a cron file instead (e.g. /etc/cron.d/mastodon: its sixth field, the user, is dropped)")
    .option("--process <type>", "the process whose code and config the jobs run with", "web")
    .option("--declared <command>", "with off: a job's command as ferry:target.compute.schedules declares it (repeatable)", (v: string, p: string[]) => [...p, v], [] as string[])
    .option("--ssh-key-env <NAME>", "environment variable holding the SSH private key (default: the agent)")
    .option("--known-hosts <file>", "known_hosts file with the box's host key")
    .option("--host-key <key>", HOST_KEY_HELP)
    .option("--sudo", "read through sudo -n")
    .action(
      action(async (verb: string | undefined, flags: CrontabFlags, command: Command) => {
        const opts = command.optsWithGlobals() as GlobalOptions;
        const target = parseHostTarget(flags.host);
        if (target.kind !== "ssh") throw new FerryError("--host must be user@host[:port]: the crontab is read over SSH", 2);
        if (flags.user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(flags.user)) throw new FerryError(`--user must be a Unix user name: ${JSON.stringify(flags.user)}`, 2);
        if (flags.file !== undefined && !flags.file.startsWith("/")) throw new FerryError(`--file must be an absolute path on the box: ${JSON.stringify(flags.file)}`, 2);
        if (!/^[a-z][a-z0-9_-]{0,29}$/.test(flags.process)) throw new FerryError(`--process must be a process type: ${JSON.stringify(flags.process)}`, 2);
        if (verb !== undefined && verb !== "off" && verb !== "on") throw new FerryError(`crontab takes "off", "on" or nothing (to read), got ${JSON.stringify(verb)}`, 2);
        const read = await readCrontab(target, flags);
        if (verb !== undefined) return switchCrontab(verb, target, flags, read, opts);
        const parsed = parseCrontab(read, flags.file !== undefined);
        emit(opts, { host: describeTarget(target), ...parsed }, (r) =>
          [
            "# ferry:target.compute.schedules (times are UTC unless you add timezone: ...)",
            schedulesYaml(r.jobs, flags.process),
            ...r.skipped.map((s) => `# not converted, line ${s.line}: ${s.text} (${s.why})`),
          ].filter(Boolean).join("\n"),
        );
      }),
    );
  const config = box.command("config").description("the app's env file");
  config
    .command("copy")
    .description("copy the app's env file into an AWS Secrets Manager secret (JSON keys) through the AWS CLI's stdin; prints names only")
    .requiredOption("--host <user@host[:port]>", "the box, over SSH")
    .requiredOption("--env-file <path>", "the app's env file on the box, e.g. /home/mastodon/live/.env.production")
    .requiredOption("--secret-id <arn>", "the Secrets Manager secret (ARN or name) that receives a new version when a value changed")
    .option("--region <region>", "AWS region of the secret")
    .option("--exclude <KEY,...>", "vars not to copy (ferry sets them itself, e.g. DATABASE_URL,REDIS_URL)", "")
    .option("--ssh-key-env <NAME>", "environment variable holding the SSH private key (default: the agent)")
    .option("--known-hosts <file>", "known_hosts file with the box's host key")
    .option("--host-key <key>", HOST_KEY_HELP)
    .option("--sudo", "read the file through sudo -n (the SSH user cannot read it)")
    .action(
      action(async (flags: CopyFlags, command: Command) => {
        const opts = command.optsWithGlobals() as GlobalOptions;
        const target = parseHostTarget(flags.host);
        if (target.kind !== "ssh") throw new FerryError("--host must be user@host[:port]: the env file is read over SSH", 2);
        if (!flags.envFile.startsWith("/")) throw new FerryError(`--env-file must be an absolute path on the box: ${JSON.stringify(flags.envFile)}`, 2);
        if (!/^[A-Za-z0-9/_+=.@:-]{1,2048}$/.test(flags.secretId)) throw new FerryError(`--secret-id must be a secret ARN or name: ${JSON.stringify(flags.secretId)}`, 2);
        if (flags.region !== undefined && !/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(flags.region)) throw new FerryError(`--region must be an AWS region: ${JSON.stringify(flags.region)}`, 2);
        const exclude = flags.exclude ? flags.exclude.split(",").map((k) => k.trim()).filter(Boolean) : [];
        const read = await runScript(target, `cat -- ${shellQuoteArg(flags.envFile)}\n`, sshOf(flags));
        if (read.code !== 0) {
          const why = read.stderr.trim().split("\n").pop()?.replace(/^cat: /, "") || `exit ${read.code}`;
          throw new FerryError(`--env-file ${flags.envFile} on ${describeTarget(target)}: ${why}`, 1);
        }
        const vars = parseEnvFile(read.stdout, flags.envFile);
        try {
          const { json, names } = secretString(vars, exclude, describeTarget(target));
          const { versionId, written } = await writeSecretIfChanged(flags.secretId, json, flags.region);
          const result = { host: describeTarget(target), envFile: flags.envFile, secretId: flags.secretId, versionId, names, excluded: exclude.filter((k) => k in vars) };
          emit(opts, result, (r) => `${r.host}:${r.envFile}: ${r.names.length} vars ${written ? "copied to" : "unchanged in"} ${r.secretId} (version ${r.versionId}): ${r.names.join(", ")}`);
        } catch (err) {
          if (err instanceof SecretWriteError) throw new FerryError(err.message, 1);
          throw err;
        }
      }),
    );
  registerBoxRepoint(box, HOST_KEY_HELP);
  box
    .command("units")
    .description("stop (disable --now) or start (enable --now) the app's systemd units on the box: the cutover stops them, its rollback starts them")
    .argument("<action>", "stop or start")
    .requiredOption("--host <user@host[:port]>", "the box, over SSH")
    .option("--unit <name>", "a systemd unit, repeatable", (v: string, p: string[]) => [...p, v], [] as string[])
    .option("--ssh-key-env <NAME>", "environment variable holding the SSH private key (default: the agent)")
    .option("--known-hosts <file>", "known_hosts file with the box's host key")
    .option("--host-key <key>", HOST_KEY_HELP)
    .option("--sudo", "run systemctl through sudo -n (the SSH user is not root)")
    .action(
      action(async (which: string, flags: { host: string; unit: string[] } & SshFlags, command: Command) => {
        const opts = command.optsWithGlobals() as GlobalOptions;
        if (which !== "stop" && which !== "start") throw new FerryError(`box units: stop or start, not ${JSON.stringify(which)}`, 2);
        const target = parseHostTarget(flags.host);
        if (target.kind !== "ssh") throw new FerryError("--host must be user@host[:port]: the units run on the box", 2);
        if (flags.unit.length === 0) throw new FerryError("--unit: name at least one systemd unit", 2);
        const badUnit = flags.unit.find((u) => !UNIT.test(u));
        if (badUnit !== undefined) throw new FerryError(`--unit must be a systemd unit name: ${JSON.stringify(badUnit)}`, 2);
        const script = `systemctl ${which === "stop" ? "disable" : "enable"} --now ${flags.unit.map(shellQuoteArg).join(" ")}\n`;
        const ran = await runScript(target, script, sshOf(flags));
        if (ran.code !== 0) throw new FerryError(`systemctl on ${describeTarget(target)}: ${ran.stderr.trim().split("\n").pop() || `exit ${ran.code}`}`, 1);
        emit(opts, { host: describeTarget(target), action: which, units: flags.unit }, (r) => `${r.host}: ${r.units.join(", ")} ${r.action === "stop" ? "stopped and disabled" : "enabled and started"}`);
      }),
    );
}

interface CrontabFlags extends SshFlags {
  host: string;
  user?: string;
  file?: string;
  process: string;
  declared: string[];
}

async function readCrontab(target: ReturnType<typeof parseHostTarget>, flags: CrontabFlags): Promise<string> {
  const script = flags.file ? `cat -- ${shellQuoteArg(flags.file)}\n` : `crontab -l${flags.user ? ` -u ${flags.user}` : ""}\n`;
  const read = await runScript(target, script, sshOf(flags));
  if (read.code !== 0) {
    const why = read.stderr.trim().split("\n").pop() || `exit ${read.code}`;
    throw new FerryError(`${flags.file ? `--file ${flags.file}` : "crontab -l"} on ${describeTarget(target)}: ${why}`, 1);
  }
  return read.stdout;
}

/**
 * `crontab off|on`: the jobs that moved to EventBridge commented out (or back), written
 * back whole (`crontab [-u U] -`, or the file replaced by a rename). Only line numbers
 * are printed: a cron line may carry a secret.
 */
async function switchCrontab(verb: "off" | "on", target: ReturnType<typeof parseHostTarget>, flags: CrontabFlags, text: string, opts: GlobalOptions): Promise<void> {
  const where = flags.file ?? `the crontab of ${flags.user ?? (target.kind === "ssh" ? target.user : "the SSH user")}`;
  const switched = verb === "off" ? switchJobsOff(text, flags.declared, flags.file !== undefined) : switchJobsOn(text);
  if ("undeclared" in switched) {
    throw new FerryError(`ferry:target.compute.schedules: ${where} on ${describeTarget(target)} has job line(s) ${switched.undeclared.join(", ")} whose command is not declared: it would stop on the box and run nowhere; declare it (\`ferry box crontab\` prints it) or remove it from the crontab; nothing changed`, 1);
  }
  if (switched.text !== text) {
    const end = `FERRY_CRONTAB_${randomBytes(8).toString("hex")}`;
    const body = switched.text.endsWith("\n") ? switched.text : `${switched.text}\n`;
    const install = flags.file
      ? `cat > ${shellQuoteArg(`${flags.file}.ferry-new`)} <<'${end}'\n${body}${end}\nchmod --reference=${shellQuoteArg(flags.file)} ${shellQuoteArg(`${flags.file}.ferry-new`)} && mv -- ${shellQuoteArg(`${flags.file}.ferry-new`)} ${shellQuoteArg(flags.file)}\n`
      : `crontab${flags.user ? ` -u ${flags.user}` : ""} - <<'${end}'\n${body}${end}\n`;
    const wrote = await runScript(target, install, sshOf(flags));
    if (wrote.code !== 0) throw new FerryError(`writing ${where} on ${describeTarget(target)}: ${wrote.stderr.trim().split("\n").pop() || `exit ${wrote.code}`}`, 1);
  }
  const result = { host: describeTarget(target), crontab: where, state: verb, lines: switched.lines };
  emit(opts, result, (r) => `${r.host}: ${r.crontab}: job line(s) ${r.lines.join(", ") || "none"} ${r.state === "off" ? "commented out (they run on AWS now; undo: ferry box crontab on)" : "back on"}`);
}
