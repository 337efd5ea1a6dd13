// report.json: the rehearsal's figures, each derived from the recorded timeline
// (the load generator's own observations) or quoted from the data plane's JSON.
import { TARGET_HEALTH_CHECK } from "../../components/target/ingress";
import { CheckRecord, RunTimeline, StageRecord } from "../timeline";
import { feltAtCutover, FeltAtCutover, latencyOf, longestWindow, servedShare, topErrors, writeOutages, Latency, Window } from "./analysis";

export interface StageSummary {
  name: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  outcome: StageRecord["outcome"];
  detail?: string;
  servedShare: Record<string, number>;
  steps: Array<{ name: string; durationMs: number; ok: boolean; command?: string; exitCode?: number; error?: string; servedShareDuring?: Record<string, number> }>;
}

export interface RehearsalReport {
  ok: boolean;
  source: RunTimeline["source"];
  pgStrategy: string;
  redisMode: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  acknowledgedWrites: number;
  lostWrites: number;
  /** Redis writes the app acknowledged (each status in its author's home feed), and how many are missing at the end. */
  acknowledgedRedisWrites: number | null;
  lostRedisWrites: number | null;
  /** The app's Sidekiq jobs (one per acknowledged status), counted by their recorded runs. */
  jobs: { enqueued: number; enqueuedBeforeCutover: number; neverRan: number; ranMoreThanOnce: number; samples: string[] } | null;
  /** Sidekiq's schedule, retry and dead sets seeded on the source, and what is missing or duplicated at the end. */
  sidekiqSets: RunTimeline["sidekiqSets"] | null;
  /** Media uploads the app acknowledged, and those missing from its own bucket. */
  uploads: { acknowledged: number; bucket: string; missing: number; samples: Array<{ key: string; foundIn?: string }> } | null;
  /** The stack rehearsal's `pulumi up` runs (absent for other runs). */
  stack?: RunTimeline["stack"];
  lostWriteSamples: Array<{ id: string; text: string }>;
  /** Longest window in which the load generator's writes failed or were refused. */
  writeUnavailableMs: number;
  writeUnavailableWindow?: { start: string; end: string; failedWrites: number };
  writeOutages: number;
  /** The steps that ran during the longest write outage: what the window was spent on. */
  writeUnavailableSteps: Array<{ stage: string; step: string; durationMs: number }>;
  /**
   * Steps in that window that start Fargate tasks on AWS (a service rolling onto a new
   * task definition, the release phase's task), and how the rehearsal modelled them
   * (`ecs`: Fargate's start and the target groups' health checks, at a time factor);
   * without `ecs` the run started them as plain local processes.
   */
  windowTaskStarts: { steps: string[]; healthChecks: { passing: number; intervalSeconds: number }; ecs?: RunTimeline["ecs"] };
  /** The cutover command's own measure of its write fence. */
  cutoverWriteUnavailableMs: number | null;
  /** What a user felt in the ups that moved across cutover (stack rehearsals): failed requests, the longest wait. */
  atCutover: FeltAtCutover | null;
  replicationLagAtCutoverBytes: number | null;
  redisLagAtCutover: unknown;
  requests: { writes: number; writeErrors: number; reads: number; readErrors: number; topErrors: Array<{ error: string; count: number }> };
  writeLatencyMs: Latency;
  readLatencyMs: Latency;
  stages: StageSummary[];
  checks: CheckRecord[];
  volumes: RunTimeline["volumes"];
}

const iso = (t: number) => new Date(t).toISOString();

function summarizeStage(stage: StageRecord, t: RunTimeline): StageSummary {
  const steps = stage.steps.map((s) => {
    return {
      name: s.name,
      durationMs: s.endedAt - s.startedAt,
      ok: s.ok,
      command: s.command,
      exitCode: s.exitCode,
      error: s.error,
      servedShareDuring: s.endedAt - s.startedAt >= 1000 ? servedShare(t.requests, s.startedAt, s.endedAt) : undefined,
    };
  });
  return {
    name: stage.name,
    startedAt: iso(stage.startedAt),
    endedAt: iso(stage.endedAt),
    durationMs: stage.endedAt - stage.startedAt,
    outcome: stage.outcome,
    detail: stage.detail,
    servedShare: servedShare(t.requests, stage.startedAt, stage.endedAt),
    steps,
  };
}

/** Which of `steps` start Fargate tasks, by what the stack's `pulumi up` ran for them. */
export function taskStarts(t: RunTimeline, steps: RehearsalReport["writeUnavailableSteps"]): string[] {
  const starts = (stage: string, step: string) =>
    (t.stack?.ups ?? []).some((u) => u.stage === stage && u.steps.some((s) =>
      `${s.op} ${s.resource}` === step && (s.type === "aws:ecs/service:Service" || /\becs\b[^\n]*\brun-task\b/.test(s.command ?? ""))));
  return steps.filter((s) => starts(s.stage, s.step)).map((s) => s.step);
}

