// Removing what replication left behind once it is no longer wanted (the capture
// strategy's triggers and change log among it). A forgotten slot is the dangerous one: the source keeps every WAL segment for it until its
// disk is full. Cleanup refuses in the middle of a cutover (source fenced, target not
// released): finish or roll back first. A capture removed before its cutover is
// abandoned: its record on the target is reset, so a later replicate installs it anew and
// copies again (the log held changes the target lacks).
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { withClient } from "../connection";
import { inRecovery } from "../catalog";
import { allowWrites, readFence } from "./fence";
import { dropPublication, dropSubscription } from "../replication/logical";
import { PHYSICAL_SLOT, STRATEGIES, SUBSCRIPTION } from "../names";
import { loadCutover } from "../state";
import { captureInstalled, removeCapture } from "../capture/install";
import { afterRemoval, loadCaptureProgress, saveCaptureProgress } from "../capture/record";

export interface CleanupOptions {
  sourceUrl: string;
  targetUrl?: string;
}

export interface CleanupResult {
  ok: boolean;
  dropped: string[];
  /** Slots left in place because something still streams from them. */
  kept: string[];
}

export async function cleanup(opts: CleanupOptions): Promise<CleanupResult> {
  const dropped: string[] = [];
  const kept: string[] = [];
  const abandoned = await withClient(opts.sourceUrl, (source) => unfinishedCapture(source, opts.targetUrl));
  if (opts.targetUrl) {
    await withClient(opts.targetUrl, async (t) => {
      if (await inRecovery(t)) return; // a standby has no subscription and no state of its own
      await allowWrites(t);
      for (const s of STRATEGIES) {
        const state = await loadCutover(t, s);
        if (state?.fence && !state.done) throw new FerryError(`a ${s} cutover is in progress (source fenced, target not released): finish it or run ferry pg rollback first`, 1);
      }
      if (await dropSubscription(t)) dropped.push(`subscription ${SUBSCRIPTION}`);
    });
  }
  await withClient(opts.sourceUrl, async (source) => {
    await allowWrites(source);
    if ((await readFence(source)) && !opts.targetUrl) {
      throw new FerryError("the source is fenced by a cutover: pass --target so cleanup can tell whether it finished", 2);
    }
    if (await dropPublication(source)) dropped.push("publication ferry_pub");
    dropped.push(...(await removeCapture(source)));
    if (abandoned) await withClient(opts.targetUrl!, async (t) => saveCaptureProgress(t, { schemaHash: "", ...afterRemoval(await loadCaptureProgress(t)) }));
    const { rows } = await source.query<{ slot_name: string; active: boolean }>(
      "SELECT slot_name, active FROM pg_replication_slots WHERE slot_name IN ($1, $2)",
      [SUBSCRIPTION, PHYSICAL_SLOT],
    );
    for (const slot of rows) {
      if (slot.active) {
        kept.push(`${slot.slot_name} (in use: stop its consumer first)`);
        continue;
      }
      await source.query("SELECT pg_drop_replication_slot($1)", [slot.slot_name]);
      dropped.push(`slot ${slot.slot_name}`);
    }
  });
  return { ok: kept.length === 0, dropped, kept };
}

/** Whether the source holds a capture whose cutover is not done (read on the target, so --target is required while triggers are there). */
async function unfinishedCapture(source: Client, targetUrl: string | undefined): Promise<boolean> {
  if (!(await captureInstalled(source))) return false;
  if (!targetUrl) throw new FerryError("the capture triggers are on the source: pass --target so cleanup can tell whether the capture cutover finished", 2);
  return withClient(targetUrl, async (t) => !(await inRecovery(t)) && (await loadCutover(t, "capture"))?.done !== true);
}
