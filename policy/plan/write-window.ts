// The cutover's write window before it happens: how long writes will be unavailable,
// and where the figure comes from. It is made of the data's last step behind the fence
// and the app's roll on AWS onto the moved stores. A Heroku source (and any dump
// strategy) copies the whole database behind the fence: that part grows with what the
// copy moves, at the rate measured for the dump copy, until replicate's trial copy
// measured this database's own time. Logical and physical replication leave only the
// fence, the catch-up and the verify, which do not grow with the database; so does
// capture, whose cutover has no measured figure yet.
import { componentsOf, postgresStrategy } from "../../config";
import type { FerryConfig } from "../../config";
import type { PostgresStrategy } from "../../config/strategy";
import type { SourceInventory } from "../../dataplane/init/inventory";
import type { TrialRecord } from "../../dataplane/postgres/replication/trial-record";

/** One measured figure: what it took, and the command, date and page that measured it. */
export interface Measured {
  ms: number;
  command: string;
  date: string;
  /** What the figure is, as the page reports it. */
  what: string;
}

const MIB = 1024 * 1024;

/**
 * Every figure the estimate uses, each as docs/benchmarks.md reports it (that page gives
 * the machine: 2 cores, nothing else running). When a command is run again and its page
 * updated, update the figure here: the plan quotes these.
 */
export const MEASURED = {
  /** ferry's dump copy (what a Heroku source's cutover runs behind the fence). */
  dumpCopy: {
    bytes: 1398 * MIB,
    ms: 26_500,
    command: "npm run bench:pg-copy -- --gb 1 --jobs 4",
    date: "2026-12-01",
    what: "ferry --strategy dump, 4 jobs, a 1398 MB database (1019 MB of table data): median of 3 rounds",
  },
  /** A dump cutover's steps besides the copy: fences, Sidekiq drain, Redis, verifies. */
  dumpRest: {
    ms: 38_600 - 28_900,
    command: "npm run rehearse -- --stack staging --size 1gb --time-factor 5",
    date: "2026-12-06",
    what: "`ferry cutover` 38.6 s less its dump copy 28.9 s, at 1 GB",
  },
  logical: {
    ms: 985,
    command: "FERRY_BENCH_MB=1024 FERRY_BENCH_STRATEGIES=physical,logical npm run bench:pg-cutover",
    date: "2026-12-01",
    what: "fence, catch-up, sequences, detach and verify at 1 GB under 4 writers: median of 3 rounds",
  },
  physical: {
    ms: 1_024,
    command: "FERRY_BENCH_MB=1024 FERRY_BENCH_STRATEGIES=physical,logical npm run bench:pg-cutover",
    date: "2026-12-01",
    what: "fence, drain, promote and verify at 1 GB under 4 writers: median of 3 rounds",
  },
  capture: {
    ms: 484,
    command: "npm run bench:pg-capture -- --gb 1 --rounds 3",
    date: "2026-12-07",
    what: "`ferry pg cutover --strategy capture`'s fence, the rest of the change log, sequences and verify at 1 GB under 200 writes/s: median of 3 rounds",
  },
  /** The app on AWS moving onto the stores: release phase, services' rolls, health checks at AWS's times. */
  roll: {
    heroku: {
      ms: 88_000 - 3_800,
      command: "npm run rehearse -- --stack staging",
      date: "2026-12-06",
      what: "writes unavailable 1 min 28 s less `ferry cutover` 3.8 s",
    },
    vultr: {
      ms: 81_000 - 1_500,
      command: "npm run rehearse -- --stack prod",
      date: "2026-12-06",
      what: "writes unavailable 1 min 21 s less `ferry cutover` 1.5 s",
    },
  },
} as const satisfies Record<string, unknown>;

/** The dump copy's measured rate, bytes a second of what a copy moves. */
export const DUMP_BYTES_PER_SECOND = MEASURED.dumpCopy.bytes / (MEASURED.dumpCopy.ms / 1000);

export interface WindowInput {
  sourceKind: "heroku" | "vultr";
  /** Undefined: the source has no Postgres to move. */
  strategy?: PostgresStrategy;
  /** What a copy moves (tables and their indexes), as `ferry init` read it from the database. */
  copiedBytes?: number;
  /** What replicate's trial copy measured (dump only). */
  trial?: TrialRecord;
}

export interface WindowPart {
  label: string;
  ms: number;
  /** Where the figure comes from, in words a reader can check. */
  from: string;
}

