// The gate before any traffic moves: the new side must answer N times IN A ROW with
// the expected status (and body), so one lucky answer from a flapping service does
// not open the gate. Any failure starts the count again; at the deadline the gate
// stays shut and reports what it last saw.
import { FerryError, sleep } from "../cli/common";

export interface HealthGateOptions {
  url: string;
  /** Consecutive healthy answers needed. */
  times: number;
  /** Pause between attempts, ms. */
  intervalMs: number;
  /** Status that counts as healthy; unset: any 2xx. */
  expectStatus?: number;
  /** The body must match this. */
  expectBody?: RegExp;
  /** Per-request timeout, ms. */
  timeoutMs: number;
  /** Give up this long after the start, ms. */
  deadlineMs: number;
  /** Called after every attempt (progress for people). */
  onAttempt?: (attempt: Attempt, consecutive: number) => void;
}

export interface Attempt {
  healthy: boolean;
  /** HTTP status, or undefined when no answer came. */
  status?: number;
  /** Why it was unhealthy (status, body mismatch, timeout, connection error). */
  reason?: string;
  /** The first 200 characters of the body. */
  bodySnippet?: string;
  elapsedMs: number;
}

export interface HealthGateResult {
  url: string;
  passed: boolean;
  consecutive: number;
  required: number;
  attempts: number;
  elapsedMs: number;
  last?: Attempt;
}

/** One request, judged. Never throws: an error is an unhealthy attempt. */
export async function probe(opts: Pick<HealthGateOptions, "url" | "expectStatus" | "expectBody" | "timeoutMs">): Promise<Attempt> {
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  try {
    const res = await fetch(opts.url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: "manual", headers: { "user-agent": "ferry-health" } });
    const body = await res.text();
    const bodySnippet = body.slice(0, 200);
    const statusOk = opts.expectStatus === undefined ? res.status >= 200 && res.status < 300 : res.status === opts.expectStatus;
    if (!statusOk) {
      const wanted = opts.expectStatus ?? "2xx";
      return { healthy: false, status: res.status, reason: `status ${res.status}, expected ${wanted}`, bodySnippet, elapsedMs: elapsed() };
    }
    if (opts.expectBody && !opts.expectBody.test(body)) {
      return { healthy: false, status: res.status, reason: `body does not match /${opts.expectBody.source}/`, bodySnippet, elapsedMs: elapsed() };
    }
    return { healthy: true, status: res.status, bodySnippet, elapsedMs: elapsed() };
  } catch (err) {
    return { healthy: false, reason: describeFetchError(err, opts.timeoutMs), elapsedMs: elapsed() };
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

export function validateGateOptions(opts: HealthGateOptions): void {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new FerryError(`--url is not a valid URL: ${JSON.stringify(opts.url)}`, 2);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new FerryError(`--url must be http:// or https://: ${opts.url}`, 2);
  if (!Number.isInteger(opts.times) || opts.times < 1) throw new FerryError(`--times must be a whole number >= 1: ${opts.times}`, 2);
  if (!(opts.intervalMs >= 0)) throw new FerryError("--interval must be seconds >= 0", 2);
  if (!(opts.timeoutMs > 0)) throw new FerryError("--timeout must be seconds > 0", 2);
  if (!(opts.deadlineMs > 0)) throw new FerryError("--deadline must be seconds > 0", 2);
  if (opts.expectStatus !== undefined && !(Number.isInteger(opts.expectStatus) && opts.expectStatus >= 100 && opts.expectStatus <= 599)) {
    throw new FerryError(`--expect-status must be an HTTP status 100-599: ${opts.expectStatus}`, 2);
  }
}

/** Probe until `times` healthy answers in a row (passed) or the deadline (not passed). */
export async function runHealthGate(opts: HealthGateOptions): Promise<HealthGateResult> {
  validateGateOptions(opts);
  const started = Date.now();
  const deadline = started + opts.deadlineMs;
  let consecutive = 0;
  let attempts = 0;
  let last: Attempt | undefined;
  while (Date.now() < deadline) {
    // A request may not run past the deadline: the gate's answer comes on time.
    const timeoutMs = Math.max(1, Math.min(opts.timeoutMs, deadline - Date.now()));
    last = await probe({ ...opts, timeoutMs });
    attempts++;
    consecutive = last.healthy ? consecutive + 1 : 0;
    opts.onAttempt?.(last, consecutive);
    if (consecutive >= opts.times) {
      return { url: opts.url, passed: true, consecutive, required: opts.times, attempts, elapsedMs: Date.now() - started, last };
    }
    const pause = Math.min(opts.intervalMs, deadline - Date.now());
    if (pause > 0) await sleep(pause);
  }
  return { url: opts.url, passed: false, consecutive, required: opts.times, attempts, elapsedMs: Date.now() - started, last };
}
