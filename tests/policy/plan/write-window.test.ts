// The write-window estimate, without Pulumi: sizes in, the figure and where it comes
// from out; replicate's trial copy replaces the rate-based copy figure.
import { describe, expect, it } from "vitest";
import { trialRecordOf } from "../../../dataplane/postgres/replication/trial-record";
import { windowLines } from "../../../policy/plan/markdown";
import { DUMP_BYTES_PER_SECOND, MEASURED, copiedBytesOf, estimateWriteWindow, formatDuration, trialFromOutputs } from "../../../policy/plan/write-window";
import type { SourceInventory } from "../../../dataplane/init/inventory";

const GIB = 1024 ** 3;
const HEROKU_REST = MEASURED.dumpRest.ms + MEASURED.roll.heroku.ms;

describe("write-window estimate", () => {
  it("a dump source: the copy grows with what the copy moves, at the measured rate, plus the measured rest", () => {
    const small = estimateWriteWindow({ sourceKind: "heroku", strategy: "dump", copiedBytes: 1 * GIB });
    const large = estimateWriteWindow({ sourceKind: "heroku", strategy: "dump", copiedBytes: 10 * GIB });
    expect(small.basis).toBe("rate");
    expect(large.ms! - HEROKU_REST).toBeCloseTo(10 * (small.ms! - HEROKU_REST), 6);
    // The rate is the bench's: 1398 MB in 26.5 s.
    expect(estimateWriteWindow({ sourceKind: "heroku", strategy: "dump", copiedBytes: 1398 * 1024 * 1024 }).ms).toBeCloseTo(26_500 + HEROKU_REST, 6);
    const copy = large.parts.find((p) => p.label === "dump copy")!;
    expect(copy.from).toContain("10.00 GB");
    expect(copy.from).toContain(`${(DUMP_BYTES_PER_SECOND / 1024 / 1024).toFixed(1)} MB/s`);
    expect(copy.from).toContain("`npm run bench:pg-copy -- --gb 1 --jobs 4`");
    // Every part names the command that measured it.
    for (const part of large.parts) expect(part.from).toMatch(/`[^`]+`/);
  });

  it("the trial copy's own time replaces the rate-based figure, whatever the size init read", () => {
    const trial = { ms: 42_000, bytes: 3 * GIB, tables: 12, rows: 5_000_000 };
    const withTrial = estimateWriteWindow({ sourceKind: "heroku", strategy: "dump", copiedBytes: 100 * GIB, trial });
    expect(withTrial.basis).toBe("trial");
    expect(withTrial.ms).toBe(42_000 + HEROKU_REST);
    expect(withTrial.parts[0]).toMatchObject({ label: "dump copy", ms: 42_000 });
    expect(withTrial.parts[0].from).toMatch(/trial copy of this database: 3\.00 GB streamed, 12 table\(s\), in 42 s/);
    // Without a size, the trial alone gives the figure.
    expect(estimateWriteWindow({ sourceKind: "vultr", strategy: "dump", trial }).ms).toBe(42_000 + MEASURED.dumpRest.ms + MEASURED.roll.vultr.ms);
  });

  it("a dump source without a size or a trial is not estimated, and says so", () => {
    const w = estimateWriteWindow({ sourceKind: "heroku", strategy: "dump" });
    expect(w.ms).toBeUndefined();
    expect(w.basis).toBe("no-size");
    expect(windowLines("cutover", w).join("\n")).toMatch(/not known.*\n[\s\S]*`ferry init` recorded no size/);
  });

  it("logical and physical: fence, catch-up and verify as measured, not growing with the database", () => {
    const at1 = estimateWriteWindow({ sourceKind: "vultr", strategy: "logical", copiedBytes: 1 * GIB });
    const at100 = estimateWriteWindow({ sourceKind: "vultr", strategy: "logical", copiedBytes: 100 * GIB });
    expect(at1.ms).toBe(MEASURED.logical.ms + MEASURED.roll.vultr.ms);
    expect(at100.ms).toBe(at1.ms);
    expect(at1.basis).toBe("replication");
    expect(estimateWriteWindow({ sourceKind: "vultr", strategy: "physical" }).ms).toBe(MEASURED.physical.ms + MEASURED.roll.vultr.ms);
    // A trial is a dump's: replication ignores one.
    expect(estimateWriteWindow({ sourceKind: "vultr", strategy: "logical", trial: { ms: 99_000, bytes: 1, tables: 1, rows: 1 } }).ms).toBe(at1.ms);
  });

  it("capture: its measured cutover, not growing with the database; a trial (a dump's) is ignored", () => {
    const at1 = estimateWriteWindow({ sourceKind: "heroku", strategy: "capture", copiedBytes: 1 * GIB });
    const at100 = estimateWriteWindow({ sourceKind: "heroku", strategy: "capture", copiedBytes: 100 * GIB, trial: { ms: 99_000, bytes: 1, tables: 1, rows: 1 } });
    expect(at1.ms).toBe(MEASURED.capture.ms + MEASURED.roll.heroku.ms);
    expect(at1.basis).toBe("replication");
    expect(at100).toEqual(at1);
    expect(at1.parts.map((p) => p.label)).toEqual(["fence, catch-up and verify", "the app's roll on AWS"]);
    expect(windowLines("cutover", at1).join("\n")).toMatch(/^- fence, catch-up and verify: 0\.5 s, measured by `npm run bench:pg-capture -- --gb 1 --rounds 3`/m);
  });

  it("prints a line for every stage: none outside the cutover, the estimate and its parts at it", () => {
    const w = estimateWriteWindow({ sourceKind: "heroku", strategy: "dump", copiedBytes: 11 * GIB });
    for (const stage of ["provision", "replicate", "proxy", "decommission"]) expect(windowLines(stage, w)[0]).toMatch(/^Write window: none: /);
    const text = windowLines("cutover", w).join("\n");
    expect(text).toMatch(new RegExp(`^\\*\\*Write window \\(estimate\\): about ${formatDuration(w.ms!)}\\*\\*`));
    expect(text).toMatch(/^- dump copy: .*11\.00 GB/m);
    expect(text).toMatch(/^- the app's roll on AWS: 1 min 24 s, measured by `npm run rehearse -- --stack staging`/m);
    expect(text).toMatch(/rate-based figure: after `ferry:replicate` has run, `pulumi stack output --json > outputs\.json`/);
  });

  it("formats durations as seconds, then minutes and seconds", () => {
    expect(formatDuration(985)).toBe("1.0 s");
    expect(formatDuration(26_500)).toBe("27 s");
    expect(formatDuration(84_200)).toBe("1 min 24 s");
  });
});

describe("where the figures come from", () => {
  it("reads the trial from the replicate step's JSON, and nothing from any other output", () => {
    const printed = JSON.stringify({ tables: 3, rows: 1000, bytes: 5_000_000, durationMs: 1234, phases: [], sequences: 1, indexesBuiltEarly: 2, warnings: [], strategy: "dump", trial: true }, null, 2);
    expect(trialRecordOf(printed)).toEqual({ ms: 1234, bytes: 5_000_000, tables: 3, rows: 1000 });
    expect(trialRecordOf(JSON.stringify({ tables: 3, durationMs: 5, strategy: "logical" }))).toBeUndefined();
    expect(trialRecordOf(undefined)).toBeUndefined();
    expect(trialRecordOf("trial copy: 3 table(s)")).toBeUndefined();
  });

  it("reads the trial from the stack's outputs; a malformed one fails naming the key", () => {
    const trial = { ms: 1, bytes: 2, tables: 3, rows: 4 };
    expect(trialFromOutputs({ nextStep: "x", postgresTrialCopy: trial })).toEqual(trial);
    expect(trialFromOutputs({ nextStep: "x" })).toBeUndefined();
    expect(() => trialFromOutputs({ postgresTrialCopy: { ms: "soon" } })).toThrow(/^postgresTrialCopy: /);
  });

  it("takes the size init recorded: the Heroku add-on's, or the box's largest database", () => {
    const heroku = { kind: "heroku", takenAt: "t", apps: [], postgres: { found: true, value: { app: "a", addon: "pg", databaseBytes: 9, copiedBytes: 7 } } } as SourceInventory;
    expect(copiedBytesOf(heroku)).toBe(7);
    expect(copiedBytesOf({ kind: "heroku", takenAt: "t", apps: [], postgres: { found: false, reason: "timeout" } })).toBeUndefined();
    const box = {
      kind: "box", takenAt: "t",
      box: { postgres: { found: true, value: { version: "16", databases: [{ name: "small", bytes: 10, copiedBytes: 8 }, { name: "app", bytes: 100, copiedBytes: 90 }] } } },
    } as unknown as SourceInventory;
    expect(copiedBytesOf(box)).toBe(90);
    expect(copiedBytesOf(undefined)).toBeUndefined();
  });
});