export interface WindowEstimate {
  /** The total, ms; undefined when a part cannot be estimated (a dump without a size or a trial). */
  ms?: number;
  /** trial: the copy's time is this database's own; rate: its size over the measured rate; replication: no copy in the window (capture's change log too). */
  basis: "trial" | "rate" | "replication" | "no-size" | "no-postgres";
  parts: WindowPart[];
}

const cited = (m: Measured) => `measured by \`${m.command}\` on ${m.date}: ${m.what}`;

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${s} s`;
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GB`;

/** The copy behind the fence: the trial's own time, else the size over the measured rate. */
function copyPart(input: WindowInput): { part?: WindowPart; basis: WindowEstimate["basis"] } {
  if (input.trial) {
    return {
      basis: "trial",
      part: { label: "dump copy", ms: input.trial.ms, from: `replicate's trial copy of this database: ${gb(input.trial.bytes)} streamed, ${input.trial.tables} table(s), in ${formatDuration(input.trial.ms)}` },
    };
  }
  if (input.copiedBytes === undefined) return { basis: "no-size" };
  const ms = (input.copiedBytes / DUMP_BYTES_PER_SECOND) * 1000;
  const rate = `${(DUMP_BYTES_PER_SECOND / MIB).toFixed(1)} MB/s`;
  return {
    basis: "rate",
    part: { label: "dump copy", ms, from: `${gb(input.copiedBytes)} (what \`ferry init\` read the copy moves) at ${rate}, the dump copy's rate ${cited(MEASURED.dumpCopy)}` },
  };
}

/** The cutover's write window for this source, its parts, and where each comes from. */
export function estimateWriteWindow(input: WindowInput): WindowEstimate {
  const roll = MEASURED.roll[input.sourceKind];
  const rollPart: WindowPart = { label: "the app's roll on AWS", ms: roll.ms, from: cited(roll) };
  const total = (parts: WindowPart[]) => parts.reduce((n, p) => n + p.ms, 0);
  if (!input.strategy) return { basis: "no-postgres", ms: rollPart.ms, parts: [rollPart] };
  if (input.strategy !== "dump") {
    const step = MEASURED[input.strategy];
    const parts = [{ label: "fence, catch-up and verify", ms: step.ms, from: cited(step) }, rollPart];
    return { basis: "replication", ms: total(parts), parts };
  }
  const rest: WindowPart = { label: "fences, drain, Redis and verifies", ms: MEASURED.dumpRest.ms, from: cited(MEASURED.dumpRest) };
  const copy = copyPart(input);
  if (!copy.part) return { basis: copy.basis, parts: [rest, rollPart] };
  const parts = [copy.part, rest, rollPart];
  return { basis: copy.basis, ms: total(parts), parts };
}

/**
 * The trial's figures from `pulumi stack output --json` (the output `postgresTrialCopy`):
 * undefined when the stack has none (replicate has not run, or not by dump); one line
 * naming the key when it is there but not the trial's figures.
 */
export function trialFromOutputs(outputs: unknown): TrialRecord | undefined {
  const t = (outputs as { postgresTrialCopy?: unknown } | null)?.postgresTrialCopy;
  if (t === undefined || t === null) return undefined;
  const r = t as Partial<TrialRecord>;
  const ok = typeof t === "object" && [r.ms, r.bytes, r.tables, r.rows].every((n) => typeof n === "number" && Number.isFinite(n) && n >= 0);
  if (!ok) throw new Error("postgresTrialCopy: expected the trial copy's {ms, bytes, tables, rows}, as the stack exports it");
  return { ms: r.ms!, bytes: r.bytes!, tables: r.tables!, rows: r.rows! };
}

/** The moved database's size as `ferry init` recorded it: the Heroku add-on's, or the box's largest database. */
export function copiedBytesOf(inventory: SourceInventory | undefined): number | undefined {
  if (inventory?.kind === "heroku") return inventory.postgres?.found ? inventory.postgres.value.copiedBytes : undefined;
  if (inventory?.kind === "box" && inventory.box.postgres.found) {
    const largest = [...inventory.box.postgres.value.databases].sort((a, b) => b.bytes - a.bytes)[0];
    return largest?.copiedBytes;
  }
  return undefined;
}

/** What the estimate needs from the stack, what `ferry init` read and the stack's outputs. */
export function windowInputOf(config: FerryConfig, inventory: SourceInventory | undefined, trial: TrialRecord | undefined): WindowInput {
  const moves = componentsOf(config.source).includes("postgres");
  const strategy = moves ? postgresStrategy(config.source) : undefined;
  return { sourceKind: config.source.kind, strategy, copiedBytes: copiedBytesOf(inventory), ...(strategy === "dump" && trial ? { trial } : {}) };
}
