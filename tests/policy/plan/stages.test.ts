// The journey the stage plan and the rehearsal walk (policy/plan/stages.ts): each flag
// raised in order, the stack's holds kept, the traffic share as a user has it.
import { describe, expect, test } from "vitest";
import { componentStage, effectiveTraffic, validateStages } from "../../../config";
import { journey } from "../../../policy/plan/stages";
import { readStackConfig } from "../../../policy/stack-file";
import { stageConfigs } from "../../../rehearsal/stack/rehearse";
import { herokuConfig, vultrConfig, writeStackFile } from "../stacks";

const held = (config: Record<string, unknown>) => readStackConfig(writeStackFile({ ...config, "ferry:hold": { app: "proxy" } }));

describe("the journey", () => {
  test("an app held at proxy keeps every request on AWS after proxy: cutover and decommission are valid stages", () => {
    // The stack file says 0 %, as the examples do: the user raises it step by step at proxy.
    const steps = journey(held(herokuConfig({ trafficPercent: 0 })));
    expect(steps.map((s) => [s.stage, s.invalid])).toEqual([
      ["provision", undefined], ["replicate", undefined], ["proxy", undefined], ["cutover", undefined], ["decommission", undefined],
    ]);
    const cutover = steps.find((s) => s.stage === "cutover")!.config!;
    expect(cutover.stages.trafficPercent).toBe(100);
    expect(effectiveTraffic(cutover)).toBe(100);
    // The hold still holds: the app stays behind the proxy, the stores move.
    expect(componentStage("app", cutover.stages)).toBe("proxy");
    expect(componentStage("postgres", cutover.stages)).toBe("cutover");
    expect(steps.find((s) => s.stage === "decommission")!.config!.stages.trafficPercent).toBe(100);
  });

  test("at proxy the stack's own share applies; before proxy there is none", () => {
    // A stack file saved mid-journey, at proxy with 30 %: the journey starts from no flag.
    const steps = journey(held(herokuConfig({ replicate: true, proxy: true, trafficPercent: 30 })));
    expect(steps.map((s) => s.config?.stages.trafficPercent)).toEqual([undefined, undefined, 30, 100, 100]);
  });

  test("a box held at proxy, forwarding all (no weighted split), walks the same way", () => {
    const steps = journey(held(vultrConfig({ trafficPercent: 0 })));
    expect(steps.every((s) => s.config !== undefined)).toBe(true);
  });

  test("the rehearsal's journey with a held app: the weighted steps, then cutover at 100 %, every stage valid", () => {
    const steps = stageConfigs(held(herokuConfig({ trafficPercent: 0 })), "decommission", [10, 50]);
    expect(steps.map((s) => s.label)).toEqual(["provision", "replicate", "proxy 10%", "proxy 50%", "proxy 100%", "cutover", "decommission"]);
    for (const s of steps) expect(() => validateStages(s.config), s.label).not.toThrow();
    expect(steps.find((s) => s.label === "cutover")!.config.stages.trafficPercent).toBe(100);
  });
});
