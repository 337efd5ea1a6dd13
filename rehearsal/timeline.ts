// What the rehearsal records while it runs, and what the report is built from.
// Plain data (times in ms since the epoch), so a recorded run can be saved to a file
// and the report rebuilt from it without any server.

export interface RequestEvent {
  kind: "write" | "read";
  sentAt: number;
  /** When the response (or the failure) arrived. */
  doneAt: number;
  ok: boolean;
  /** HTTP status, or 0 when no response came back (refused, reset, timed out). */
  status: number;
  servedBy?: string;
  error?: string;
}

/** A status the app acknowledged: its row, its home feed entry, and the job it enqueued. */
export interface AckedWrite {
  id: string;
  text: string;
  accountId: number;
  /** The Sidekiq job the app enqueued for it (DistributionWorker). */
  jid?: string;
  sentAt: number;
  ackAt: number;
  servedBy?: string;
}

/** A media upload the app acknowledged: the object it says it stored, and where. */
export interface AckedUpload {
  id: string;
  key: string;
  bucket: string;
  accountId: number;
  sentAt: number;
  ackAt: number;
  servedBy?: string;
}

/** Jobs counted by their recorded runs in the Postgres the app ends on. */
export interface JobCounts {
  /** Jobs the app acknowledged enqueueing (one per acknowledged status). */
  enqueued: number;
  /** Of those, enqueued before the cutover's fence (the ones a migration can lose or run twice). */
  enqueuedBeforeCutover: number;
  neverRan: Array<{ jid: string; statusId: string; beforeCutover: boolean }>;
  ranMoreThanOnce: Array<{ jid: string; statusId: string; runs: number; ranOn: string[]; beforeCutover: boolean }>;
}

/** Sidekiq's schedule, retry and dead sets: what was seeded on the source, and each jid's count where the app ends. */
export interface SidekiqSetCounts {
  seeded: Record<string, number>;
  missing: Array<{ set: string; jid: string }>;
  duplicated: Array<{ set: string; jid: string; count: number }>;
}

export interface TimelineStep {
  name: string;
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** The ferry command line (never carries a secret: URLs go through the environment). */
  command?: string;
  exitCode?: number;
  result?: unknown;
  error?: string;
}

export type Outcome = "ok" | "failed" | "skipped";

export interface StageRecord {
  name: string;
  startedAt: number;
  endedAt: number;
  outcome: Outcome;
  detail?: string;
  steps: TimelineStep[];
}

export interface CheckRecord {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunTimeline {
  source: "vultr" | "heroku";
  pgStrategy: string;
  redisMode: string;
  startedAt: number;
  endedAt: number;
  stages: StageRecord[];
  requests: RequestEvent[];
  acked: AckedWrite[];
  lost: AckedWrite[];
  checks: CheckRecord[];
  /** Figures reported by the data plane itself (cutover JSON etc.). */
  cutover: { writeUnavailableMs?: number; lagBytesAtFence?: number; redisLag?: unknown; raw?: unknown };
  /** The stack rehearsal's ups that moved something across cutover (the spans a user feels it in). */
  cutoverSpans?: Array<{ name: string; startedAt: number; endedAt: number }>;
  volumes: { rows: Record<string, number>; databaseBytes?: number; redisKeys?: number; redisBytes?: number; feeds?: number; seed: string };
  /** Redis writes the app acknowledged (each status in its author's home feed): acknowledged, and missing at the end. */
  redisWrites?: { acknowledged: number; lost: string[] };
  /** The app's Sidekiq jobs: each acknowledged status's job, run exactly once? */
  jobs?: JobCounts;
  sidekiqSets?: SidekiqSetCounts;
  /** Media uploads: acknowledged, and those missing from the app's own bucket (with where they went instead). */
  uploads?: { acknowledged: number; bucket: string; missing: Array<{ key: string; foundIn?: string }> };
  /** The stack rehearsal: each `pulumi up` with its steps. */
  stack?: { name: string; ups: StackUp[] };
  /** How the stack rehearsal modelled ECS on Fargate: its times divided by `timeFactor`. */
  ecs?: { timeFactor: number; fargateStartSeconds: number };
}

export interface StackUp {
  stage: string;
  ok: boolean;
  /** Refused by the program's guards before anything moved (a rollback that would lose data). */
  refused?: boolean;
  error?: string;
  /** Resources the program declared (components included). */
  resources: number;
  seconds: number;
  /** The stage's second `pulumi up` with the same config: each step carries its verdict. */
  secondUp?: boolean;
  steps: Array<{
    resource: string; type: string; op: string; ok: boolean; exitCode?: number; ms: number; command?: string;
    /** An update's or replacement's inputs that differed (names only). */
    changed?: string[];
    /** Second ups only: a read, or a change, and what it was. */
    verdict?: "read" | "change";
    what?: string;
  }>;
}
