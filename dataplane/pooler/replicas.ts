// The cutover's side of the pooler (docs/pooler.md): every replica's supervisor (`ferry
// pooler serve`) reached over HTTPS, verified against the pooler's CA, with the admin
// password as a bearer token. Named steps, one per replica, each idempotent (a paused
// replica pauses again as "already paused", a repointed one reports "unchanged"), so a
// rerun after a crash continues. ALL replicas are paused or none is: a replica that cannot
// be paused has the others resumed on the server they use, and the step fails. Each step
// runs on one store's side of the replicas: PgBouncer (`postgres`, the default) or the
// Redis proxy (`redis`, the same routes under /redis).
import { request } from "node:https";
import type { ReplicaState } from "./serve";
import type { RedisProxyState } from "./redis-proxy";

/** Which half of the pooler a step drives. */
export type PoolerStore = "postgres" | "redis";
const PREFIX: Record<PoolerStore, string> = { postgres: "", redis: "/redis" };

/** One replica's side as its control API reports it (Postgres: the alias's server; Redis: the proxy's). */
export type SideState = ReplicaState | RedisProxyState;

/** host:port/database of a side, for messages (never credentials). */
export const whereOf = (s: SideState) => `${s.host}:${s.port}/${"dbname" in s ? s.dbname : s.db}`;

export interface PoolerAccess {
  /** The control URLs, https://host:port, one per replica. */
  replicas: string[];
  adminPassword: string;
  /** PEM the replicas' certificates chain to (default: Node's CA store). */
  ca?: string;
  /** How long one request may take beyond a pause's own deadline. */
  requestTimeoutMs?: number;
}

export interface PoolerStep {
  name: string;
  ms: number;
  detail?: string;
}

export interface PoolerResult {
  ok: boolean;
  steps: PoolerStep[];
  replicas: (SideState & { replica: string })[];
  error?: string;
}

export class PoolerFailed extends Error {
  constructor(message: string, readonly result: PoolerResult) {
    super(message);
  }
}

/** A replica named for messages: its control host and port (no secret). */
export const replicaName = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
};

