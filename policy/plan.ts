// `npm run plan -- --stack NAME [--dir DIR]`: what each stage flag adds, changes and
// removes, from the program under mocks and the stack's own config, as Markdown. The
// PR workflow posts it beside the preview, so a reviewer sees the whole journey.
import * as path from "path";
import { Command } from "commander";
import type { FerryConfig } from "../config";
import type { CollectedStage } from "./plan/collect";
import { PlannedResource, diffStages } from "./plan/diff";
import { PlannedStage, renderPlan } from "./plan/markdown";
import { journey } from "./plan/stages";
import { readStackConfig, stackFilePath } from "./stack-file";

/** Plan every stage of `config`; stages are built one after another (one mock runtime). `onStage` sees each build (the secrets audit). */
export async function planJourney(stack: string, config: FerryConfig, onStage?: (stage: string, collected: CollectedStage) => Promise<void>): Promise<PlannedStage[]> {
  // Loaded here, not at the top: a bad stack file fails fast, before Pulumi loads.
  const { collectStage } = await import("./plan/collect");
  const planned: PlannedStage[] = [];
  let before: PlannedResource[] = [];
  for (const step of journey(config)) {
    if (!step.config) {
      planned.push({ stage: step.stage, invalid: step.invalid });
      continue;
    }
    const collected = await collectStage(step.config, stack);
    await onStage?.(step.stage, collected);
    const now = collected.resources;
    planned.push({ stage: step.stage, diff: diffStages(before, now), total: now.length });
    before = now;
  }
  return planned;
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("plan")
    .requiredOption("--stack <name>", "the stack whose Pulumi.<name>.yaml to plan")
    .option("--dir <dir>", "the project directory holding the stack file", path.resolve(__dirname, ".."))
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`ferry plan: ${str.replace(/^error: /, "").split("\n")[0]}\n`) })
    .parse(argv)
    .opts<{ stack: string; dir: string }>();
  let config: FerryConfig;
  try {
    config = readStackConfig(stackFilePath(opts.dir, opts.stack));
  } catch (e) {
    process.stderr.write(`ferry plan: ${(e as Error).message.split("\n")[0]}\n`);
    process.exit(2);
  }
  process.stdout.write(renderPlan(opts.stack, await planJourney(opts.stack, config)) + "\n");
}

if (require.main === module) {
  main(process.argv).catch((e: unknown) => {
    const code = (e as { exitCode?: number }).exitCode;
    if (code === undefined) process.stderr.write(`ferry plan: ${(e as Error).message.split("\n")[0]}\n`);
    process.exit(code === undefined ? 1 : 2);
  });
}
