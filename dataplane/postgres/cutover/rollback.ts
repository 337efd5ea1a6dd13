// Going back to the source. Before the target took writes (cutover not done) this is
// safe and complete: the source is unfenced and replication is torn down (capture's
// triggers excepted: they are what a later cutover resumes from). After, the
// target holds writes the source never saw: ferry refuses and says what a reverse
// replication would take, instead of silently dropping them.
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { withClient } from "../connection";
import { inRecovery } from "../catalog";
import { allowWrites, unfence, withWritable } from "./fence";
import { dropPublication, dropSubscription } from "../replication/logical";
import { PHYSICAL_SLOT, Strategy } from "../names";
import { stopStandby } from "../replication/physical";
import { CutoverState, copyFacts, loadCutover, saveCutover } from "../state";

export interface RollbackOptions {
  sourceUrl: string;
  targetUrl: string;
  strategy: Strategy;
  /** physical: the standby's data directory, to stop it (when run on the target host). */
  standbyDir?: string;
  /** Only check that a rollback would lose nothing (refuse as it would); change nothing. */
  check?: boolean;
}

export interface RollbackResult {
  ok: boolean;
  strategy: Strategy;
  actions: string[];
}

const REVERSE: Record<Strategy, string> = {
  logical:
    "reverse replication needs: the source emptied or resynced, a publication on the target, a subscription on the source (copy_data = true unless nothing changed), sequences set on the source, then ferry pg cutover with --source and --target swapped",
  physical:
    "reverse replication needs: the old primary rebuilt as a standby of the new one (pg_rewind with wal_log_hints or data checksums, or a fresh pg_basebackup from the target), then ferry pg cutover with --source and --target swapped",
  capture:
    "reverse replication needs: ferry pg replicate --strategy capture with --source and --target swapped (the source database emptied first), then ferry pg cutover",
  dump:
    "reverse needs a new maintenance window: ferry pg replicate/cutover --strategy dump with --source and --target swapped (the source database emptied first)",
};

async function targetState(targetUrl: string, strategy: Strategy): Promise<{ state: CutoverState | null; promoted: boolean }> {
  return withClient(targetUrl, async (t) => {
    const standby = strategy === "physical" && (await inRecovery(t));
    return { state: standby ? null : await loadCutover(t, strategy), promoted: strategy === "physical" && !standby };
  }).catch((err) => {
    // A physical target that is not running cannot have taken writes.
    if (strategy === "physical") return { state: null, promoted: false };
    throw err;
  });
}

async function dropPhysicalSlot(source: Client): Promise<string> {
  const { rows } = await source.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = $1", [PHYSICAL_SLOT]);
  if (!rows.length) return "no standby slot";
  if (rows[0].active) return `slot ${PHYSICAL_SLOT} still in use: stop the standby (--standby-dir on its host) and run ferry pg cleanup`;
  await source.query("SELECT pg_drop_replication_slot($1)", [PHYSICAL_SLOT]);
  return `slot ${PHYSICAL_SLOT} dropped`;
}

export async function rollback(opts: RollbackOptions): Promise<RollbackResult> {
  const { state, promoted } = await targetState(opts.targetUrl, opts.strategy);
  if (state?.done) {
    throw new FerryError(`refusing to roll back: the target became the primary and may have taken writes the source never saw; ${REVERSE[opts.strategy]}`, 1);
  }
  if (opts.check) return { ok: true, strategy: opts.strategy, actions: ["the target has not taken writes: going back loses nothing"] };
  const actions: string[] = [];
  await withWritable(opts.sourceUrl, async (source) => {
    const undone = await unfence(source, state?.fence ?? null);
    actions.push(undone ? `source unfenced: ${undone.roles.length} role(s) writable again` : "source was not fenced");
    if (opts.strategy === "logical") {
      const dropped = await withClient(opts.targetUrl, async (t) => {
        await allowWrites(t);
        return dropSubscription(t);
      });
      actions.push(dropped ? "subscription and its slot dropped" : "no subscription");
      actions.push((await dropPublication(source)) ? "publication dropped" : "no publication");
    }
    // capture: the triggers stay and keep logging the source's writes, and the target keeps
    // what was applied: the next cutover resumes from the log (lowering ferry:cutover after
    // a failed window, then raising it again, reruns no replicate). `ferry pg cleanup`
    // abandons a capture (lowering ferry:replicate).
    if (opts.strategy === "capture") actions.push("capture kept: the triggers log the source's writes for the next cutover (ferry pg cleanup removes them)");
    if (opts.strategy === "physical") {
      if (promoted) actions.push("the target was promoted but never released: it keeps the fence it inherited; retire it and take a new base backup to try again");
      if (opts.standbyDir && !promoted) {
        await stopStandby(opts.standbyDir);
        actions.push(`standby in ${opts.standbyDir} stopped`);
      }
      actions.push(await dropPhysicalSlot(source));
    }
  });
  if (opts.strategy !== "physical" || promoted) {
    await withClient(opts.targetUrl, async (t) => {
      await allowWrites(t);
      // Keep what the copy left: a later dump cutover must empty the target before copying.
      await saveCutover(t, { strategy: opts.strategy, steps: [], ...copyFacts(state), ...(opts.strategy === "dump" ? { copyStarted: true } : {}) });
    });
  }
  return { ok: true, strategy: opts.strategy, actions };
}