/** One control request; the answer's `error` (or a transport failure) becomes one line naming the replica. */
async function call<T>(access: PoolerAccess, replica: string, method: "GET" | "POST", path: string, body?: object, extraMs = 0): Promise<T> {
  const payload = body ? JSON.stringify(body) : undefined;
  const timeout = (access.requestTimeoutMs ?? 10_000) + extraMs;
  return new Promise<T>((resolve, reject) => {
    const req = request(new URL(path, replica), {
      method,
      ca: access.ca,
      timeout,
      headers: { authorization: `Bearer ${access.adminPassword}`, ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}) },
    }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          return reject(new Error(`pooler ${replicaName(replica)}: answered ${res.statusCode} without JSON`));
        }
        if (res.statusCode !== 200) return reject(new Error(`pooler ${replicaName(replica)}: ${String(parsed.error ?? `HTTP ${res.statusCode}`)}`));
        resolve(parsed as T);
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeout / 1000} s`)));
    req.on("error", (err) => reject(err.message.startsWith("pooler ") ? err : new Error(`pooler ${replicaName(replica)}: ${err.message.split("\n")[0]}`)));
    req.end(payload);
  });
}

/** Every replica's step side by side; each settles before the outcome is known. */
async function eachReplica<T>(access: PoolerAccess, fn: (replica: string) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(access.replicas.map(fn));
}

function stepOf(name: string, replica: string, t0: number, detail: string): PoolerStep {
  return { name: `${name} ${replicaName(replica)}`, ms: Date.now() - t0, detail };
}

type Stated = SideState & { replica: string };

function outcome(settled: PromiseSettledResult<{ step: PoolerStep; state: Stated }>[]): { steps: PoolerStep[]; replicas: Stated[]; failed: string[] } {
  const ok = settled.filter((s): s is PromiseFulfilledResult<{ step: PoolerStep; state: Stated }> => s.status === "fulfilled").map((s) => s.value);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => (s.reason as Error).message);
  return { steps: ok.map((o) => o.step), replicas: ok.map((o) => o.state), failed };
}

/** The state every replica reports. */
export async function poolerStatus(access: PoolerAccess, store: PoolerStore = "postgres"): Promise<PoolerResult> {
  const settled = await eachReplica(access, async (replica) => ({ replica, ...(await call<SideState>(access, replica, "GET", `${PREFIX[store]}/status`)) }));
  const replicas = settled.filter((s): s is PromiseFulfilledResult<Stated> => s.status === "fulfilled").map((s) => s.value);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => (s.reason as Error).message);
  return { ok: failed.length === 0, steps: [], replicas, ...(failed.length ? { error: failed.join("; ") } : {}) };
}

/** The Redis proxy's blocked commands a pause ended (sent again at the resume), or why it could not. */
function redisUnblocked(r: RedisProxyState & { unblockedByPause?: number }): string {
  if (r.unblockRefused !== undefined) return `; blocked commands waited out: the server refused CLIENT UNBLOCK (${r.unblockRefused})`;
  return r.unblockedByPause ? `, ${r.unblockedByPause} blocked command(s) unblocked, to be sent again at the resume` : "";
}

/**
 * Every replica paused: in-flight transactions finish, new ones wait in the pooler. One
 * that cannot be paused within `timeoutMs` (it resumes itself) fails the step after every
 * other replica is resumed: the app keeps its source and no query failed.
 */
export async function pauseAll(access: PoolerAccess, timeoutMs: number, store: PoolerStore = "postgres"): Promise<PoolerResult> {
  const settled = await eachReplica(access, async (replica) => {
    const t0 = Date.now();
    const r = await call<SideState & { already: boolean; unblockedByPause?: number }>(access, replica, "POST", `${PREFIX[store]}/pause`, { timeoutMs }, timeoutMs);
    const left = "serverConnections" in r ? `${r.serverConnections} server connection(s) left` : `${r.clients} client(s), ${r.held} command(s) held${redisUnblocked(r)}`;
    return { step: stepOf("pause", replica, t0, r.already ? "already paused" : `paused, ${left}`), state: { replica, ...r } };
  });
  const done = outcome(settled);
  if (!done.failed.length) return { ok: true, steps: done.steps, replicas: done.replicas };
  const back = await resumeAll(access, store);
  const error = `could not pause every pooler replica (${done.failed.join("; ")}); ${back.ok ? "every replica was resumed on the server it uses" : `resuming failed too: ${back.error}`}`;
  return { ok: false, steps: [...done.steps, ...back.steps], replicas: back.replicas, error };
}

type Moved = { step: PoolerStep; state: Stated };

/**
 * One replica pointed at `serverUrl` (its credentials travel in the request body over TLS
 * only); with `resume`, resumed there by the supervisor once the repoint passed.
 */
async function repointOne(access: PoolerAccess, replica: string, serverUrl: string, store: PoolerStore, resume = false): Promise<Moved & { resumed?: boolean }> {
  const t0 = Date.now();
  const r = await call<SideState & { changed: boolean; resumed?: boolean }>(access, replica, "POST", `${PREFIX[store]}/repoint`, { url: serverUrl, ...(resume ? { resume } : {}) });
  const resumed = r.resumed === undefined ? "" : r.resumed ? ", resumed" : ", was not paused";
  return { step: stepOf("repoint", replica, t0, `${r.changed ? "now points at" : "already points at"} ${whereOf(r)}${resumed}`), state: { replica, ...r }, resumed: r.resumed };
}

async function resumeOne(access: PoolerAccess, replica: string, store: PoolerStore): Promise<Moved> {
  const t0 = Date.now();
  const r = await call<SideState & { resumed: boolean }>(access, replica, "POST", `${PREFIX[store]}/resume`);
  return { step: stepOf("resume", replica, t0, `${r.resumed ? "resumed" : "was not paused"} on ${whereOf(r)}`), state: { replica, ...r } };
}

/** Every replica pointed at `serverUrl`. */
export async function repointAll(access: PoolerAccess, serverUrl: string, store: PoolerStore = "postgres"): Promise<PoolerResult> {
  const done = outcome(await eachReplica(access, (replica) => repointOne(access, replica, serverUrl, store)));
  return { ok: !done.failed.length, steps: done.steps, replicas: done.replicas, ...(done.failed.length ? { error: `could not repoint every pooler replica: ${done.failed.join("; ")}` } : {}) };
}

/** Every replica resumed (on whatever server it points at now). */
export async function resumeAll(access: PoolerAccess, store: PoolerStore = "postgres"): Promise<PoolerResult> {
  const done = outcome(await eachReplica(access, (replica) => resumeOne(access, replica, store)));
  return { ok: !done.failed.length, steps: done.steps, replicas: done.replicas, ...(done.failed.length ? { error: `could not resume every pooler replica: ${done.failed.join("; ")}` } : {}) };
}

/**
 * Every replica pointed at `serverUrl` and resumed there, each as soon as its own repoint
 * is done (its clients wait no longer than it takes), in one request: the supervisor
 * resumes only once the repoint passed, so one whose repoint fails stays paused (it must
 * never resume on the server it left). A supervisor from before `resume` answers without
 * `resumed`: it is resumed with a second request.
 */
export async function switchAll(access: PoolerAccess, serverUrl: string, store: PoolerStore = "postgres"): Promise<PoolerResult> {
  const done = outcome(await eachReplica(access, async (replica) => {
    const moved = await repointOne(access, replica, serverUrl, store, true);
    return moved.resumed === undefined ? resumeOne(access, replica, store) : moved;
  }));
  return { ok: !done.failed.length, steps: done.steps, replicas: done.replicas, ...(done.failed.length ? { error: `could not repoint and resume every pooler replica: ${done.failed.join("; ")}` } : {}) };
}
