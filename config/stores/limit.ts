// What the program moves today: one Postgres and one Redis per stack. A stack may name
// several of each (the config and `ferry init` read them), but until the cutover, the
// plan and the rehearsal move each store, buildFerry refuses such a stack before it
// declares any resource, rather than moving one store and leaving the others behind.
import { FerryConfigError } from "../errors";
import type { StoreSet } from "./model";

const LABELS = { postgres: "Postgres", redis: "Redis" } as const;

export function refuseSeveralStores(stores: StoreSet): void {
  for (const kind of ["postgres", "redis"] as const) {
    const names = stores[kind].map((s) => s.name);
    if (names.length <= 1) continue;
    throw new FerryConfigError(`ferry:source.${kind}: names ${names.length} ${LABELS[kind]} stores (${names.join(", ")}), and this version of ferry moves one ${LABELS[kind]} store per stack: nothing was changed; keep one store of each kind per stack until several move in one cutover (issue 27)`);
  }
}
