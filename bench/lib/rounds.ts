// Rounds for the benches (issue 13's rules for figures): every contender runs in every
// round on the same data, the order alternates between rounds (forward, reversed, ...)
// so neither side always runs on a warmer cache or a quieter minute, and what is quoted
// is the median of each round's own ratio, printed with the load average it ran under.
import { loadavg } from "node:os";
import { log, seconds, table, Timing, time } from "./report";

export interface Contender {
  name: string;
  /**
   * Runs once per round; a string returned is printed as the round's note. A contender
   * that times itself (to leave out starting a fresh server) returns its own `ms`.
   */
  run(round: number): Promise<string | void | Measured>;
}

export interface Measured {
  ms: number;
  note?: string;
}

export interface RoundsResult {
  /** timings[c][r]: contender c in round r. */
  timings: Timing[][];
  /** The 1-minute load average just before each run, the highest per contender. */
  load: number[];
}

/** Round r's order: forward in even rounds, reversed in odd ones. */
export function roundOrder(count: number, round: number): number[] {
  const forward = [...Array(count).keys()];
  return round % 2 === 0 ? forward : forward.reverse();
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function runRounds(contenders: Contender[], rounds: number): Promise<RoundsResult> {
  const timings: Timing[][] = contenders.map(() => []);
  const load = contenders.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    for (const c of roundOrder(contenders.length, r)) {
      const contender = contenders[c];
      load[c] = Math.max(load[c], loadavg()[0]);
      log(`round ${r + 1}/${rounds}: ${contender.name}`);
      let measured: Measured | undefined;
      const wall = await time(contender.name, async () => {
        const out = await contender.run(r);
        if (typeof out !== "object") return out;
        measured = out;
      });
      const t: Timing = measured ? { name: contender.name, ms: measured.ms, note: measured.note } : wall;
      log(`round ${r + 1}/${rounds}: ${contender.name}: ${seconds(t.ms)}${t.note ? ` (${t.note})` : ""}`);
      timings[c][r] = t;
    }
  }
  return { timings, load };
}

/** Median over rounds of (theirs / ours) for the same round: how many times faster ours is. */
export function medianRatio(theirs: Timing[], ours: Timing[]): number {
  return median(theirs.map((t, r) => t.ms / ours[r].ms));
}

/**
 * The result table: each round's time, the median time, the median ratio, and the
 * highest load average seen before the contender's runs. `against.ours`: the other rows
 * say how many times faster ferry was than them; `against.baseline`: every other row says
 * how many times faster it was than the baseline (the tool a user would otherwise run).
 */
export function roundsTable(contenders: Contender[], result: RoundsResult, against: { ours: number } | { baseline: number }): string {
  const rounds = result.timings[0].length;
  const pivot = "ours" in against ? against.ours : against.baseline;
  const ratioHeader = "ours" in against ? "ferry is" : "vs baseline";
  const ratioOf = (i: number) =>
    "ours" in against
      ? medianRatio(result.timings[i], result.timings[pivot])
      : medianRatio(result.timings[pivot], result.timings[i]);
  const headers = ["contender", ...Array.from({ length: rounds }, (_, r) => `round ${r + 1}`), "median", ratioHeader, "load"];
  const rows = contenders.map((c, i) => [
    c.name,
    ...result.timings[i].map((t) => seconds(t.ms)),
    seconds(median(result.timings[i].map((t) => t.ms))),
    i === pivot ? "-" : `${ratioOf(i).toFixed(2)}x faster`,
    result.load[i].toFixed(2),
  ]);
  return table(headers, rows);
}

/** The 1/5/15-minute load averages, for the line under every result. */
export const loadLine = (): string => `load average (1/5/15 min) at the end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`;
