// Polling with a short interval: during cutover every poll interval is write
// downtime, so waits check every few milliseconds instead of sleeping in long steps.
import { sleep } from "../cli/common";

/** Resolve once `check` returns true; throw `onTimeout()`'s message after `timeoutMs`. */
export async function pollUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  onTimeout: () => string | Promise<string>,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(await onTimeout());
    await sleep(intervalMs);
  }
}
