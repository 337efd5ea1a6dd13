// Sidekiq's processes, quieted before a cutover and woken if it gives back.
//
// Why: a worker still pointed at the source keeps fetching jobs until the fences. A job
// it fetched just before the Postgres fence fails against the fenced database, and its
// push into the retry set meets the fenced (ACL) or paused (CLIENT PAUSE WRITE) source
// Redis: with Sidekiq's basic fetch the job was already popped, so it is neither run nor
// kept. Waiting for empty queues cannot close that gap (the app enqueues until its own
// fence); a quiet worker does: it takes no new job, finishes those in progress, and the
// jobs enqueued meanwhile wait in their queues, which are data and travel with the copy.
//
// Sidekiq's protocol, over Redis only (Sidekiq 6.4's launcher.rb and api.rb, the same in 7):
//   - `processes` (a set) names each live process; its hash `<identity>` is rewritten at
//     every heartbeat (every 5 s in Sidekiq 6, 10 s in 7; 60 s TTL) with `beat` (epoch
//     seconds) and `quiet` ("true" once the process is quiet); the jobs in progress
//     snapshotted in the same heartbeat go to `<identity>:workers` (6) or `:work` (7);
//   - `<identity>-signals` (a list) is popped at each heartbeat and the signal sent to the
//     process itself: TSTP quiets it (Sidekiq::Process#quiet!), TERM stops it (#stop!).
// Quiet is for good: Sidekiq has no way back from it. So the way back is TERM, after
// which the platform starts the process again as it does any that exits (ECS's service
// scheduler, Heroku's dyno manager, systemd's Restart=always in Mastodon's units).
//
// Proof that nothing is in progress: a heartbeat snapshots the jobs in progress BEFORE it
// writes `quiet`, so the beat that first reports quiet may have snapshotted a job that
// started just before the quiet. The next beat's snapshot is taken after it: empty there
// means empty for good (a job fetched after the quiet is pushed back to its queue).
//
// The processes ferry quieted are kept in `ferry:state:quieted` (a namespace copy and
// verify skip) beside Sidekiq's keys on the source, so any later command that gives the
// source back (a cutover's give-back, `ferry redis rollback`) wakes exactly those.
import type Redis from "ioredis";
import { Endpoint, withClient } from "./connection";
import { QUIETED } from "./state";

export interface QuietProcess {
  identity: string;
  /** Where it stands: signalled (not quiet yet), quiet (waiting for the next heartbeat), or idle. */
  state: "signalled" | "quiet" | "idle";
  /** Jobs in progress at its last heartbeat, and the hash that lists them. */
  busy: number;
  busyKey?: string;
}

interface QuietedRecord {
  namespace: string;
  identities: string[];
  at: string;
}

const prefix = (namespace?: string) => (namespace ? `${namespace}:` : "");

/** The live processes: those in `processes` whose heartbeat hash has not expired. */
async function liveProcesses(client: Redis, ns: string): Promise<Array<{ identity: string; beat: number; quiet: boolean; busy: number; busyKey?: string }>> {
  const out = [];
  for (const identity of (await client.smembers(`${ns}processes`)).sort()) {
    const [beat, quiet] = await client.hmget(`${ns}${identity}`, "beat", "quiet");
    if (beat === null) continue; // expired: the process is gone
    // Sidekiq 7 names the hash `:work`, Sidekiq 6 `:workers`.
    const counts = await Promise.all([`${ns}${identity}:work`, `${ns}${identity}:workers`].map(async (key) => ({ key, count: await client.hlen(key) })));
    const held = counts.find((c) => c.count > 0);
    out.push({ identity, beat: Number(beat), quiet: quiet === "true", busy: held?.count ?? 0, busyKey: held?.key });
  }
  return out;
}

async function signal(client: Redis, ns: string, identity: string, sig: "TSTP" | "TERM"): Promise<void> {
  // As Sidekiq::Process#signal does: the list expires if the process never beats again.
  await client.multi().lpush(`${ns}${identity}-signals`, sig).expire(`${ns}${identity}-signals`, 60).exec();
}

/** Kept before any signal is sent: whatever ferry quiets can be woken, even after a crash. */
async function remember(client: Redis, namespace: string, identities: Iterable<string>): Promise<void> {
  const record: QuietedRecord = { namespace, identities: [...identities].sort(), at: new Date().toISOString() };
  await client.set(QUIETED, JSON.stringify(record));
}

/**
 * Quiets the app's Sidekiq processes and reports how far they are. Called in a loop: each
 * poll signals the live processes not signalled yet (one started meanwhile too), and
 * `firstQuietBeat` holds, per process, the beat that first reported it quiet.
 */
export class SidekiqQuiet {
  private readonly ns: string;
  private readonly signalled = new Set<string>();
  private readonly firstQuietBeat = new Map<string, number>();

  constructor(private readonly client: Redis, private readonly namespace = "") {
    this.ns = prefix(namespace);
  }

  /** Where each live process stands; every one `idle` means Sidekiq runs nothing and will take nothing. */
  async poll(): Promise<QuietProcess[]> {
    const live = await liveProcesses(this.client, this.ns);
    const fresh = live.filter((p) => !this.signalled.has(p.identity)).map((p) => p.identity);
    if (fresh.length) {
      // Every process this run signalled (a rerun signals the still-quiet ones again: idempotent).
      await remember(this.client, this.namespace, [...this.signalled, ...fresh]);
      for (const identity of fresh) await signal(this.client, this.ns, identity, "TSTP");
      for (const identity of fresh) this.signalled.add(identity);
    }
    return live.map((p): QuietProcess => {
      const busy = { busy: p.busy, ...(p.busyKey ? { busyKey: p.busyKey } : {}) };
      if (!p.quiet) return { identity: p.identity, state: "signalled", ...busy };
      const first = this.firstQuietBeat.get(p.identity);
      if (first === undefined) this.firstQuietBeat.set(p.identity, p.beat);
      const confirmed = first !== undefined && p.beat > first;
      return { identity: p.identity, state: confirmed && p.busy === 0 ? "idle" : "quiet", ...busy };
    });
  }
}

/**
 * The way back from a quiet: TERM to every process ferry signalled that is still alive,
 * so that its platform starts it again; the record removed. Returns how many. A process
 * whose TSTP is still queued gets both, in order (RPOP takes the oldest): quiet, then stop.
 */
export async function wakeQuieted(endpoint: Endpoint): Promise<number> {
  return withClient(endpoint, async (client) => {
    const raw = await client.get(QUIETED);
    if (!raw) return 0;
    const record = JSON.parse(raw) as QuietedRecord;
    const ns = prefix(record.namespace);
    const alive = new Set((await liveProcesses(client, ns)).map((p) => p.identity));
    const woken = record.identities.filter((identity) => alive.has(identity));
    for (const identity of woken) await signal(client, ns, identity, "TERM");
    await client.del(QUIETED);
    return woken.length;
  });
}
