// Judge a stack file `ferry init` wrote the way the pipeline will: the program built
// under mocks at every stage, every policy of the pack run over what it declares.
import * as fs from "fs";
import * as yaml from "js-yaml";
import { validateDnsCutover } from "../../../policy/dns-cutover";
import { validateOpenPorts } from "../../../policy/open-ports";
import { collectStage } from "../../../policy/plan/collect";
import { journey } from "../../../policy/plan/stages";
import { validateRdsSafe } from "../../../policy/rds-safe";
import { validateSourceProtected } from "../../../policy/source-protected";
import { readStackConfig } from "../../../policy/stack-file";
import { engineResources, resourceArgs, stackArgs, violations } from "../../policy/args";
import { plainInputs } from "../../../policy/providers";

const RESOURCE_POLICIES = [validateRdsSafe, validateOpenPorts, validateDnsCutover];


/** Every violation at every stage, as "stage: resource: message"; and how many resources each stage declared. */
export async function judgeStackFile(stackFile: string, stack: string): Promise<{ violations: string[]; declared: Record<string, number> }> {
  const found: string[] = [];
  const declaredCounts: Record<string, number> = {};
  for (const step of journey(readStackConfig(stackFile))) {
    if (!step.config) continue;
    // The policies read the stage flags from the stack file; give them this stage's.
    const { declared } = await collectStage(step.config, stack);
    declaredCounts[step.stage] = declared.length;
    const stageFile = stageStackFile(stackFile, step.stage, step.config.stages.trafficPercent);
    for (const r of declared) {
      const args = resourceArgs(r.type, r.name, plainInputs(r.inputs), { stackFile: stageFile });
      for (const validate of RESOURCE_POLICIES) found.push(...violations((report) => validate(args, report)).map((m) => `${step.stage}: ${r.name}: ${m}`));
    }
    const resources = engineResources(declared);
    found.push(...violations((report) => validateSourceProtected(stackArgs(resources, { stackFile: stageFile }), report)).map((m) => `${step.stage}: ${m}`));
  }
  return { violations: found, declared: declaredCounts };
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
