// The cutover-app bench's pure half: its options, the stack file without the pooler,
// the figures it reads from each rehearsal's report.json, and the tables it prints.
// bench/cutover-app.ts runs the rehearsals; everything here is tested without them
// (tests/bench/lib/cutover-app.test.ts).
import { parseArgs } from "node:util";
import yaml from "js-yaml";
import type { RehearsalReport } from "../../rehearsal/report/build";
import { targetWithoutPooler } from "../../rehearsal/stack/stories";
import { median, roundOrder } from "./rounds";
import { table } from "./report";

/** The two ways the app on AWS meets the cutover. */
export type AppPath = "pooler" | "roll";
/** pooler first in round 1, roll first in round 2, ... (rounds.ts's alternation). */
export const PATHS: readonly AppPath[] = ["pooler", "roll"];

export const PATH_LABELS: Record<AppPath, string> = {
  pooler: "pooler (as declared)",
  roll: "roll (no ferry:target.pooler)",
};

export interface CutoverAppArgs {
  stack: string;
  size: string;
  rounds: number;
}

/** `--stack staging|prod` (default staging), `--size small` (default), `--rounds 3` (default). */
export function parseCutoverAppArgs(argv: string[]): CutoverAppArgs {
  let values: { stack?: string; size?: string; rounds?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { stack: { type: "string" }, size: { type: "string" }, rounds: { type: "string" } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new Error(`takes --stack, --size and --rounds: ${(err as Error).message.split("\n")[0]}`);
  }
  const stack = values.stack ?? "staging";
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new Error(`--stack must be a stack name (Pulumi.<name>.yaml), got ${stack}`);
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive whole number, got ${values.rounds}`);
  return { stack, size: values.size ?? "small", rounds };
}

/** Round `round`'s order of the two paths (0-based round). */
export const pathOrder = (round: number): AppPath[] => roundOrder(PATHS.length, round).map((i) => PATHS[i]);

/**
 * The stack file's text without `ferry:target.pooler`, every other key the same (js-yaml,
 * as the rehearsal's own story files are written). A stack that declares no pooler has
 * nothing to compare, and says so naming the key and the file.
 */
export function stackWithoutPooler(text: string, file: string): string {
  const doc = yaml.load(text) as { config?: Record<string, unknown> } | undefined;
  const target = doc?.config?.["ferry:target"] as Record<string, unknown> | undefined;
  if (!doc?.config || !target || target.pooler === undefined) throw new Error(`${file}: ferry:target.pooler is not declared, so there is no pooler path to compare with the service roll`);
  doc.config["ferry:target"] = targetWithoutPooler(doc.config);
  return yaml.dump(doc, { lineWidth: 200 });
}

/** What one rehearsal gave at cutover, read from its report.json. */
export interface CutoverAppRun {
  path: AppPath;
  /** 0-based. */
  round: number;
  exitCode: number;
  /** The rehearsal exited 0 and its report says it passed. */
  passed: boolean;
  /** What a user felt in the cutover's `pulumi up` (report.atCutover); null when the run never reached it. */
  requests: number | null;
  failedRequests: number | null;
  failedWrites: number | null;
  longestWaitMs: number | null;
  /** ferry's own measure of its write fence (report.cutoverWriteUnavailableMs). */
  ferryWindowMs: number | null;
  /** Acknowledged statuses missing from Postgres, and from their home feeds in Redis, at the end. */
  lostWrites: number | null;
  lostRedisWrites: number | null;
  /** Why a run did not pass: its failed checks, or that it wrote no report. */
  problems: string[];
}

/** The figures of the report fields the bench reads (a report.json, or undefined when the run wrote none). */
export type ReportFigures = Pick<RehearsalReport, "ok" | "atCutover" | "cutoverWriteUnavailableMs" | "lostWrites" | "lostRedisWrites" | "checks">;

export function cutoverAppRun(path: AppPath, round: number, exitCode: number, report: ReportFigures | undefined): CutoverAppRun {
  const felt = report?.atCutover ?? null;
  const problems = !report
    ? [`no report.json (the rehearsal exited ${exitCode})`]
    : [...report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`), ...(felt ? [] : ["the report has no cutover `pulumi up` (atCutover)"])];
  return {
    path,
    round,
    exitCode,
    passed: exitCode === 0 && report?.ok === true,
    requests: felt?.requests ?? null,
    failedRequests: felt?.failedRequests ?? null,
    failedWrites: felt?.failedWrites ?? null,
    longestWaitMs: felt?.longestWaitMs ?? null,
    ferryWindowMs: report?.cutoverWriteUnavailableMs ?? null,
    lostWrites: report?.lostWrites ?? null,
    lostRedisWrites: report?.lostRedisWrites ?? null,
    problems,
  };
}

