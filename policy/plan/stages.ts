// The journey the plan walks: the stack's config with no flag, then each stage flag
// added in order. The stack's holds stay; its traffic share applies at proxy, and from
// cutover on it is 100, as it must be by then.
// A stage the holds make invalid is kept in the journey with the reason.
import { FerryConfig, STAGE_FLAGS, Stage, StageFlag, validateStages } from "../../config";

export interface JourneyStep {
  stage: Stage;
  config?: FerryConfig;
  /** Why this stage cannot be planned with this stack's holds. */
  invalid?: string;
}

function flagsFor(config: FerryConfig, upTo: number): FerryConfig["stages"] {
  const on = (flag: StageFlag) => STAGE_FLAGS.indexOf(flag) < upTo;
  return {
    ...config.stages,
    replicate: on("replicate"),
    proxy: on("proxy"),
    cutover: on("cutover"),
    decommission: on("decommission"),
    // A user raises the share to 100 before the cutover (validateStages refuses less).
    trafficPercent: on("cutover") ? 100 : on("proxy") ? config.stages.trafficPercent : undefined,
  };
}

export function journey(config: FerryConfig): JourneyStep[] {
  return (["provision", ...STAGE_FLAGS] as Stage[]).map((stage, i) => {
    const step = { ...config, stages: flagsFor(config, i) };
    try {
      validateStages(step);
      return { stage, config: step };
    } catch (e) {
      return { stage, invalid: (e as Error).message };
    }
  });
}
