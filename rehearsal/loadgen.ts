// The load generator: writes and reads through the front door for the whole run,
// bounded in count and in time, and remembers every acknowledged write (id, text,
// when) in memory and in a JSON-lines file, so the end check can prove each one
// reached the target.
import { createWriteStream, WriteStream } from "node:fs";
import { AckedWrite, RequestEvent } from "./timeline";

export interface LoadOptions {
  baseUrl: string;
  /** Account ids 1..accounts exist in the app's schema. */
  accounts: number;
  writesPerSecond: number;
  readsPerSecond: number;
  maxWrites: number;
  maxDurationMs: number;
  /** A request slower than this counts as failed (the client gave up). */
  timeoutMs: number;
  /** JSON-lines file of acknowledged writes. */
  ackFile?: string;
  /** Unique per run, so a write's text identifies it. */
  runId: string;
}

export interface LoadGenerator {
  requests: RequestEvent[];
  acked: AckedWrite[];
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

async function timedRequest(url: string, init: RequestInit, timeoutMs: number): Promise<{ status: number; body?: unknown; servedBy?: string; error?: string }> {
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

/** Run `loops` loops of `fn`, each paced to `perLoopHz`, until `active()` is false. */
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
  const ackStream: WriteStream | undefined = opts.ackFile ? createWriteStream(opts.ackFile, { flags: "w" }) : undefined;
  const deadline = Date.now() + opts.maxDurationMs;
  let seq = 0;
  let stopped = false;
  const active = () => !stopped && Date.now() < deadline && seq < opts.maxWrites;
  const account = () => 1 + Math.floor(Math.random() * opts.accounts);

  const write = async () => {
    const n = ++seq;
    const accountId = account();
    const text = `rehearsal ${opts.runId} write ${n}`;
    const sentAt = Date.now();
    const r = await timedRequest(`${opts.baseUrl}/statuses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ account_id: accountId, text }),
    }, opts.timeoutMs);
    const doneAt = Date.now();
    const body = r.body as { id?: string; text?: string } | undefined;
    const ok = r.status === 201 && typeof body?.id === "string" && body.text === text;
    requests.push({ kind: "write", sentAt, doneAt, ok, status: r.status, servedBy: r.servedBy, error: ok ? undefined : (r.error ?? `HTTP ${r.status}`) });
    if (ok) {
      const record: AckedWrite = { id: body!.id!, text, accountId, sentAt, ackAt: doneAt, servedBy: r.servedBy };
      acked.push(record);
      ackStream?.write(JSON.stringify(record) + "\n");
    }
  };

  const read = async () => {
    const sentAt = Date.now();
    const r = await timedRequest(`${opts.baseUrl}/feeds/${account()}`, {}, opts.timeoutMs);
    requests.push({ kind: "read", sentAt, doneAt: Date.now(), ok: r.status === 200, status: r.status, servedBy: r.servedBy, error: r.status === 200 ? undefined : (r.error ?? `HTTP ${r.status}`) });
  };

  const done = Promise.all([paced(4, opts.writesPerSecond, active, write), paced(2, opts.readsPerSecond, active, read)]).then(
    () => new Promise<void>((r) => (ackStream ? ackStream.end(() => r()) : r())),
  );
  return {
    requests,
    acked,
    done,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}
