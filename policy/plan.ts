// `npm run plan -- --stack NAME [--dir DIR] [--outputs FILE]`: what each stage flag adds,
// changes and removes, what every stage costs a month on each side and how long each
// stops writes, from the program under mocks, the stack's own config, the inventory
// `ferry init` saved, the shipped AWS price table and, given the stack's outputs, the
// trial copy's time, as Markdown. The PR workflow posts it beside the preview, so a reviewer
// sees the whole journey and its bill.
import * as fs from "fs";
import * as path from "path";
import { Command } from "commander";
import type { FerryConfig } from "../config";
import { inventoryFilePath, readInventory } from "../dataplane/init/inventory";
import type { SourceInventory } from "../dataplane/init/inventory";
import type { CollectedStage } from "./plan/collect";
import { StageInput, stageCosts } from "./plan/cost";
import { PlannedResource, commandRuns, diffStages } from "./plan/diff";
import { CostSources, PlannedStage, renderPlan } from "./plan/markdown";
import { readPriceTable } from "./plan/prices";
import type { PriceTable } from "./plan/prices";
import { journey } from "./plan/stages";
import { estimateWriteWindow, trialFromOutputs, windowInputOf } from "./plan/write-window";
import type { TrialRecord } from "../dataplane/postgres/replication/trial-record";
import { readStackConfig, stackFilePath } from "./stack-file";

export interface PlanPricing {
  inventory?: SourceInventory;
  prices?: PriceTable;
  /** What replicate's trial copy measured (the stack output postgresTrialCopy), when given. */
  trial?: TrialRecord;
}

/** Plan every stage of `config`; stages are built one after another (one mock runtime). `onStage` sees each build (the secrets audit). */
export async function planJourney(stack: string, config: FerryConfig, onStage?: (stage: string, collected: CollectedStage) => Promise<void>, pricing: PlanPricing = {}): Promise<PlannedStage[]> {
  // Loaded here, not at the top: a bad stack file fails fast, before Pulumi loads.
  const { collectStage } = await import("./plan/collect");
  const planned: PlannedStage[] = [];
  const inputs: StageInput[] = [];
  let before: PlannedResource[] = [];
  for (const step of journey(config)) {
    if (!step.config) {
      planned.push({ stage: step.stage, invalid: step.invalid });
      inputs.push({ stage: step.stage });
      continue;
    }
    const collected = await collectStage(step.config, stack);
    await onStage?.(step.stage, collected);
    const now = collected.resources;
    planned.push({ stage: step.stage, diff: diffStages(before, now), commands: commandRuns(before, now), total: now.length });
    inputs.push({ stage: step.stage, config: step.config, declared: collected.declared });
    before = now;
  }
  if (pricing.prices) {
    const costs = stageCosts(inputs, pricing.inventory, pricing.prices);
    planned.forEach((p, i) => (p.cost = costs[i]));
  }
  return planned;
}

/** Where the figures come from, for the lines printed beside them. */
export function costSources(config: FerryConfig, pricing: PlanPricing): CostSources {
  return {
    sourceKind: config.source.kind,
    region: config.target.region,
    prices: pricing.prices && { region: pricing.prices.region, date: pricing.prices.date, source: pricing.prices.source },
    inventoryTakenAt: pricing.inventory?.takenAt,
    trafficPercent: config.stages.trafficPercent,
    writeWindow: estimateWriteWindow(windowInputOf(config, pricing.inventory, pricing.trial)),
  };
}

/** The trial copy's figures from a file of `pulumi stack output --json`; a bad file fails naming it. */
function readTrial(file: string | undefined): TrialRecord | undefined {
  if (!file) return undefined;
  let outputs: unknown;
  try {
    outputs = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`--outputs ${file}: not readable JSON (${(e as Error).message.split("\n")[0]})`);
  }
  try {
    return trialFromOutputs(outputs);
  } catch (e) {
    throw new Error(`--outputs ${file}: ${(e as Error).message}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const opts = new Command("plan")
    .requiredOption("--stack <name>", "the stack whose Pulumi.<name>.yaml to plan")
    .option("--dir <dir>", "the project directory holding the stack file", path.resolve(__dirname, ".."))
    .option("--outputs <file>", "the stack's outputs (`pulumi stack output --json`): after replicate, the trial copy's time replaces the rate-based write-window estimate")
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`ferry plan: ${str.replace(/^error: /, "").split("\n")[0]}\n`) })
    .parse(argv)
    .opts<{ stack: string; dir: string; outputs?: string }>();
  let config: FerryConfig;
  let pricing: PlanPricing;
  try {
    config = readStackConfig(stackFilePath(opts.dir, opts.stack));
    pricing = { inventory: readInventory(inventoryFilePath(opts.dir, opts.stack)), prices: readPriceTable(config.target.region), trial: readTrial(opts.outputs) };
  } catch (e) {
    process.stderr.write(`ferry plan: ${(e as Error).message.split("\n")[0]}\n`);
    process.exit(2);
  }
  const planned = await planJourney(opts.stack, config, undefined, pricing);
  process.stdout.write(renderPlan(opts.stack, planned, costSources(config, pricing)) + "\n");
}

if (require.main === module) {
  main(process.argv).catch((e: unknown) => {
    const code = (e as { exitCode?: number }).exitCode;
    if (code === undefined) process.stderr.write(`ferry plan: ${(e as Error).message.split("\n")[0]}\n`);
    process.exit(code === undefined ? 1 : 2);
  });
}
