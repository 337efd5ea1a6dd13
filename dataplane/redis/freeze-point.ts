// A test hook, inert unless its variable is set (as the Postgres cutover's crash points,
// dataplane/postgres/cutover/crash-points.ts):
//
//   FERRY_TEST_FREEZE_BATCH_WITH=<key>   the first batch holding <key>, read from the source
//                                        and not yet written, stops the process (SIGSTOP, as
//                                        a frozen VM or a starved process would stall)
//
// The line `ferry: frozen before writing a batch of db <n>` goes to stderr first, so the
// test knows the moment; it thaws the process with SIGCONT.
let frozen = false;

/** The prefix of the line printed before freezing. */
export const FROZEN_PREFIX = "ferry: frozen before writing a batch of db ";

/** A test may freeze the process here: `keys` were read from the source, not yet written. */
export function freezePoint(db: number, keys: Buffer[]): void {
  const wanted = process.env.FERRY_TEST_FREEZE_BATCH_WITH;
  if (wanted === undefined || frozen || !keys.some((k) => k.toString("latin1") === wanted)) return;
  frozen = true;
  // Synchronous on a pipe or file (Linux): the line is out before the stop.
  process.stderr.write(`${FROZEN_PREFIX}${db}\n`);
  process.kill(process.pid, "SIGSTOP");
}