function stepsDuring(t: RunTimeline, w: Window): RehearsalReport["writeUnavailableSteps"] {
  return t.stages.flatMap((stage) =>
    stage.steps
      .filter((s) => s.startedAt < w.end && s.endedAt > w.start)
      .map((s) => ({ stage: stage.name, step: s.name, durationMs: s.endedAt - s.startedAt })),
  );
}

export function buildReport(t: RunTimeline): RehearsalReport {
  const writes = t.requests.filter((r) => r.kind === "write");
  const reads = t.requests.filter((r) => r.kind === "read");
  const outages = writeOutages(t.requests);
  const worst: Window | undefined = longestWindow(outages);
  const duringWorst = worst ? stepsDuring(t, worst) : [];
  const stagesOk = t.stages.every((s) => s.outcome === "ok");
  const checksOk = t.checks.length > 0 && t.checks.every((c) => c.ok);
  const jobs = t.jobs;
  const jobsOk = !jobs || (jobs.neverRan.length === 0 && jobs.ranMoreThanOnce.length === 0);
  const setsOk = !t.sidekiqSets || (t.sidekiqSets.missing.length === 0 && t.sidekiqSets.duplicated.length === 0);
  const uploadsOk = !t.uploads || t.uploads.missing.length === 0;
  return {
    ok: stagesOk && checksOk && t.lost.length === 0 && (t.redisWrites?.lost.length ?? 0) === 0 && jobsOk && setsOk && uploadsOk,
    source: t.source,
    pgStrategy: t.pgStrategy,
    redisMode: t.redisMode,
    startedAt: iso(t.startedAt),
    endedAt: iso(t.endedAt),
    durationMs: t.endedAt - t.startedAt,
    acknowledgedWrites: t.acked.length,
    lostWrites: t.lost.length,
    acknowledgedRedisWrites: t.redisWrites?.acknowledged ?? null,
    lostRedisWrites: t.redisWrites ? t.redisWrites.lost.length : null,
    jobs: jobs
      ? {
        enqueued: jobs.enqueued,
        enqueuedBeforeCutover: jobs.enqueuedBeforeCutover,
        neverRan: jobs.neverRan.length,
        ranMoreThanOnce: jobs.ranMoreThanOnce.length,
        samples: [
          ...jobs.neverRan.slice(0, 5).map((j) => `${j.jid} (status ${j.statusId}${j.beforeCutover ? ", enqueued before the cutover" : ""}) never ran`),
          ...jobs.ranMoreThanOnce.slice(0, 5).map((j) => `${j.jid} (status ${j.statusId}${j.beforeCutover ? ", enqueued before the cutover" : ""}) ran ${j.runs} times: ${j.ranOn.join(", ")}`),
        ],
      }
      : null,
    sidekiqSets: t.sidekiqSets ?? null,
    uploads: t.uploads ? { acknowledged: t.uploads.acknowledged, bucket: t.uploads.bucket, missing: t.uploads.missing.length, samples: t.uploads.missing.slice(0, 5) } : null,
    stack: t.stack,
    lostWriteSamples: t.lost.slice(0, 10).map((w) => ({ id: w.id, text: w.text })),
    writeUnavailableMs: worst ? worst.end - worst.start : 0,
    writeUnavailableWindow: worst ? { start: iso(worst.start), end: iso(worst.end), failedWrites: worst.failedWrites } : undefined,
    writeOutages: outages.length,
    writeUnavailableSteps: duringWorst,
    windowTaskStarts: {
      steps: taskStarts(t, duringWorst),
      // A newly registered target takes requests after one passing check; the healthy
      // threshold is for a target coming back from unhealthy
      // (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
      healthChecks: { passing: 1, intervalSeconds: TARGET_HEALTH_CHECK.interval },
      ...(t.ecs ? { ecs: t.ecs } : {}),
    },
    cutoverWriteUnavailableMs: t.cutover.writeUnavailableMs ?? null,
    atCutover: t.cutoverSpans?.length ? feltAtCutover(t.requests, t.cutoverSpans) : null,
    replicationLagAtCutoverBytes: t.cutover.lagBytesAtFence ?? null,
    redisLagAtCutover: t.cutover.redisLag ?? null,
    requests: {
      writes: writes.length,
      writeErrors: writes.filter((r) => !r.ok).length,
      reads: reads.length,
      readErrors: reads.filter((r) => !r.ok).length,
      topErrors: topErrors(t.requests),
    },
    writeLatencyMs: latencyOf(writes.filter((r) => r.ok)),
    readLatencyMs: latencyOf(reads.filter((r) => r.ok)),
    stages: t.stages.map((s) => summarizeStage(s, t)),
    checks: t.checks,
    volumes: t.volumes,
  };
}
