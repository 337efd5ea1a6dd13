// `npm run bench:pg-capture` end to end at a tiny size, Bucardo's side only (ferry's capture
// strategy is another piece of work): the harness seeds, loads, copies, catches up, cuts
// over and checks every acknowledged write, and prints each figure. Bad input and a ferry
// without the capture strategy each end in one line and a non-zero exit.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { have } from "../../rehearsal/servers";
import { captureMissing } from "../../bench/lib/ferry-capture";
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

  it("says in one line that ferry has no capture strategy, and measures nothing", async (ctx) => {
    if (!(await captureMissing())) ctx.skip();
    const run = await bench("--tools", "ferry", "--gb", "0.001");
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^bench failed: ferry has no capture strategy yet \(.*\); run with --tools bucardo for the peer alone$/)]);
    expect(run.stdout).toBe("");
  });

  if (precondition(have("bucardo"), "bucardo (scripts/setup-system.sh)")) {
    it("runs Bucardo through every step and finds every acknowledged write on its target", async () => {
      const run = await bench("--tools", "bucardo", "--gb", "0.002", "--rounds", "1", "--latency-seconds", "1", "--backlog", "500", "--rate", "100");
      expect(run.stderr).not.toMatch(/bench failed/);
      expect(run.status).toBe(0);
      const round = /^round 1 Bucardo 5\.6: copy ([\d.]+) s .*catch-up (\d+) changes in ([\d.]+) s \((\d+) rows\/s.*window (\d+) ms, acknowledged (\d+), failed (\d+), lost (\d+)$/m.exec(run.stdout);
      expect(round, run.stdout).not.toBeNull();
      const [, copy, changes, , rowsPerSecond, window, acknowledged, failed, lost] = round!.map(Number);
      expect(copy).toBeGreaterThan(0);
      expect(changes).toBeGreaterThanOrEqual(501); // the backlog, the steady writes beside it and the marker
      expect(rowsPerSecond).toBeGreaterThan(0);
      expect(window).toBeGreaterThan(0);
      expect(acknowledged).toBeGreaterThan(changes);
      expect(failed).toBe(0); // nothing fences Bucardo's source: a failed write is the harness's own fault
      expect(lost).toBe(0);
      for (const metric of ["initial copy", "catch-up (rows/s)", "p50 overhead (on - off)", "p99 overhead (on - off)", "cutover window"]) {
        expect(run.stdout).toMatch(new RegExp(`^${metric.replace(/[()]/g, "\\$&")}\\s+-?[\\d.]+( s| ms)?$`, "m"));
      }
      expect(run.stdout).toMatch(/^acknowledged writes lost\s+0$/m);
    }, 240_000);
  }
});
