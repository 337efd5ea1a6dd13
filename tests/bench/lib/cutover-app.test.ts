// The cutover-app bench's pure half: its options, the stack file without the pooler, the
// figures read back from the report a rehearsal writes, and the round and summary tables.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rawConfigFromYaml, readStackConfig } from "../../../policy/stack-file";
import { writeReport } from "../../../rehearsal/report/write";
import { RequestEvent, RunTimeline } from "../../../rehearsal/timeline";
import { readRehearsalReport } from "../../../bench/lib/stack-rehearsal";
import {
  CutoverAppRun, cutoverAppRun, medianRoundRatio, parseCutoverAppArgs, pathOrder, ratioText, roundTable, stackWithoutPooler, summaryTable,
} from "../../../bench/lib/cutover-app";

const ROOT = join(__dirname, "..", "..", "..");
const T0 = Date.UTC(2026, 11, 7, 20, 0, 0);

describe("options", () => {
  it("defaults to staging, small, 3 rounds", () => {
    expect(parseCutoverAppArgs([])).toEqual({ stack: "staging", size: "small", rounds: 3 });
    expect(parseCutoverAppArgs(["--stack", "prod", "--size", "200000", "--rounds", "1"])).toEqual({ stack: "prod", size: "200000", rounds: 1 });
  });

  it("refuses what it cannot run, in one line naming the option", () => {
    expect(() => parseCutoverAppArgs(["--rounds", "0"])).toThrow(/^--rounds must be a positive whole number, got 0$/);
    expect(() => parseCutoverAppArgs(["--rounds", "2.5"])).toThrow(/--rounds/);
    expect(() => parseCutoverAppArgs(["--stack", "../etc/passwd"])).toThrow(/^--stack must be a stack name/);
    expect(() => parseCutoverAppArgs(["--up-to", "decommission"])).toThrow(/takes --stack, --size and --rounds: .*--up-to/);
  });

  it("alternates the order: the pooler first in round 1, the roll first in round 2", () => {
    expect([0, 1, 2].map(pathOrder)).toEqual([["pooler", "roll"], ["roll", "pooler"], ["pooler", "roll"]]);
  });
});

describe("the stack without its pooler", () => {
  for (const stack of ["staging", "prod"]) {
    it(`${stack}: only ferry:target.pooler is gone, and the program reads the file`, () => {
      const file = join(ROOT, `Pulumi.${stack}.yaml`);
      const text = readFileSync(file, "utf8");
      const roll = stackWithoutPooler(text, file);
      const before = rawConfigFromYaml(text, file);
      const after = rawConfigFromYaml(roll, "roll");
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
      for (const key of Object.keys(before).filter((k) => k !== "ferry:target")) expect(after[key], key).toEqual(before[key]);
      const { pooler, ...rest } = JSON.parse(before["ferry:target"]);
      expect(pooler).toBeDefined();
      expect(JSON.parse(after["ferry:target"])).toEqual(rest);

      const dir = mkdtempSync(join(tmpdir(), "cutover-app-"));
      const written = join(dir, `Pulumi.${stack}.yaml`);
      writeFileSync(written, roll);
      expect(readStackConfig(file).target.pooler).toBeDefined();
      expect(readStackConfig(written).target.pooler).toBeUndefined();
    });
  }

  it("a stack that declares no pooler has nothing to compare, and says which key", () => {
    const file = join(ROOT, "Pulumi.staging.yaml");
    const once = stackWithoutPooler(readFileSync(file, "utf8"), file);
    expect(() => stackWithoutPooler(once, "Pulumi.x.yaml")).toThrow(/^Pulumi\.x\.yaml: ferry:target\.pooler is not declared/);
  });
});

/**
 * A recorded 20 s run: a write and a read every 250 ms, the cutover's `pulumi up` from 5 s
 * to 12 s. `during(ms)` says what each request sent in the up met: how long it took and
 * whether it failed. Written and read back as the rehearsal writes its report.
 */
