// Upgrading ferry in the middle of a move. A new ferry may build a step's command line
// differently (a renamed flag, one more environment variable), and the Command provider
// runs a changed step's `create` again (there is no `update`). Past a store's cutover its
// preflight and replicate are history: run again, `ferry pg replicate` refuses a target
// that is the primary ("the dump cutover already finished"), and `ferry redis replicate`
// refuses a target holding the app's keys, so the up would fail and the stack be stuck
// at a stage it already passed. The program freezes them there (PAST_CUTOVER in
// migrations/replicate.ts): nothing of theirs runs, and the state keeps their inputs.
//
// An older ferry's state is made by rewriting every ferry command line and environment
// in the state after an up, as a release that changed all of them would.
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { pulumiUp, StateFile } from "../../rehearsal/stack/engine";
import { Call, newState, recordingProvider } from "./recording";
import { stackConfig, upTo, withFlags } from "./stacks";

type StageName = "replicate" | "proxy" | "cutover" | "decommission";

/** Every ferry step of the state as an older ferry would have written it. */
function asOlderFerry(state: StateFile): void {
  const s = state.read();
  for (const r of s.resources) {
    if (!r.type.startsWith("command:")) continue;
    for (const phase of ["create", "delete"]) {
      const text = r.inputs[phase];
      if (typeof text === "string" && /(^|\s)ferry /.test(text)) r.inputs[phase] = `${text} --written-by-ferry-0.0.1`;
    }
    const env = r.inputs.environment;
    if (env && typeof env === "object") r.inputs.environment = { ...(env as object), FERRY_OLD_VARIABLE: "1" };
  }
  state.write(s);
}

/** Up to `stage`, an older ferry's state, then the same stage with this ferry: what ran, and the state after. */
async function upgradeAt(stack: "staging" | "prod", stage: StageName) {
  const p = recordingProvider();
  const state = newState("ferry-upgrade-");
  const config = parseConfig(withFlags(stackConfig(stack), upTo(stage)));
  let ups = 0;
  const up = () => pulumiUp({ project: "ferry", stack, stateFile: state, realizer: p.realizer, program: () => buildFerry(config, { readEpoch: `${stage}-${++ups}` }) });
  const first = await up();
  expect(first.error, `${stack} ${stage}`).toBeUndefined();
  asOlderFerry(state);
  const from = p.calls.length;
  const upgraded = await up();
  expect(upgraded.error, `${stack} ${stage} after the upgrade`).toBeUndefined();
  return { ran: p.calls.slice(from).filter((c) => c.op !== "delete"), after: state.read().resources };
}

const STEPS = /^ferry --json (pg|redis) (preflight|replicate)(\s|$)/;
/** The store steps whose own command (preflight, replicate) ran again. */
const rerun = (ran: Call[]) => ran.filter((c) => STEPS.test(c.command ?? "")).map((c) => c.name).sort();

describe("an upgraded ferry in the middle of a move", { timeout: 300_000 }, () => {
  test.each(["staging", "prod"] as const)("%s: below cutover the changed preflight and replicate steps run again; past it they run nothing", async (stack) => {
    // Below cutover: the new command lines run (replicate picks up where it stands).
    expect(rerun((await upgradeAt(stack, "proxy")).ran)).toEqual(["ferry-replicate-pg", "ferry-replicate-pg-preflight", "ferry-replicate-redis", "ferry-replicate-redis-preflight"]);
    for (const stage of ["cutover", "decommission"] as const) {
      const { ran, after } = await upgradeAt(stack, stage);
      // Past cutover: none of them runs anything, at cutover and at decommission.
      expect(ran.filter((c) => /^ferry-replicate-(pg|redis)(-preflight)?$/.test(c.name)), stage).toEqual([]);
      // The state keeps what they ran with.
      const kept = after.filter((r) => /^ferry-replicate-(pg|redis)(-preflight)?$/.test(r.name)).map((r) => String(r.inputs.create));
      expect(kept.length, stage).toBe(4);
      expect(kept.every((c) => c.endsWith("--written-by-ferry-0.0.1")), stage).toBe(true);
      // staging's is capture's replicate, frozen as it ran (PAST_CUTOVER): not run again to catch up.
      if (stack === "staging") expect(kept, stage).toContain("ferry --json pg replicate --strategy capture --until-caught-up --written-by-ferry-0.0.1");
    }
  });
});
