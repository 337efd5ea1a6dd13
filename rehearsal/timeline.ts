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

export interface AckedWrite {
  id: string;
  text: string;
  accountId: number;
  sentAt: number;
  ackAt: number;
  servedBy?: string;
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
  volumes: { rows: Record<string, number>; databaseBytes?: number; redisKeys?: number; redisBytes?: number; feeds?: number; seed: string };
  /** Redis writes the app made on its own (workers' ticks): acknowledged, and missing at the end. */
  redisWrites?: { acknowledged: number; lost: string[] };
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
