// `--strategy replicaof`: the target becomes a replica of the source (a self-managed source
// such as the Vultr box; Heroku refuses outside replicas and ElastiCache refuses to be
// one). REPLICAOF throws the target's data away and full-syncs, so a non-empty target
// needs an explicit --conflict replace. Cutover waits for the link to be up and the
// offsets equal, promotes with REPLICAOF NO ONE, and removes the source's password from
// the target's configuration.
import Redis from "ioredis";
import { FerryError, sleep } from "../cli/common";
import { connect, Endpoint, parseRedisUrl, withClient } from "./connection";
import { dbKeyCounts, info } from "./info";
import { probeReplication } from "./probes";
import { FILL } from "./state";

export interface ReplicaStatus {
  role: string;
  linkUp: boolean;
  syncInProgress: boolean;
  sourceOffset: number;
  targetOffset: number;
  lagBytes: number;
  inSync: boolean;
}

export async function replicaStatus(source: Redis, target: Redis): Promise<ReplicaStatus> {
  // Source first: once the target has reached this offset it holds every write before it.
  const src = await info(source, "replication");
  const dst = await info(target, "replication");
  const sourceOffset = Number(src.master_repl_offset ?? 0);
  const targetOffset = Number(dst.slave_repl_offset ?? dst.master_repl_offset ?? 0);
  const linkUp = dst.role === "slave" && dst.master_link_status === "up";
  return {
    role: dst.role ?? "unknown",
    linkUp,
    syncInProgress: dst.master_sync_in_progress === "1",
    sourceOffset,
    targetOffset,
    lagBytes: Math.max(0, sourceOffset - targetOffset),
    inSync: linkUp && dst.master_sync_in_progress !== "1" && targetOffset >= sourceOffset,
  };
}

async function configSet(target: Redis, name: string, value: string): Promise<void> {
  try {
    await target.call("CONFIG", "SET", name, value);
  } catch (err) {
    throw new FerryError(`--target refused CONFIG SET ${name} (${(err as Error).message}); replicaof needs a self-managed target`, 1);
  }
}

export interface StartReplicaOptions {
  source: Endpoint;
  target: Endpoint;
  /** "replace" acknowledges that the target's current data is thrown away. */
  conflict?: "replace" | "skip";
  timeoutMs: number;
  onProgress?: (s: ReplicaStatus) => void;
}

export async function startReplicaOf(opts: StartReplicaOptions): Promise<ReplicaStatus> {
  if (opts.conflict === "skip") throw new FerryError("--conflict skip is impossible with --strategy replicaof: a replica takes the source's data whole", 2);
  const probe = await withClient(opts.source, probeReplication);
  if (!probe.canFeedReplica) throw new FerryError(`--source cannot feed an outside replica (${probe.detail}); use --strategy copy`, 1);
  const source = await connect(opts.source);
  const target = await connect(opts.target);
  try {
    const keys = [...(await dbKeyCounts(target)).values()].reduce((a, b) => a + b, 0);
    const already = (await info(target, "replication")).role === "slave";
    if (keys > 0 && !already && opts.conflict !== "replace") {
      throw new FerryError(`--target holds ${keys} keys that ferry did not copy there (its own copy is emptied by ferry redis cleanup) and that REPLICAOF would discard; pass --conflict replace to accept`, 2);
    }
    const src = parseRedisUrl(opts.source.url, "--source");
    if (src.username) await configSet(target, "masteruser", src.username);
    if (src.password) await configSet(target, "masterauth", src.password);
    if (src.tls) await configSet(target, "tls-replication", "yes");
    await target.call("REPLICAOF", src.host, String(src.port));
    return await waitUntil(source, target, (s) => s.linkUp && !s.syncInProgress, opts.timeoutMs, "the initial sync", opts.onProgress);
  } finally {
    source.disconnect();
    target.disconnect();
  }
}

/** Poll until `done`; fail after `timeoutMs` with the last status. */
export async function waitUntil(
  source: Redis,
  target: Redis,
  done: (s: ReplicaStatus) => boolean,
  timeoutMs: number,
  what: string,
  onProgress?: (s: ReplicaStatus) => void,
): Promise<ReplicaStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await replicaStatus(source, target);
    onProgress?.(status);
    if (done(status)) return status;
    if (Date.now() > deadline) {
      const link = await info(target, "replication");
      throw new FerryError(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}: role ${status.role}, link ${link.master_link_status ?? "n/a"}, lag ${status.lagBytes} bytes`,
        1,
      );
    }
    await sleep(200);
  }
}

/**
 * A replica that just stopped replicating holds the source's data and nothing else:
 * say so on it, so that a cleanup (lowering ferry:replicate, after a rollback) may
 * empty it and a later replicate start over. The cutover's open removes the note: from
 * then on the data is the app's.
 */
export async function markOwnFill(t: Redis): Promise<void> {
  await t.set(FILL, JSON.stringify({ at: new Date().toISOString() }));
}

/** Wait for equal offsets, then promote the target. Writes must have stopped. */
export async function promoteReplica(source: Endpoint, target: Endpoint, timeoutMs: number): Promise<ReplicaStatus> {
  const s = await connect(source);
  const t = await connect(target);
  try {
    const role = (await info(t, "replication")).role;
    if (role !== "slave") throw new FerryError("--target is not a replica; run `ferry redis replicate --strategy replicaof` first", 1);
    const status = await waitUntil(s, t, (x) => x.inSync, timeoutMs, "equal replication offsets (are the app's writes stopped?)");
    await t.call("REPLICAOF", "NO", "ONE");
    await markOwnFill(t);
    // The source's password has no business staying in the new primary's configuration.
    await t.call("CONFIG", "SET", "masterauth", "").catch(() => undefined);
    await t.call("CONFIG", "SET", "masteruser", "").catch(() => undefined);
    return status;
  } finally {
    s.disconnect();
    t.disconnect();
  }
}
