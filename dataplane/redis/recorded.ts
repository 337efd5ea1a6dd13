// Which mode `ferry redis replicate` chose, read back from the target: a replica is
// `replicaof`, a copy's state (`ferry:state:meta`) is `copy`, and once cut over the mark
// names the mode; a promoted replica not yet marked still holds the fence record it
// replicated from the source, and the note that its data is ferry's (ferry:state:fill,
// written as it stopped replicating); a copy skips ferry:state:*, so a copy target holds
// neither. The cutover then need not be told again, and a --strategy that disagrees is
// refused before anything is touched.
import { FerryError } from "../cli/common";
import { DbClients, Endpoint } from "./connection";
import { FENCE_KEY } from "./fence";
import { cutoverMark } from "./mark";
import { info } from "./info";
import { FILL, readMeta } from "./state";

export type RedisMode = "replicaof" | "copy";
export const REDIS_MODES: readonly RedisMode[] = ["replicaof", "copy"];

export async function recordedMode(target: Endpoint): Promise<RedisMode | null> {
  const t = new DbClients(target);
  try {
    if ((await info(await t.db(0), "replication")).role === "slave") return "replicaof";
    const mark = await cutoverMark(t);
    if (mark && REDIS_MODES.includes(mark.mode as RedisMode)) return mark.mode as RedisMode;
    if (await (await t.db(0)).exists(FENCE_KEY, FILL)) return "replicaof";
    return (await readMeta(t)) ? "copy" : null;
  } finally {
    await t.close();
  }
}

/** The mode to use: the recorded one; a --strategy that disagrees with it is refused in one line. */
export function chooseMode(flag: RedisMode | undefined, recorded: RedisMode | null): RedisMode {
  if (flag && recorded && flag !== recorded) {
    throw new FerryError(`--strategy ${flag} disagrees with the strategy ferry redis replicate recorded on the target (${recorded}): drop --strategy or pass --strategy ${recorded}`, 2);
  }
  const chosen = flag ?? recorded;
  if (!chosen) throw new FerryError(`missing --strategy: ferry redis replicate recorded none on the target; pass --strategy ${REDIS_MODES.join("|")}`, 2);
  return chosen;
}
