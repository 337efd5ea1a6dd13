// The pack against the program itself: both example stacks, built under mocks at every
// stage, must pass every policy. A pack the program fails would block every preview;
// a program change that breaks a guard rail fails here before it reaches a pull request.
import { describe, expect, it } from "vitest";
import { validateDnsCutover } from "../../policy/dns-cutover";
import { validateOpenPorts } from "../../policy/open-ports";
import { collectStage } from "../../policy/plan/collect";
import { validateRdsSafe } from "../../policy/rds-safe";
import { validateSourceProtected } from "../../policy/source-protected";
import { readStackConfig } from "../../policy/stack-file";
import { stackConfig, upTo, withFlags } from "../program/stacks";
import { engineResources, resourceArgs, stackArgs, violations } from "./args";
import { plainInputs } from "../../policy/providers";
import { writeStackFile } from "./stacks";

const STAGES = ["provision", "replicate", "proxy", "cutover", "decommission"] as const;
const RESOURCE_POLICIES = [validateRdsSafe, validateOpenPorts, validateDnsCutover];


describe.each(["staging", "prod"] as const)("the policy pack passes the %s stack at every stage", (stack) => {
  it.each(STAGES)("%s", async (stage) => {
    const stackFile = writeStackFile(withFlags(stackConfig(stack), upTo(stage)), stack);
    const { declared } = await collectStage(readStackConfig(stackFile), stack);
    const found: string[] = [];
    for (const r of declared) {
      const args = resourceArgs(r.type, r.name, plainInputs(r.inputs), { stackFile });
      for (const validate of RESOURCE_POLICIES) found.push(...violations((report) => validate(args, report)).map((m) => `${r.name}: ${m}`));
    }
    const resources = engineResources(declared);
    found.push(...violations((report) => validateSourceProtected(stackArgs(resources, { stackFile }), report)));
    expect(found).toEqual([]);
    // The policies had something to judge at this stage.
    expect(declared.some((r) => r.type === "aws:rds/instance:Instance")).toBe(true);
  }, 120_000);
});
