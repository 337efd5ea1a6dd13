// `ferry`: the data plane from a terminal. The Pulumi program and the rehearsal run
// these same commands, so what a person tries by hand is what the stages do.
import { Command } from "commander";
import { registerPostgresCommands } from "../postgres/cli";
import { registerRedisCommands } from "../redis/cli";
import { registerTrafficCommands } from "../traffic/cli";
import { registerHerokuCommands } from "../heroku/cli";
import { registerBoxCommands } from "../box/cli";
import { registerInitCommands } from "../init/cli";
import { registerStackCommands } from "../cutover/cli";
import { registerDoctorCommands } from "../doctor/cli";

export function buildProgram(): Command {
  const program = new Command("ferry")
    .description("Move a live app to AWS + Cloudflare without losing a write")
    .option("--json", "print machine-readable JSON instead of text")
    .configureOutput({ outputError: (str, write) => write(str.split("\n")[0] + "\n") })
    .exitOverride();
  registerPostgresCommands(program);
  registerRedisCommands(program);
  registerTrafficCommands(program);
  registerHerokuCommands(program);
  registerBoxCommands(program);
  registerInitCommands(program);
  registerStackCommands(program);
  registerDoctorCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    // commander has already printed its one-line usage error; exit 2 like other CLIs.
    const code = (err as { exitCode?: number }).exitCode;
    process.exitCode = code === 0 ? 0 : 2;
  }
}
