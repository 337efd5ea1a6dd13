// Key counts of a server without ferry's own state keys, which live among the data
// (state.ts: the copy's on the target, the fence record on the source) and must not
// count as data.
import { DbClients } from "./connection";
import { dbKeyCounts } from "./info";
import { BIG_PENDING, DIRTY, FENCE, FILL, INFLIGHT, LOCK, META, OWNER, PROGRESS, SKIPPED } from "./state";

const FIXED_STATE_KEYS = [META, LOCK, PROGRESS, DIRTY, INFLIGHT, SKIPPED, BIG_PENDING, FENCE, FILL, OWNER];

export async function dataKeyCounts(server: DbClients): Promise<Map<number, number>> {
  const counts = await dbKeyCounts(await server.db(0));
  for (const [db, n] of [...counts]) {
    const own = await (await server.db(db)).exists(...FIXED_STATE_KEYS);
    if (n - own > 0) counts.set(db, n - own);
    else counts.delete(db);
  }
  return counts;
}