const secs = (ms: number | null): string => (ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`);
const count = (n: number | null): string => (n === null ? "-" : String(n));

const HEADERS = ["path", "failed requests", "failed writes", "longest wait", "ferry's window", "lost (Postgres / Redis)", "result"];

function runRow(run: CutoverAppRun): string[] {
  return [
    PATH_LABELS[run.path],
    run.requests === null ? "-" : `${run.failedRequests} of ${run.requests}`,
    count(run.failedWrites),
    secs(run.longestWaitMs),
    secs(run.ferryWindowMs),
    `${count(run.lostWrites)} / ${count(run.lostRedisWrites)}`,
    run.passed ? "passed" : `FAILED (exit ${run.exitCode})`,
  ];
}

/** One round's table, its runs in the order they ran, and under it why a run failed. */
export function roundTable(round: number, runs: CutoverAppRun[]): string {
  const title = `round ${round + 1}: ${runs.map((r) => r.path).join(" first, then ")}`;
  const problems = runs.flatMap((r) => r.problems.map((p) => `  ${r.path}: ${p}`));
  return [title, table(HEADERS, runs.map(runRow)), ...problems].join("\n");
}

/** The median of the runs' values that exist; null when none does. */
function medianOf(runs: CutoverAppRun[], pick: (r: CutoverAppRun) => number | null): number | null {
  const values = runs.map(pick).filter((v): v is number => v !== null);
  return values.length ? median(values) : null;
}

/**
 * roll / pooler within one round: how many times more failed requests (or how many times
 * longer a wait) the service roll gave than the pooler. Both 0 is 1; the pooler alone at 0
 * is Infinity (printed so, as no finite ratio says it).
 */
export function roundRatio(roll: number, pooler: number): number {
  if (pooler === 0) return roll === 0 ? 1 : Infinity;
  return roll / pooler;
}

/** The median over rounds of each round's own ratio (rounds.ts's rule), null without a round that has both. */
export function medianRoundRatio(runs: CutoverAppRun[], pick: (r: CutoverAppRun) => number | null): number | null {
  const rounds = [...new Set(runs.map((r) => r.round))];
  const ratios = rounds.flatMap((round) => {
    const [roll, pooler] = (["roll", "pooler"] as const).map((p) => runs.find((r) => r.round === round && r.path === p)).map((r) => (r ? pick(r) : null));
    return roll === null || pooler === null ? [] : [roundRatio(roll, pooler)];
  });
  return ratios.length ? median(ratios) : null;
}

export const ratioText = (ratio: number | null): string => (ratio === null ? "-" : ratio === Infinity ? "∞ (the pooler had 0)" : `${ratio.toFixed(2)}x`);

/** The summary: each path's medians over the rounds and its pass count, then the roll / pooler ratios. */
export function summaryTable(runs: CutoverAppRun[]): string {
  const rounds = new Set(runs.map((r) => r.round)).size;
  const row = (path: AppPath): string[] => {
    const mine = runs.filter((r) => r.path === path);
    const failed = medianOf(mine, (r) => r.failedRequests);
    return [
      PATH_LABELS[path],
      failed === null ? "-" : `${failed} of ${medianOf(mine, (r) => r.requests)}`,
      count(medianOf(mine, (r) => r.failedWrites)),
      secs(medianOf(mine, (r) => r.longestWaitMs)),
      secs(medianOf(mine, (r) => r.ferryWindowMs)),
      `${count(medianOf(mine, (r) => r.lostWrites))} / ${count(medianOf(mine, (r) => r.lostRedisWrites))}`,
      `${mine.filter((r) => r.passed).length} of ${mine.length} passed`,
    ];
  };
  const ratios = ["roll / pooler", ratioText(medianRoundRatio(runs, (r) => r.failedRequests)), ratioText(medianRoundRatio(runs, (r) => r.failedWrites)), ratioText(medianRoundRatio(runs, (r) => r.longestWaitMs)), "", "", ""];
  return [`summary: medians over ${rounds} round${rounds === 1 ? "" : "s"}; roll / pooler is the median of each round's own ratio`, table(HEADERS, [...PATHS.map(row), ratios])].join("\n");
}
