// `ferry doctor --stack NAME`: one line per finding, exit 1 when any blocks.
import * as path from "path";
import { Command, Option } from "commander";
import { action, emit, GlobalOptions, integer } from "../cli/common";
import { doctor } from "./doctor";
import { blocks, renderFinding } from "./findings";

export function registerDoctorCommands(program: Command): void {
  program
    .command("doctor")
    .description("check every prerequisite of `pulumi up` for a stack, changing nothing: one line per finding, exit 1 when one blocks")
    .requiredOption("--stack <name>", "the stack to check (Pulumi.<name>.yaml)")
    .option("--dir <path>", "the project directory (where Pulumi.yaml is)", ".")
    .addOption(new Option("--listen <seconds>", "how long to listen for keyspace events when the source Redis blocks CONFIG").default(2).argParser(integer("--listen", 0, 600)))
    .action(
      action(async (flags: { stack: string; dir: string; listen: number }, command: Command) => {
        const opts = command.optsWithGlobals() as GlobalOptions;
        const findings = await doctor({ stack: flags.stack, dir: path.resolve(flags.dir), listenMs: flags.listen * 1000, env: process.env });
        const ok = !blocks(findings);
        emit(opts, { ok, findings }, (r) => r.findings.map(renderFinding).join("\n"));
        return ok ? 0 : 1;
      }),
    );
}
