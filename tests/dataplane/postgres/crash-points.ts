// Sweeping a cutover's crash points (dataplane/postgres/cutover/crash-points.ts): one run
// lists every point it passes (FERRY_TEST_CRASH_LIST=1), then a fresh setup per point is
// killed exactly there (FERRY_TEST_CRASH_AT) and checked. The points come from the code,
// so a point added to a step is swept without touching the tests.
import { expect } from "vitest";
import { CRASH_POINT_PREFIX } from "../../../dataplane/postgres/cutover/crash-points";
import { FerryRun, runFerry } from "./helpers";

/** The points a run passed, in order (`name#k`), from its stderr. */
export function passedPoints(run: FerryRun): string[] {
  return run.stderr.split("\n").filter((l) => l.startsWith(CRASH_POINT_PREFIX)).map((l) => l.slice(CRASH_POINT_PREFIX.length));
}

/**
 * A whole cutover run with every point listed: it must finish, pass points, and pass
 * each of `landmarks` (the step boundaries the caller knows it has), or the sweep
 * would prove nothing.
 */
export async function listCrashPoints(args: string[], env: Record<string, string>, landmarks: string[]): Promise<string[]> {
  const listed = await runFerry(args, { ...env, FERRY_TEST_CRASH_LIST: "1" });
  expect(listed.code, listed.stderr + listed.stdout).toBe(0);
  const points = passedPoints(listed);
  expect(points.length, "no crash point listed: FERRY_TEST_CRASH_LIST passed nothing").toBeGreaterThan(0);
  expect(points).toEqual(expect.arrayContaining(landmarks));
  return points;
}

/**
 * The `shard`-th of `shards` slices of `points`, taken from them in name order: steps that
 * run side by side interleave their points differently from run to run, and every shard
 * lists the points in a run of its own, so a slice by position could miss a point or take
 * it twice. Sorted, the same points always fall into the same slice.
 */
export function shardOf(points: string[], shard: number, shards: number): string[] {
  const mine = new Set([...points].sort().filter((_, i) => i % shards === shard));
  return points.filter((p) => mine.has(p));
}

/**
 * Kill at each point and check (`atPoint`); every failure is kept, named by its point,
 * and the sweep goes on, so one run shows every point where the guarantee breaks.
 * CRASH_SWEEP_ONLY=<prefix>[,<prefix>...] narrows it to the points so named (to look at
 * one again); the narrowing is printed.
 */
export async function sweepCrashPoints(points: string[], atPoint: (point: string, i: number) => Promise<void>): Promise<string[]> {
  const failures: string[] = [];
  const only = process.env.CRASH_SWEEP_ONLY?.split(",");
  if (only) console.info(`CRASH_SWEEP_ONLY: sweeping ${points.filter((p) => only.some((o) => p.startsWith(o))).join(", ") || "no point"} of ${points.join(", ")}`);
  for (const [i, point] of points.entries()) {
    if (only && !only.some((o) => point.startsWith(o))) continue;
    const t0 = Date.now();
    try {
      await atPoint(point, i);
      console.info(`crash point ${point}: ok in ${Date.now() - t0} ms`);
    } catch (err) {
      failures.push(`killed at ${point}: ${(err as Error).message.replace(/\s+/g, " ").slice(0, 800)}`);
    }
  }
  return failures;
}

/** Where a point lies: before `first` was passed, at or after `last`, or in between (-1, 1, 0). */
export function phase(points: string[], point: string, first: (p: string) => boolean, last: string): -1 | 0 | 1 {
  const i = points.indexOf(point);
  const start = points.findIndex(first);
  const end = points.indexOf(last);
  if (start < 0 || end < 0) throw new Error(`crash points: no ${start < 0 ? "first" : last} point in ${points.join(", ")}`);
  return i < start ? -1 : i >= end ? 1 : 0;
}

/** Why a rerun did not finish: its stderr, or the error its JSON result names. */
export function rerunFailure(run: FerryRun): string {
  const error = (() => {
    try {
      return (JSON.parse(run.stdout) as { error?: string }).error;
    } catch {
      return undefined;
    }
  })();
  return `the rerun did not finish (exit ${run.code}): ${run.stderr.trim()} ${error ?? run.stdout}`;
}

/** The kill must have happened at `point` (a run that finished or failed never reached it). */
export function expectKilledAt(run: FerryRun, point: string): void {
  expect(run.signal, `not killed at ${point} (exit ${run.code}): ${run.stderr.split("\n").filter((l) => !l.startsWith(CRASH_POINT_PREFIX)).join(" ")}`).toBe("SIGKILL");
}
