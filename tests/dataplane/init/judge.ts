// Judge a stack file `ferry init` wrote the way the pipeline will: the program built
// under mocks at every stage, every policy of the pack run over what it declares.
import * as fs from "fs";
import * as yaml from "js-yaml";
import { collectStage } from "../../../policy/plan/collect";
import { journey } from "../../../policy/plan/stages";
import { readStackConfig } from "../../../policy/stack-file";
import { idle, runPack } from "../../policy/pack";

/**
 * Every violation at every stage, as "stage: message"; per stage judged, the policies
 * that judged no resource there (a pass by them says nothing); and why the others could
 * not be judged (the stage is not valid with this stack file).
 */
export async function judgeStackFile(stackFile: string, stack: string): Promise<{ violations: string[]; idle: Record<string, string[]>; notJudged: Record<string, string> }> {
  const found: string[] = [];
  const idleAt: Record<string, string[]> = {};
  const notJudged: Record<string, string> = {};
  for (const step of journey(readStackConfig(stackFile))) {
    if (!step.config) {
      notJudged[step.stage] = step.invalid ?? "no config";
      continue;
    }
    // The policies read the stage flags from the stack file; give them this stage's.
    const { declared } = await collectStage(step.config, stack);
    const verdict = runPack(declared, stageStackFile(stackFile, step.stage, step.config.stages.trafficPercent));
    found.push(...verdict.violations.map((m) => `${step.stage}: ${m}`));
    idleAt[step.stage] = idle(verdict);
  }
  return { violations: found, idle: idleAt, notJudged };
}

/** A copy of the stack file with the flags of `stage` set (and the journey's traffic share), as `pulumi config set` would. */
function stageStackFile(stackFile: string, stage: string, trafficPercent: number | undefined): string {
  const doc = yaml.load(fs.readFileSync(stackFile, "utf8")) as { config: Record<string, unknown> };
  const order = ["replicate", "proxy", "cutover", "decommission"];
  const upTo = stage === "provision" ? -1 : order.indexOf(stage);
  order.forEach((flag, i) => (doc.config[`ferry:${flag}`] = i <= upTo));
  if (trafficPercent !== undefined) doc.config["ferry:trafficPercent"] = trafficPercent;
  const file = stackFile.replace(/\.yaml$/, `.${stage}.yaml`);
  fs.writeFileSync(file, yaml.dump(doc));
  return file;
}