function reportOf(during: (ms: number) => { tookMs: number; ok: boolean }, extra: Partial<RunTimeline> = {}) {
  const requests: RequestEvent[] = [];
  const acked: RunTimeline["acked"] = [];
  for (let ms = 0; ms < 20_000; ms += 250) {
    const { tookMs, ok } = ms >= 5000 && ms < 12_000 ? during(ms) : { tookMs: 30, ok: true };
    requests.push({ kind: "write", sentAt: T0 + ms, doneAt: T0 + ms + tookMs, ok, status: ok ? 200 : 500, error: ok ? undefined : "PG::ReadOnlySqlTransaction" });
    requests.push({ kind: "read", sentAt: T0 + ms, doneAt: T0 + ms + tookMs, ok, status: ok ? 200 : 500 });
    if (ok) acked.push({ id: String(ms), text: `w ${ms}`, accountId: 1, sentAt: T0 + ms, ackAt: T0 + ms + tookMs });
  }
  const timeline: RunTimeline = {
    source: "heroku", pgStrategy: "capture", redisMode: "copy", startedAt: T0, endedAt: T0 + 20_000,
    stages: [{ name: "cutover", startedAt: T0 + 5000, endedAt: T0 + 12_000, outcome: "ok", steps: [] }],
    requests, acked, lost: [],
    checks: [{ name: "every acknowledged write is in the target PostgreSQL", ok: true, detail: "all there" }],
    cutover: { writeUnavailableMs: 812 },
    cutoverSpans: [{ name: "cutover", startedAt: T0 + 5000, endedAt: T0 + 12_000 }],
    volumes: { rows: { statuses: 100 }, seed: "a generated sample" },
    redisWrites: { acknowledged: acked.length, lost: [] },
    ...extra,
  };
  const dir = mkdtempSync(join(tmpdir(), "cutover-app-report-"));
  writeReport(timeline, dir);
  return readRehearsalReport(dir);
}

