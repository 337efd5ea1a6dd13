// `ferry status`: every moving store at once: its stage, its lag and the next step, as
// the per-store status commands and the records replicate and cutover keep see them.
import { withClient } from "../postgres/connection";
import { recordedStrategy } from "../postgres/recorded";
import { status as pgStatus, StatusReport } from "../postgres/status";
import { Endpoint } from "../redis/connection";
import { cutoverDone } from "../redis/cutover";
import { recordedMode } from "../redis/recorded";
import { status as redisStatus, StatusResult } from "../redis/status";

export interface StoreStatus {
  store: "postgres" | "redis";
  /** strategy (Postgres) or mode (Redis) recorded by replicate; null when nothing was. */
  method: string | null;
  stage: string;
  lagBytes: number | null;
  next: string;
}

export interface StackStatusOptions {
  postgres?: { sourceUrl: string; targetUrl: string };
  redis?: { source: Endpoint; target: Endpoint };
  /** Between the two samples that give the copy rate (ms). */
  sampleMs?: number;
}

export async function stackStatus(opts: StackStatusOptions): Promise<{ stores: StoreStatus[] }> {
  const stores = await Promise.all([
    opts.postgres ? postgresStatus(opts.postgres, opts.sampleMs) : undefined,
    opts.redis ? redisStoreStatus(opts.redis) : undefined,
  ]);
  return { stores: stores.filter((s): s is StoreStatus => s !== undefined) };
}

async function postgresStatus(urls: { sourceUrl: string; targetUrl: string }, sampleMs?: number): Promise<StoreStatus> {
  const strategy = await withClient(urls.sourceUrl, (s) => withClient(urls.targetUrl, (t) => recordedStrategy(s, t)));
  if (!strategy) return { store: "postgres", method: null, stage: "not replicating", lagBytes: null, next: "ferry pg preflight, then ferry pg replicate --strategy physical|logical|dump" };
  const r = await pgStatus({ ...urls, strategy, sampleMs });
  return { store: "postgres", method: strategy, stage: r.phase, lagBytes: r.lag?.bytes ?? null, next: postgresNext(r) };
}

export function postgresNext(r: Pick<StatusReport, "phase" | "cutover" | "copy" | "strategy">): string {
  if (r.cutover?.done) return r.cutover.fenced ? "done: point the app at the target, then decommission the source" : "done (the source is no longer fenced)";
  if (r.cutover?.fenced) return "a cutover stopped half way: rerun ferry cutover to finish (or ferry pg rollback to give the source back)";
  if (r.phase === "initial copy") return `wait for the initial copy${r.copy?.etaSeconds ? ` (about ${r.copy.etaSeconds} s left)` : ""}`;
  if (r.phase === "not started") return `ferry pg replicate --strategy ${r.strategy}`;
  return "ferry cutover";
}

async function redisStoreStatus(eps: { source: Endpoint; target: Endpoint }): Promise<StoreStatus> {
  const [mode, mark] = await Promise.all([recordedMode(eps.target), cutoverDone(eps.target)]);
  if (mark) return { store: "redis", method: mark.mode, stage: `cut over at ${mark.at}`, lagBytes: null, next: "done: point the app at the target, then decommission the source" };
  if (!mode) return { store: "redis", method: null, stage: "not replicating", lagBytes: null, next: "ferry redis preflight, then ferry redis replicate --strategy replicaof|copy" };
  const r = await redisStatus(eps.source, eps.target);
  return { store: "redis", method: mode, ...redisStage(r) };
}

export function redisStage(r: StatusResult): Pick<StoreStatus, "stage" | "lagBytes" | "next"> {
  if (r.mode === "replicaof") {
    const s = r.replica;
    if (!s.linkUp || s.syncInProgress) return { stage: s.syncInProgress ? "initial sync" : "replica link down", lagBytes: s.lagBytes, next: "wait for the replica's initial sync (link up)" };
    return { stage: "replicating", lagBytes: s.lagBytes, next: "ferry cutover" };
  }
  if (r.mode === "copy") {
    const c = r.copy;
    const stage = `copy ${c.phase} (${c.copied}/${c.total} keys, backlog ${c.backlog}${c.followerAlive ? ", follower alive" : ""})`;
    return { stage, lagBytes: null, next: c.phase === "copying" ? "wait for the bulk copy to finish" : "ferry cutover" };
  }
  return { stage: "promoted, not marked", lagBytes: null, next: "a cutover stopped half way: rerun ferry cutover to finish" };
}
