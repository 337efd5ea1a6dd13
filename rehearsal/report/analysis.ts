// Figures derived from what the load generator saw: when writes were unavailable,
// per-second rates, errors and latencies. Pure functions of the recorded timeline.
import { RequestEvent } from "../timeline";

export interface Window {
  start: number;
  end: number;
  failedWrites: number;
}

/**
 * Windows in which writes failed or were refused: from the first failed attempt of a
 * run of consecutive failures (in send order) until a write next succeeded (its
 * acknowledgement), or the last failure's end when none did. The longest is the
 * downtime a user would have felt.
 */
export function writeOutages(requests: RequestEvent[]): Window[] {
  const writes = requests.filter((r) => r.kind === "write").sort((a, b) => a.sentAt - b.sentAt);
  const windows: Window[] = [];
  let open: Window | undefined;
  for (const w of writes) {
    if (!w.ok) {
      if (!open) open = { start: w.sentAt, end: w.doneAt, failedWrites: 0 };
      open.failedWrites++;
      open.end = Math.max(open.end, w.doneAt);
    } else if (open) {
      open.end = Math.max(open.end, w.doneAt);
      windows.push(open);
      open = undefined;
    }
  }
  if (open) windows.push(open);
  return windows;
}

export function longestWindow(windows: Window[]): Window | undefined {
  return windows.reduce<Window | undefined>((best, w) => (!best || w.end - w.start > best.end - best.start ? w : best), undefined);
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface SecondBucket {
  /** Start of the second, ms since epoch. */
  t: number;
  writesOk: number;
  readsOk: number;
  errors: number;
  latencyP50: number;
  latencyMax: number;
}

/** One bucket per second from `from` to `to`, by completion time. */
export function perSecond(requests: RequestEvent[], from: number, to: number): SecondBucket[] {
  const n = Math.max(1, Math.ceil((to - from) / 1000));
  const buckets = Array.from({ length: n }, (_, i) => ({ t: from + i * 1000, writesOk: 0, readsOk: 0, errors: 0, lat: [] as number[] }));
  for (const r of requests) {
    const i = Math.floor((r.doneAt - from) / 1000);
    if (i < 0 || i >= n) continue;
    const b = buckets[i];
    if (!r.ok) b.errors++;
    else if (r.kind === "write") b.writesOk++;
    else b.readsOk++;
    b.lat.push(r.doneAt - r.sentAt);
  }
  return buckets.map(({ lat, ...b }) => {
    const sorted = lat.sort((x, y) => x - y);
    return { ...b, latencyP50: percentile(sorted, 50), latencyMax: sorted.length ? sorted[sorted.length - 1] : 0 };
  });
}

export interface Latency {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function latencyOf(requests: RequestEvent[]): Latency {
  const sorted = requests.map((r) => r.doneAt - r.sentAt).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : 0 };
}

/** Share of successful requests in [from, to) served by each app (X-Served-By). */
export function servedShare(requests: RequestEvent[], from: number, to: number): Record<string, number> {
  const inRange = requests.filter((r) => r.ok && r.sentAt >= from && r.sentAt < to && r.servedBy);
  const counts: Record<string, number> = {};
  for (const r of inRange) counts[r.servedBy!] = (counts[r.servedBy!] ?? 0) + 1;
  const share: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts)) share[k] = Math.round((1000 * v) / inRange.length) / 1000;
  return share;
}

/** Most common error texts, for the report. */
export function topErrors(requests: RequestEvent[], limit = 5): Array<{ error: string; count: number }> {
  const counts = new Map<string, number>();
  for (const r of requests) if (!r.ok) counts.set(r.error ?? `HTTP ${r.status}`, (counts.get(r.error ?? `HTTP ${r.status}`) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([error, count]) => ({ error, count }));
}

/** A stretch of the run and its name (a stage's `pulumi up`). */
export interface NamedSpan {
  name: string;
  startedAt: number;
  endedAt: number;
}

/**
 * The cutover's write window(s): the write outages that overlap a stage that moves the
 * data stores or the app across cutover (raising ferry:cutover, or lowering it). Those
 * are the only failures a user is told to expect.
 */
export function cutoverWindows(requests: RequestEvent[], cutoverStages: NamedSpan[]): Window[] {
  return writeOutages(requests).filter((w) => cutoverStages.some((s) => w.start < s.endedAt && w.end > s.startedAt));
}

/** Where in the run a moment falls: a stage's `pulumi up`, or the traffic after one ("after X"). */
export function spanAt(t: number, stages: NamedSpan[]): string {
  const during = stages.find((s) => t >= s.startedAt && t <= s.endedAt);
  if (during) return during.name;
  const before = stages.filter((s) => s.endedAt < t).pop();
  return before ? `after ${before.name}` : `before ${stages[0]?.name ?? "the first stage"}`;
}

/** What a user felt during the ups that moved across cutover: the requests in flight then, those that failed, and the longest any waited. */
export interface FeltAtCutover {
  requests: number;
  failedRequests: number;
  failedWrites: number;
  /** The longest a request took (sent to answered, or to its failure), the ones that failed included. */
  longestWaitMs: number;
}

export function feltAtCutover(requests: RequestEvent[], cutoverStages: NamedSpan[]): FeltAtCutover {
  const during = requests.filter((r) => cutoverStages.some((s) => r.sentAt < s.endedAt && r.doneAt > s.startedAt));
  return {
    requests: during.length,
    failedRequests: during.filter((r) => !r.ok).length,
    failedWrites: during.filter((r) => !r.ok && r.kind === "write").length,
    longestWaitMs: during.reduce((m, r) => Math.max(m, r.doneAt - r.sentAt), 0),
  };
}

/**
 * Failed requests outside every window, counted by where they happened and what they
 * said. A request in flight when a window opened is inside it: the fence that opens the
 * window ends the connections it finds ("terminating connection due to administrator
 * command"), a read's as well as the first write's.
 */
export function failuresOutside(requests: RequestEvent[], windows: Window[], stages: NamedSpan[]): Array<{ stage: string; error: string; count: number }> {
  const counts = new Map<string, { stage: string; error: string; count: number }>();
  for (const r of requests) {
    if (r.ok || windows.some((w) => r.sentAt <= w.end && r.doneAt >= w.start)) continue;
    const stage = spanAt(r.sentAt, stages);
    const error = `${r.kind} ${r.error ?? `HTTP ${r.status}`}`;
    const key = `${stage}\u0000${error}`;
    counts.set(key, { stage, error, count: (counts.get(key)?.count ?? 0) + 1 });
  }
  return [...counts.values()];
}
