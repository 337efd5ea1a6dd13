// `ferry health` against a real HTTP server that flaps on a script: the gate opens
// only after N healthy answers in a row, any failure resets the count, and at the
// deadline it stays shut and says what it last saw.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, Server } from "node:http";
import { freePort } from "../../../rehearsal/servers";
import { runFerry } from "./run-ferry";
import type { HealthGateResult } from "../../../dataplane/traffic/health-gate";

type Reply = { status: number; body: string } | "hang";

let server: Server;
let port: number;
let script: Reply[] = [];
let served = 0;

/** The server answers with the script in order, then repeats its last entry. */
function play(replies: Reply[]): void {
  script = replies;
  served = 0;
}

const ok = { status: 200, body: "ok: ready" };
const down = { status: 503, body: "maintenance" };

beforeAll(async () => {
  port = await freePort();
  server = createServer((_req, res) => {
    const reply = script[Math.min(served++, script.length - 1)];
    if (reply === "hang") return; // never answers: the gate's per-request timeout must fire
    res.writeHead(reply.status, { "content-type": "text/plain" });
    res.end(reply.body);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const url = () => `http://127.0.0.1:${port}/health`;

describe("ferry health", () => {
  test("a failure resets the count: passes only after N healthy answers in a row", async () => {
    play([ok, ok, down, ok, { status: 200, body: "booting" }, ok, ok, ok]);
    const r = await runFerry(["--json", "health", "--url", url(), "--times", "3", "--interval", "0.02", "--expect-body", "^ok", "--deadline", "20"]);
    expect(r.code, r.stderr).toBe(0);
    const result = r.json<HealthGateResult>();
    expect(result).toMatchObject({ passed: true, consecutive: 3, required: 3, attempts: 8 });
    expect(served).toBe(8);
  });

  test("a service that keeps flapping fails at the deadline with what it last saw", async () => {
    play(Array.from({ length: 1000 }, (_, i) => (i % 3 === 2 ? down : ok))); // ok, ok, down, ok, ok, down...
    const r = await runFerry(["--json", "health", "--url", url(), "--times", "3", "--interval", "0.02", "--deadline", "1"]);
    expect(r.code).toBe(1);
    const result = r.json<HealthGateResult>();
    // Timed inside the gate: it gave up at the 1 s deadline, not before. That no probe
    // runs past it is the next test's.
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(result.passed).toBe(false);
    expect(result.consecutive).toBeLessThan(3);
    expect(result.attempts).toBeGreaterThan(3);
    expect(result.last).toMatchObject({ healthy: expect.any(Boolean) });
  });

  test("human output: a failing gate names the last status it saw", async () => {
    play([down]);
    const r = await runFerry(["health", "--url", url(), "--times", "2", "--interval", "0.05", "--deadline", "0.4", "--expect-status", "200"]);
    expect(r.code).toBe(1);
    // The attempt the deadline comes in the middle of waits only for what is left: on a
    // busy machine that can be a few ms, too few for the answer, and then that is the last.
    expect(r.stdout).toMatch(/^health gate FAILED at the deadline for .*: 0\/2 in a row after \d+ attempts; last: unhealthy: (status 503, expected 200|no answer within \d+ ms)$/m);
    expect(r.stderr).toContain("ferry: health unhealthy: status 503, expected 200 (0/2 in a row)");
  });

  test("an origin that never answers is cut off by --timeout and the deadline", async () => {
    play(["hang"]);
    const r = await runFerry(["health", "--url", url(), "--times", "1", "--timeout", "0.3", "--interval", "0", "--deadline", "0.5"]);
    expect(r.code).toBe(1);
    // Each attempt says how long it waited: the whole --timeout, but the one the deadline
    // comes in the middle of, which waits only for what is left (no probe runs past it).
    const waits = [...r.stderr.matchAll(/^ferry: health unhealthy: no answer within (\d+) ms \(0\/1 in a row\)$/gm)].map((m) => Number(m[1]));
    expect(r.stdout).toMatch(new RegExp(`^health gate FAILED at the deadline for .*: 0/1 in a row after ${waits.length} attempts; last: unhealthy: no answer within ${waits.at(-1)} ms`));
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits.slice(0, -1)).toEqual(waits.slice(0, -1).map(() => 300));
    expect(waits.at(-1)).toBeLessThan(300);
  });

  test("a refused connection is unhealthy, not a crash", async () => {
    const closed = await freePort();
    const r = await runFerry(["--json", "health", "--url", `http://127.0.0.1:${closed}/`, "--times", "1", "--interval", "0.05", "--deadline", "0.3"]);
    expect(r.code).toBe(1);
    expect(r.json<HealthGateResult>().last?.reason).toBe("ECONNREFUSED");
  });

  test("a custom healthy status (e.g. a redirect to the login page)", async () => {
    play([{ status: 302, body: "" }]);
    const r = await runFerry(["--json", "health", "--url", url(), "--times", "2", "--interval", "0", "--expect-status", "302"]);
    expect(r.code, r.stderr).toBe(0);
  });

  test.each([
    [["--url", "not a url"], /^ferry: --url is not a valid URL/],
    [["--url", "ftp://x/"], /^ferry: --url must be http:\/\/ or https:\/\//],
    [["--url", "http://x/", "--times", "0"], /--times must be a whole number >= 1/],
    [["--url", "http://x/", "--interval", "soon"], /--interval must be a number of seconds >= 0/],
    [["--url", "http://x/", "--expect-status", "99"], /--expect-status must be a whole number >= 100/],
    [["--url", "http://x/", "--expect-body", "("], /--expect-body is not a valid regular expression/],
    [["--url", "http://x/", "--deadline", "0"], /--deadline must be seconds > 0/],
  ])("bad input %j exits 2 naming the flag", async (args, message) => {
    const r = await runFerry(["health", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toMatch(message);
  });
});