describe("what the bench reads from a rehearsal's report", () => {
  it("the pooler: requests wait through the window and none fails", () => {
    const report = reportOf((ms) => ({ tookMs: ms >= 8000 && ms < 9000 ? 950 - (ms - 8000) : 30, ok: true }));
    expect(cutoverAppRun("pooler", 0, 0, report)).toEqual({
      path: "pooler", round: 0, exitCode: 0, passed: true,
      // 28 writes and 28 reads sent in the up (from 5.0 s to 11.75 s)
      requests: 56, failedRequests: 0, failedWrites: 0, longestWaitMs: 950,
      ferryWindowMs: 812, lostWrites: 0, lostRedisWrites: 0, problems: [],
    });
  });

  it("the roll: the requests the old tasks served after the fence failed", () => {
    const report = reportOf((ms) => (ms >= 6000 && ms < 10_000 ? { tookMs: ms === 9750 ? 5000 : 40, ok: false } : { tookMs: 30, ok: true }));
    const run = cutoverAppRun("roll", 1, 0, report);
    expect(run).toMatchObject({ passed: true, failedRequests: 32, failedWrites: 16, longestWaitMs: 5000, ferryWindowMs: 812, lostWrites: 0 });
  });

  it("a real report: the staging rehearsal whose cutover could not repoint the Redis proxy", () => {
    // The fields the bench reads, copied from that run's report.json (fixtures/staging-report.json says which run).
    const report = JSON.parse(readFileSync(join(__dirname, "fixtures", "staging-report.json"), "utf8"));
    const run = cutoverAppRun("pooler", 0, 1, report);
    expect(run).toMatchObject({
      passed: false, requests: 661, failedRequests: 8, failedWrites: 5, longestWaitMs: 5004,
      // ferry's cutover exited 1 before printing its figures
      ferryWindowMs: null, lostWrites: 0, lostRedisWrites: 0,
    });
    expect(run.problems).toHaveLength(3);
    expect(run.problems[2]).toMatch(/^every stage's pulumi up succeeded .*could not repoint every pooler replica/);
    expect(roundTable(0, [run]).split("\n")[3]).toMatch(/^pooler \(as declared\)\s+8 of 661\s+5\s+5\.00 s\s+-\s+0 \/ 0\s+FAILED \(exit 1\)$/);
  });

  it("a run that failed says why, and one without a report is a failure with no figures", () => {
    const lost = reportOf(() => ({ tookMs: 30, ok: true }), {
      checks: [{ name: "every acknowledged write is in the target PostgreSQL", ok: false, detail: "1 missing" }],
    });
    const run = cutoverAppRun("pooler", 0, 1, lost);
    expect(run.passed).toBe(false);
    expect(run.problems).toEqual(["every acknowledged write is in the target PostgreSQL: 1 missing"]);
    const none = cutoverAppRun("roll", 0, 3, undefined);
    expect(none).toMatchObject({ passed: false, requests: null, longestWaitMs: null, problems: ["no report.json (the rehearsal exited 3)"] });
    const noCutover = cutoverAppRun("roll", 0, 1, reportOf(() => ({ tookMs: 30, ok: true }), { cutoverSpans: [] }));
    expect(noCutover).toMatchObject({ requests: null, problems: ["the report has no cutover `pulumi up` (atCutover)"] });
  });
});

describe("the tables", () => {
  const run = (path: "pooler" | "roll", round: number, failedRequests: number, longestWaitMs: number): CutoverAppRun => ({
    path, round, exitCode: 0, passed: true, requests: 1000, failedRequests, failedWrites: Math.floor(failedRequests / 2), longestWaitMs,
    ferryWindowMs: 900, lostWrites: 0, lostRedisWrites: 0, problems: [],
  });

  it("the ratio is the median of each round's roll / pooler, a pooler at 0 shown as such", () => {
    const runs = [run("pooler", 0, 2, 1000), run("roll", 0, 100, 5000), run("roll", 1, 90, 4000), run("pooler", 1, 3, 2000), run("pooler", 2, 1, 1000), run("roll", 2, 80, 6000)];
    // failed: 50, 30, 80 -> 50; longest wait: 5, 2, 6 -> 5
    expect(medianRoundRatio(runs, (r) => r.failedRequests)).toBe(50);
    expect(medianRoundRatio(runs, (r) => r.longestWaitMs)).toBe(5);
    expect(ratioText(medianRoundRatio([run("pooler", 0, 0, 900), run("roll", 0, 120, 5000)], (r) => r.failedRequests))).toBe("∞ (the pooler had 0)");
    expect(medianRoundRatio([run("pooler", 0, 0, 900), run("roll", 0, 0, 900)], (r) => r.failedRequests)).toBe(1);
    expect(medianRoundRatio([run("pooler", 0, 0, 900)], (r) => r.failedRequests)).toBeNull();
  });

  it("a round's table lists its runs in the order they ran, and why one failed", () => {
    const failed = { ...run("pooler", 1, 0, 800), passed: false, exitCode: 1, problems: ["no request failed outside the cutover's write window: 2 failed"] };
    const text = roundTable(1, [run("roll", 1, 120, 5000), failed]);
    const lines = text.split("\n");
    expect(lines[0]).toBe("round 2: roll first, then pooler");
    expect(lines[1]).toMatch(/^path\s+failed requests\s+failed writes\s+longest wait\s+ferry's window\s+lost \(Postgres \/ Redis\)\s+result$/);
    expect(lines[3]).toMatch(/^roll \(no ferry:target\.pooler\)\s+120 of 1000\s+60\s+5\.00 s\s+0\.90 s\s+0 \/ 0\s+passed$/);
    expect(lines[4]).toMatch(/^pooler \(as declared\)\s+0 of 1000\s+0\s+0\.80 s\s+0\.90 s\s+0 \/ 0\s+FAILED \(exit 1\)$/);
    expect(lines[5]).toBe("  pooler: no request failed outside the cutover's write window: 2 failed");
  });

  it("the summary: medians per path, passes counted, and the ratios", () => {
    const text = summaryTable([run("pooler", 0, 0, 900), run("roll", 0, 120, 5000)]);
    const lines = text.split("\n");
    expect(lines[0]).toBe("summary: medians over 1 round; roll / pooler is the median of each round's own ratio");
    expect(lines[3]).toMatch(/^pooler \(as declared\)\s+0 of 1000\s+0\s+0\.90 s\s+0\.90 s\s+0 \/ 0\s+1 of 1 passed$/);
    expect(lines[4]).toMatch(/^roll \(no ferry:target\.pooler\)\s+120 of 1000\s+60\s+5\.00 s/);
    expect(lines[5]).toMatch(/^roll \/ pooler\s+∞ \(the pooler had 0\)\s+∞ \(the pooler had 0\)\s+5\.56x$/);
  });
});
