// The load generator: writes and reads through the front door for the whole run, through
// the app's own API as a user's client would, bounded in count and in time, and remembers
// every acknowledged write (in memory and in JSON-lines files), so the end checks can prove
// each one reached where the app's data ends up:
//   - statuses (POST /api/v1/statuses): the row, its place in the author's home feed in
//     Redis, and the distribution job the app enqueued for it (its jid);
//   - media uploads (POST /api/v1/media, multipart): the file, in the app's own bucket;
//   - reads: home timelines from the web process, and the user stream from the streaming
//     server (the stream is open once its first bytes, `:)`, arrive).
import { createWriteStream, WriteStream } from "node:fs";
import { randomBytes } from "node:crypto";
import { AckedUpload, AckedWrite, RequestEvent } from "./timeline";

export interface LoadOptions {
  /** The web process's hostname, through the edge. */
  baseUrl: string;
  /** The streaming server's hostname, through the edge (a stack that names one). */
  streamingUrl?: string;
  /** Account ids 1..accounts exist in the app's schema. */
  accounts: number;
  writesPerSecond: number;
  readsPerSecond: number;
  uploadsPerSecond: number;
  maxWrites: number;
  maxDurationMs: number;
  /** A request slower than this counts as failed (the client gave up). */
  timeoutMs: number;
  /** JSON-lines files of acknowledged writes and uploads. */
  ackFile?: string;
  uploadAckFile?: string;
  /** Unique per run, so a write's text identifies it. */
  runId: string;
}

/** What the load observes, as lists that only grow: every request, and every write and upload acknowledged. */
export interface LoadObservations {
  requests: RequestEvent[];
  acked: AckedWrite[];
  uploads: AckedUpload[];
}

export const OBSERVATION_LISTS = ["requests", "acked", "uploads"] as const satisfies ReadonlyArray<keyof LoadObservations>;

export interface LoadGenerator extends LoadObservations {
  /** Stop sending; resolves when in-flight requests have settled. */
  stop(): Promise<void>;
  /** Resolves when the bounds are reached or stop() was called. */
  done: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return "timeout";
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

interface Answer {
  status: number;
  body?: unknown;
  servedBy?: string;
  error?: string;
}

async function timedRequest(url: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const error = res.ok ? undefined : ((body as { error?: string })?.error ?? text.slice(0, 120).replace(/\s+/g, " "));
    return { status: res.status, body, servedBy: res.headers.get("x-served-by") ?? undefined, error };
  } catch (err) {
    return { status: 0, error: describeError(err) };
  }
}

/** Open an event stream and read until its first bytes; then close it. */
async function streamOpens(url: string, timeoutMs: number): Promise<Answer> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new DOMException("timeout", "TimeoutError")), timeoutMs);
  try {
    const res = await fetch(url, { signal: abort.signal });
    const servedBy = res.headers.get("x-served-by") ?? undefined;
    if (!res.ok || !res.body) {
      const text = await res.text();
      let error = text.slice(0, 120).replace(/\s+/g, " ");
      try {
        error = (JSON.parse(text) as { error?: string }).error ?? error;
      } catch {
        // not JSON: the text as it is
      }
      return { status: res.status, servedBy, error };
    }
    const first = await res.body.getReader().read();
    const text = first.value ? Buffer.from(first.value).toString("utf8") : "";
    return text.startsWith(":)") ? { status: res.status, servedBy } : { status: res.status, servedBy, error: `the stream opened with ${JSON.stringify(text.slice(0, 40))}` };
  } catch (err) {
    return { status: 0, error: describeError(err) };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/**
 * A production app has served for hours when its migration starts: every process's
 * connections are open and its code paths loaded. The rehearsal's source app has just
 * booted, and a cold puma thread's first write took 4 s (its first TLS connections to
 * Postgres and Redis, beside the first up's program evaluation): so before the load
 * counts anything, the app serves `rounds` rounds of home-timeline reads and statuses
 * that nothing judges (a status not acknowledged to the load is in no check).
 */
export async function warmUp(opts: Pick<LoadOptions, "baseUrl" | "accounts">, rounds = 4, concurrency = 8): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await Promise.allSettled(Array.from({ length: concurrency }, async (_, i) => {
      const accountId = 1 + ((round * concurrency + i) % opts.accounts);
      const signal = AbortSignal.timeout(30_000);
      await (await fetch(`${opts.baseUrl}/api/v1/timelines/home?account_id=${accountId}`, { signal })).arrayBuffer();
      await (await fetch(`${opts.baseUrl}/api/v1/statuses`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ account_id: accountId, status: "warm-up" }), signal })).arrayBuffer();
    }));
  }
}

