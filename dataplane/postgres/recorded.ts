// Which strategy `ferry pg replicate` chose, read back from what it left behind, so the
// cutover (and status) need not be told again and a flag that disagrees is refused
// before anything is touched. The facts, most telling first:
//   a target in recovery                    physical (a standby cannot hold a record)
//   a cutover record that began (steps, fence) that cutover's strategy
//   replicate's logical record, or the subscription  logical
//   replicate's capture record (its triggers' schema hash)  capture
//   the trial copy's record (cutover:dump)  dump
//   the standby's slot on the source        physical (promoted, record not yet written)
import { Client } from "pg";
import { FerryError } from "../cli/common";
import { inRecovery } from "./catalog";
import { subscriptionExists } from "./replication/logical";
import { PHYSICAL_SLOT, STRATEGIES, Strategy } from "./names";
import { CutoverState, readAll } from "./state";
import { CAPTURE_KEY, CaptureProgress } from "./capture/record";

const began = (r: CutoverState | undefined) => !!r && (r.steps.length > 0 || !!r.fence || !!r.done);

export async function recordedStrategy(source: Client, target: Client): Promise<Strategy | null> {
  if (await inRecovery(target)) return "physical";
  const records = await readAll(target);
  const cutover = (s: Strategy) => records[`cutover:${s}`] as CutoverState | undefined;
  const started = STRATEGIES.find((s) => began(cutover(s)));
  if (started) return started;
  if (records["replicate:logical"] || (await subscriptionExists(target))) return "logical";
  if ((records[CAPTURE_KEY] as CaptureProgress | undefined)?.schemaHash) return "capture";
  if (cutover("dump")) return "dump";
  const { rows } = await source.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [PHYSICAL_SLOT]);
  if (rows.length) return "physical";
  return STRATEGIES.find((s) => cutover(s)) ?? null;
}

/** The strategy to use: the recorded one; a --strategy that disagrees with it is refused in one line. */
export function chooseStrategy(flag: Strategy | undefined, recorded: Strategy | null): Strategy {
  if (flag && recorded && flag !== recorded) {
    throw new FerryError(`--strategy ${flag} disagrees with the strategy ferry pg replicate recorded on the target (${recorded}): drop --strategy or pass --strategy ${recorded}`, 2);
  }
  const chosen = flag ?? recorded;
  if (!chosen) throw new FerryError(`missing --strategy: ferry pg replicate recorded none on the target; pass --strategy ${STRATEGIES.join("|")}`, 2);
  return chosen;
}
