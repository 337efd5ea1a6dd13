// "Eventually" for tests: wait for a condition the system guarantees, with a deadline and
// a message naming what did not happen, instead of a fixed sleep that a busy machine
// (two cores shared by several suites) can outrun. Built on vitest's vi.waitFor, which
// never overlaps attempts and keeps the last failure; this adds the message and treats
// false/null/undefined as "not yet", so a check can be a plain boolean or an expect().
import { vi } from "vitest";

export interface EventuallyOptions {
  /** Give up after this long (default 20 s: generous for a loaded machine, short next to the test timeout). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
}

type Settled<T> = Exclude<T, false | null | undefined>;

class NotYet extends Error {}

/**
 * Retry `check` until it returns something other than false/null/undefined (that value
 * is returned) without throwing. On the deadline, fail with one line:
 * "<what> did not happen within N ms (last attempt: ...)".
 */
export async function eventually<T>(what: string, check: () => T | Promise<T>, opts: EventuallyOptions = {}): Promise<Settled<T>> {
  const timeout = opts.timeoutMs ?? 20_000;
  const attempt = async (): Promise<Settled<T>> => {
    const value = await check();
    if (value === false || value === null || value === undefined) throw new NotYet(`returned ${String(value)}`);
    return value as Settled<T>;
  };
  try {
    return await vi.waitFor(attempt, { timeout, interval: opts.intervalMs ?? 50 });
  } catch (err) {
    const last = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new Error(`${what} did not happen within ${timeout} ms (last attempt: ${last})`, { cause: err });
  }
}
