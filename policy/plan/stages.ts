// The journey the plan walks: the stack's config with no flag, then each stage flag
// added in order. The stack's holds stay; its traffic share applies at proxy. Past
// proxy the share is 100, as a user has it when they raise the next flag: they walk
// it up to 100 first, and cutover needs every request on AWS while the app is held at
// proxy (ferry:hold.app), so falling back to the stack file's value would refuse a
// cutover the user's own journey allows. A stage the holds make invalid is kept in the
// journey with the reason.
import { FerryConfig, STAGE_FLAGS, Stage, StageFlag, validateStages } from "../../config";

export interface JourneyStep {
  stage: Stage;
  config?: FerryConfig;
  /** Why this stage cannot be planned with this stack's holds. */
  invalid?: string;
}

/** The share of requests on AWS a user has set at a stage: the stack's at proxy, all of them after. */
function trafficAt(config: FerryConfig, on: (flag: StageFlag) => boolean): number | undefined {
  if (on("cutover")) return 100;
  return on("proxy") ? config.stages.trafficPercent : undefined;
}

function flagsFor(config: FerryConfig, upTo: number): FerryConfig["stages"] {
  const on = (flag: StageFlag) => STAGE_FLAGS.indexOf(flag) < upTo;
  return {
    ...config.stages,
    replicate: on("replicate"),
    proxy: on("proxy"),
    cutover: on("cutover"),
    decommission: on("decommission"),
    trafficPercent: trafficAt(config, on),
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
