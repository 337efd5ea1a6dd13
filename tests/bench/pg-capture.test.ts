// `npm run bench:pg-capture` end to end at a tiny size, each tool alone (ferry's capture
// strategy, then Bucardo): the harness seeds, loads, copies, catches up, cuts over and
// checks every acknowledged write, and prints each figure. Bad input ends in one line and
// a non-zero exit.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { have } from "../../rehearsal/servers";
import { runNode } from "../support/run-node";
import { precondition } from "../support/precondition";

const ROOT = join(__dirname, "../..");
const bench = (...args: string[]) => runNode(["--import", "tsx", "bench/pg-capture.ts", ...args], { cwd: ROOT });

describe("bench:pg-capture", () => {
  it("refuses an unknown tool in one line naming --tools", async () => {
    const run = await bench("--tools", "slony");
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe("bench failed: --tools must name ferry, bucardo or both (comma-separated), got slony");
  });

  /** One tiny round of `tool` through every step: each figure printed, every acknowledged write found on its target. */
  async function oneRound(tool: "ferry" | "bucardo", name: string) {
    const run = await bench("--tools", tool, "--gb", "0.002", "--rounds", "1", "--latency-seconds", "1", "--backlog", "500", "--rate", "100");
    expect(run.stderr).not.toMatch(/bench failed/);
    expect(run.status).toBe(0);
    const round = new RegExp(`^round 1 ${name}: copy ([\\d.]+) s .*catch-up (\\d+) changes in ([\\d.]+) s \\((\\d+) rows/s.*window (\\d+) ms( \\(.*\\))?, acknowledged (\\d+), failed (\\d+), lost (\\d+)$`, "m").exec(run.stdout);
    expect(round, run.stdout).not.toBeNull();
    const [copy, changes, , rowsPerSecond, window, , acknowledged, failed, lost] = round!.slice(1).map(Number);
    expect(copy).toBeGreaterThan(0);
    expect(changes).toBeGreaterThanOrEqual(501); // the backlog, the steady writes beside it and the marker
    expect(rowsPerSecond).toBeGreaterThan(0);
    expect(window).toBeGreaterThan(0);
    expect(acknowledged).toBeGreaterThan(changes);
    // A write the load could not make would leave "lost" proving nothing. Bucardo's round
    // stops the load before its manual cutover: none fails. ferry's cutover fences the source
    // under the running load, so the writes inside its window fail (unacknowledged, never
    // counted as lost); they stay a small share of those acknowledged.
    if (tool === "bucardo") expect(failed).toBe(0);
    else expect(failed).toBeLessThan(acknowledged / 10);
    expect(lost).toBe(0);
    for (const metric of ["initial copy", "catch-up (rows/s)", "p50 overhead (on - off)", "p99 overhead (on - off)", "cutover window"]) {
      expect(run.stdout).toMatch(new RegExp(`^${metric.replace(/[()]/g, "\\$&")}\\s+-?[\\d.]+( s| ms)?$`, "m"));
    }
    expect(run.stdout).toMatch(/^acknowledged writes lost\s+0$/m);
    // The source's costs besides latency: WAL per write with and without the capture, and its store's growth.
    const bytes = (metric: string) => Number(new RegExp(`^${metric.replace(/[()]/g, "\\$&")}\\s+(\\d+) B$`, "m").exec(run.stdout)?.[1]);
    expect(bytes("source WAL per write, capture off")).toBeGreaterThan(0);
    expect(bytes("source WAL per write, capture on")).toBeGreaterThan(bytes("source WAL per write, capture off"));
    expect(bytes("capture store per change (not drained)")).toBeGreaterThan(0);
  }

  it("runs ferry's capture through every step and finds every acknowledged write on its target", () => oneRound("ferry", "ferry capture"), 240_000);

  if (precondition(have("bucardo"), "bucardo (scripts/setup-system.sh)")) {
    it("runs Bucardo through every step and finds every acknowledged write on its target", () => oneRound("bucardo", "Bucardo 5\\.6"), 240_000);
  }
});
