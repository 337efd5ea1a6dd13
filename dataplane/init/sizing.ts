// What `ferry init` proposes from the sizes the source reports: the dyno size on Fargate,
// the RDS class and storage, and the Postgres strategy for a Heroku database.
import type { DatabaseSize, Found } from "./inventory";
import { DYNO_SIZES } from "../../config/schema";

/**
 * The formation's dyno size as ferry:target.compute spells it (Heroku answers "Standard-1X"
 * or "standard-1X"); the target maps it to Fargate CPU and memory. A size ferry does not
 * know (a retired one) falls back to standard-1X, and the header says to check it.
 */
export function dynoSizeFor(size: string | undefined): (typeof DYNO_SIZES)[number] {
  const found = DYNO_SIZES.find((d) => d.toLowerCase() === (size ?? "").toLowerCase());
  return found ?? "standard-1X";
}

/** A Heroku Postgres plan's nearest RDS class (plans by tier: essential/mini/basic small, standard/premium 0-2 medium, higher large). */
export function rdsClassForPlan(plan: string | undefined): string {
  const tier = /:(?:standard|premium|private|shield)-(\d+)/.exec(plan ?? "");
  if (!tier) return "db.t4g.micro";
  const n = Number(tier[1]);
  return n <= 0 ? "db.t4g.medium" : n <= 2 ? "db.m7g.large" : "db.m7g.xlarge";
}

export const GB = 1024 ** 3;

/** Room for the data and its growth: twice today's size, at least RDS's 20 GB minimum. */
export function storageGbFor(bytes: number): number {
  return Math.max(20, Math.ceil((2 * bytes) / GB));
}

/**
 * Above this much that a copy moves, `ferry init` proposes `capture` for Heroku Postgres;
 * up to it, `dump`. A dump's write window grows with the database: about 11 s per GB on
 * this project's 2-core machine (a copy over loopback), and Heroku's own figure for
 * `pg:copy` is about 3 minutes per GB, nearer a copy that crosses from Heroku to AWS.
 * Every cutover already costs the app's roll on AWS, about 1 min 24 s (policy/plan/write-window.ts).
 * At 1 GB a dump adds 11 s to 3 min to that, at most about twice the roll: a window a
 * user plans for and accepts. Each further GB adds up to 3 minutes more, while capture's
 * window does not grow with the database. Up to 1 GB, dump keeps the source as it is:
 * no trigger on each of the app's writes, no change log (up to twice the storage).
 */
export const CAPTURE_ABOVE_BYTES = GB;
const ABOVE = `${CAPTURE_ABOVE_BYTES / GB} GB`;

export type HerokuPostgresStrategy = "dump" | "capture";

/** The strategy the draft proposes for a Heroku database of this size; dump when the size is unread. */
export function herokuStrategyFor(size: Found<DatabaseSize> | undefined): HerokuPostgresStrategy {
  return size?.found && size.value.copiedBytes > CAPTURE_ABOVE_BYTES ? "capture" : "dump";
}

/** Why the draft proposes it, for the file's "decide" lines; `key` is the store's strategy key. */
export function strategyLine(size: Found<DatabaseSize> | undefined, strategy: HerokuPostgresStrategy, key = "ferry:source.postgres.strategy"): string {
  if (!size?.found) return `${key}: dump drafted, as the size was not read: above ${ABOVE} (heroku pg:info) use capture, whose write window does not grow with the database`;
  const moved = `a copy moves ${(size.value.copiedBytes / GB).toFixed(2)} GB`;
  return strategy === "capture"
    ? `${key}: capture proposed (${moved}): above ${ABOVE} a dump's write window (up to 3 min per GB, Heroku's pg:copy figure) outgrows the app's own roll on AWS, and capture's does not grow with the database, at the cost of a trigger on each write and a change log on the source while it replicates`
    : `${key}: dump proposed (${moved}): up to ${ABOVE} its write window stays within about twice the app's own roll on AWS, and the source gets no trigger; capture above ${ABOVE}`;
}
