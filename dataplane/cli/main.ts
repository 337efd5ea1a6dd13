// `ferry`: the data plane from a terminal. The Pulumi program and the rehearsal run
// these same commands, so what a person tries by hand is what the stages do.
import { Command, CommanderError } from "commander";
import { version } from "../../package.json";
import { newRun, reportFailure, sideOf } from "./common";
import { registerPostgresCommands } from "../postgres/cli";
import { registerRedisCommands } from "../redis/cli";
import { registerTrafficCommands } from "../traffic/cli";
import { registerHerokuCommands } from "../heroku/cli";
import { registerBoxCommands } from "../box/cli";
import { registerInitCommands } from "../init/cli";
import { registerStackCommands } from "../cutover/cli";
import { registerDoctorCommands } from "../doctor/cli";
import { registerPoolerCommands } from "../pooler/cli";

/**
 * Options renamed so that each thing has one name in every command (`ferry cutover` takes
 * `ferry pg`'s and `ferry redis`'s): the old name is refused with its new one.
 */
export const RENAMED_OPTIONS: Readonly<Record<string, string>> = {
  "--pg-source": "--source",
  "--pg-target": "--target",
  "--redis-source": "--source",
  "--redis-target": "--target",
  "--mode": "--strategy",
};

/**
 * commander's error as ferry words every failure: `error: unknown command 'dcotor'` and its
 * suggestion on the next line become `unknown command 'dcotor' (did you mean doctor?)`;
 * an option's old name becomes `unknown option '--mode': it is now --strategy`.
 */
export function usageLine(str: string): string {
  const [first, ...rest] = str.trim().split("\n");
  // Only the name is echoed: `--pg-source=URL` carries the URL.
  const unknown = /^error: unknown option '(--[^'=]+)/.exec(first)?.[1];
  if (unknown && Object.hasOwn(RENAMED_OPTIONS, unknown)) return `unknown option '${unknown}': it is now ${RENAMED_OPTIONS[unknown]}`;
  const suggestion = rest.map((l) => /^\(Did you mean (.+)\?\)$/.exec(l.trim())?.[1]).find(Boolean);
  return `${first.replace(/^error: /, "")}${suggestion ? ` (did you mean ${suggestion}?)` : ""}`;
}

export function buildProgram(usageErrors: string[] = []): Command {
  const program = new Command("ferry")
    .description("Move a live app to AWS + Cloudflare without losing a write")
    .version(version, "-V, --version", "print ferry's version")
    .option("--json", "print machine-readable JSON instead of text")
    // Every sub-command inherits this (commander copies output settings to the commands it creates).
    .configureOutput({ outputError: (str) => usageErrors.push(usageLine(str)) })
    .showSuggestionAfterError(true)
    .exitOverride();
  registerPostgresCommands(program);
  registerRedisCommands(program);
  registerTrafficCommands(program);
  registerHerokuCommands(program);
  registerBoxCommands(program);
  registerInitCommands(program);
  registerStackCommands(program);
  registerDoctorCommands(program);
  registerPoolerCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  newRun();
  const usageErrors: string[] = [];
  const program = buildProgram(usageErrors);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    // A usage error (commander handed it to outputError), or help shown: exit 2 like other CLIs.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    // --json before the sub-command is ferry's own; commander may stop before reading it.
    if (usageErrors.length) reportFailure(usageErrors[0], 2, argv.slice(2).includes("--json"), sideOf(err, usageErrors[0]));
  }
}