/** Run `loops` loops of `fn`, each paced so that all together make `perSecond`, until `active()` is false. */
async function paced(loops: number, perSecond: number, active: () => boolean, fn: () => Promise<void>): Promise<void> {
  if (perSecond <= 0) return;
  const intervalMs = (1000 * loops) / perSecond;
  await Promise.all(
    Array.from({ length: loops }, async (_, i) => {
      await sleep((intervalMs * i) / loops);
      while (active()) {
        const started = Date.now();
        await fn();
        const wait = intervalMs - (Date.now() - started);
        if (wait > 0) await sleep(wait);
      }
    }),
  );
}

export function startLoad(opts: LoadOptions): LoadGenerator {
  const requests: RequestEvent[] = [];
  const acked: AckedWrite[] = [];
  const uploads: AckedUpload[] = [];
  const ackStream: WriteStream | undefined = opts.ackFile ? createWriteStream(opts.ackFile, { flags: "w" }) : undefined;
  const uploadStream: WriteStream | undefined = opts.uploadAckFile ? createWriteStream(opts.uploadAckFile, { flags: "w" }) : undefined;
  const deadline = Date.now() + opts.maxDurationMs;
  let seq = 0;
  let uploadSeq = 0;
  let stopped = false;
  const active = () => !stopped && Date.now() < deadline && seq < opts.maxWrites;
  const account = () => 1 + Math.floor(Math.random() * opts.accounts);
  const record = (kind: RequestEvent["kind"], sentAt: number, ok: boolean, r: Answer) =>
    requests.push({ kind, sentAt, doneAt: Date.now(), ok, status: r.status, servedBy: r.servedBy, error: ok ? undefined : (r.error ?? `HTTP ${r.status}`) });

  const write = async () => {
    const n = ++seq;
    const accountId = account();
    const text = `rehearsal ${opts.runId} write ${n}`;
    const sentAt = Date.now();
    const r = await timedRequest(`${opts.baseUrl}/api/v1/statuses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ account_id: accountId, status: text }),
    }, opts.timeoutMs);
    const body = r.body as { id?: string; text?: string; jid?: string } | undefined;
    const ok = r.status === 200 && typeof body?.id === "string" && body.text === text && typeof body.jid === "string";
    record("write", sentAt, ok, r);
    if (ok) {
      const w: AckedWrite = { id: body!.id!, text, accountId, jid: body!.jid!, sentAt, ackAt: Date.now(), servedBy: r.servedBy };
      acked.push(w);
      ackStream?.write(JSON.stringify(w) + "\n");
    }
  };

  const upload = async () => {
    const n = ++uploadSeq;
    const accountId = account();
    const form = new FormData();
    form.set("account_id", String(accountId));
    form.set("file", new Blob([randomBytes(2048)], { type: "image/png" }), `rehearsal-${opts.runId}-${n}.png`);
    const sentAt = Date.now();
    const r = await timedRequest(`${opts.baseUrl}/api/v1/media`, { method: "POST", body: form }, opts.timeoutMs);
    const body = r.body as { id?: string; key?: string; bucket?: string } | undefined;
    const ok = r.status === 200 && typeof body?.key === "string" && typeof body.bucket === "string";
    record("write", sentAt, ok, r);
    if (ok) {
      const u: AckedUpload = { id: String(body!.id), key: body!.key!, bucket: body!.bucket!, accountId, sentAt, ackAt: Date.now(), servedBy: r.servedBy };
      uploads.push(u);
      uploadStream?.write(JSON.stringify(u) + "\n");
    }
  };

  const readTimeline = async () => {
    const sentAt = Date.now();
    const r = await timedRequest(`${opts.baseUrl}/api/v1/timelines/home?account_id=${account()}`, {}, opts.timeoutMs);
    record("read", sentAt, r.status === 200 && Array.isArray(r.body), r);
  };

  const readStream = async () => {
    const sentAt = Date.now();
    const r = await streamOpens(`${opts.streamingUrl}/api/v1/streaming/user?account_id=${account()}`, opts.timeoutMs);
    record("read", sentAt, r.status === 200 && !r.error, r);
  };

  // A third of the reads open a stream when the stack has a streaming hostname.
  const streamReads = opts.streamingUrl ? opts.readsPerSecond / 3 : 0;
  const done = Promise.all([
    paced(4, opts.writesPerSecond, active, write),
    paced(1, opts.uploadsPerSecond, active, upload),
    paced(2, opts.readsPerSecond - streamReads, active, readTimeline),
    paced(1, streamReads, active, readStream),
  ]).then(() => Promise.all([ackStream, uploadStream].map((s) => new Promise<void>((r) => (s ? s.end(() => r()) : r())))).then(() => undefined));
  return {
    requests,
    acked,
    uploads,
    done,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}
