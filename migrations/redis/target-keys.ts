// Key counts of the target without ferry's own state keys, which live among the
// copied data (state.ts) and must not count as data.
import { DbClients } from "./connection";
import { dbKeyCounts } from "./info";
import { BIG_PENDING, DIRTY, INFLIGHT, LOCK, META, PROGRESS, SKIPPED } from "./state";

const FIXED_STATE_KEYS = [META, LOCK, PROGRESS, DIRTY, INFLIGHT, SKIPPED, BIG_PENDING];

export async function targetKeyCounts(target: DbClients): Promise<Map<number, number>> {
  const counts = await dbKeyCounts(await target.db(0));
  for (const [db, n] of [...counts]) {
    const own = await (await target.db(db)).exists(...FIXED_STATE_KEYS);
    if (n - own > 0) counts.set(db, n - own);
    else counts.delete(db);
  }
  return counts;
}
