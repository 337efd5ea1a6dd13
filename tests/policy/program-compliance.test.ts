// The pack against the program itself: both example stacks, built under mocks at every
// stage, must pass every policy. A pack the program fails would block every preview;
// a program change that breaks a guard rail fails here before it reaches a pull request.
import { describe, expect, it } from "vitest";
import { collectStage } from "../../policy/plan/collect";
import { rdsSafe } from "../../policy/rds-safe";
import { readStackConfig } from "../../policy/stack-file";
import { stackConfig, upTo, withFlags } from "../program/stacks";
import { IDLE_BY_DESIGN, idle, runPack } from "./pack";
import { writeStackFile } from "./stacks";

const STAGES = ["provision", "replicate", "proxy", "cutover", "decommission"] as const;

describe.each(["staging", "prod"] as const)("the policy pack passes the %s stack at every stage", (stack) => {
  it.each(STAGES)("%s", async (stage) => {
    const stackFile = writeStackFile(withFlags(stackConfig(stack), upTo(stage)), stack);
    const { declared } = await collectStage(readStackConfig(stackFile), stack);
    const verdict = runPack(declared, stackFile);
    expect(verdict.violations).toEqual([]);
    // Every policy judged something at this stage, save those with nothing to judge there
    // by design; the target database among it.
    expect(idle(verdict)).toEqual(IDLE_BY_DESIGN[stage]);
    expect(verdict.judged[rdsSafe.name]).toBe(1);
  }, 120_000);
});
