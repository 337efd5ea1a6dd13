// `status`: how far the move is. For a replica: link state, offsets and lag in bytes. For
// a copy: keys copied out of the total, keys per second, the dirty-key backlog and whether
// a follower is alive. Everything comes from the servers (and ferry:state:* on the target),
// so any process on any machine sees the same answer.
import { connect, DbClients, Endpoint } from "./connection";
import { info } from "./info";
import { replicaStatus, ReplicaStatus } from "./replicaof";
import { backlogSize, CopyPhase, readMeta, readProgress } from "./state";
import { HEARTBEAT_STALE_MS, sourceTimeMs } from "./copy";

export interface CopyStatus {
  phase: CopyPhase;
  conflict: string;
  dbs: number[];
  copied: number;
  skipped: number;
  total: number;
  keysPerSecond: number;
  backlog: number;
  followerAlive: boolean;
  heartbeatAgeMs?: number;
  /** Seconds of source changes not yet reconciled (nobody tailing since the last run). */
  untailedSeconds?: number;
}

export type StatusResult =
  | { mode: "replicaof"; replica: ReplicaStatus }
  | { mode: "copy"; copy: CopyStatus }
  | { mode: "none"; detail: string };

export async function copyStatus(source: DbClients, target: DbClients): Promise<CopyStatus | undefined> {
  const meta = await readMeta(target);
  if (!meta) return undefined;
  const now = await sourceTimeMs(await source.db(0));
  let copied = 0;
  let skipped = 0;
  let backlog = 0;
  for (const db of meta.dbs) {
    const p = await readProgress(target, db);
    copied += p.copied;
    skipped += p.skipped;
    backlog += await backlogSize(target, db);
  }
  const heartbeatAgeMs = meta.heartbeatMs !== undefined ? now - meta.heartbeatMs : undefined;
  const followerAlive = !!meta.following && heartbeatAgeMs !== undefined && heartbeatAgeMs < HEARTBEAT_STALE_MS;
  const elapsed = Math.max(((meta.heartbeatMs ?? now) - meta.startedAtMs) / 1000, 0.001);
  return {
    phase: meta.phase,
    conflict: meta.conflict,
    dbs: meta.dbs,
    copied,
    skipped,
    total: meta.sourceKeys,
    keysPerSecond: Math.round(copied / elapsed),
    backlog,
    followerAlive,
    heartbeatAgeMs,
    untailedSeconds: followerAlive ? undefined : Math.round((now - (meta.coveredUntilMs ?? meta.heartbeatMs ?? now)) / 1000),
  };
}

export async function status(sourceEp: Endpoint, targetEp: Endpoint): Promise<StatusResult> {
  const source = new DbClients(sourceEp);
  const target = new DbClients(targetEp);
  try {
    const t = await target.db(0);
    if ((await info(t, "replication")).role === "slave") {
      const s = await connect(sourceEp);
      try {
        return { mode: "replicaof", replica: await replicaStatus(s, t) };
      } finally {
        s.disconnect();
      }
    }
    const copy = await copyStatus(source, target);
    if (copy) return { mode: "copy", copy };
    return { mode: "none", detail: "the target is neither a replica nor holds ferry copy state" };
  } finally {
    await source.close();
    await target.close();
  }
}
