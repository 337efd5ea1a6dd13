import { describe, expect, test } from "vitest";
import { eventually } from "./eventually";

describe("eventually", () => {
  test("returns the first settled value once the condition holds", async () => {
    let calls = 0;
    const value = await eventually("the third call", () => (++calls >= 3 ? `call ${calls}` : undefined), { intervalMs: 5 });
    expect(value).toBe("call 3");
  });

  test("retries a failing assertion, and a rejected promise, until it passes", async () => {
    let calls = 0;
    await eventually("the assertion to pass", async () => {
      calls++;
      if (calls === 1) throw new Error("boom");
      expect(calls).toBeGreaterThanOrEqual(3);
      return true;
    }, { intervalMs: 5 });
    expect(calls).toBe(3);
  });

  test("fails on the deadline with one line naming what did not happen and the last attempt", async () => {
    const started = Date.now();
    const err = await eventually("the queue to drain", () => { throw new Error("3 jobs left"); }, { timeoutMs: 200, intervalMs: 10 }).catch((e: Error) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("the queue to drain did not happen within 200 ms (last attempt: 3 jobs left)");
  });

  test("a condition that stays false fails too", async () => {
    await expect(eventually("never", () => false, { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(/^never did not happen within 100 ms \(last attempt: returned false\)$/);
  });
});
