// replicate: copy each data store into AWS the way its source allows, behind a preflight
// gate. Deleting the replicate step (lowering the flag) cleans up what it left on the
// source, e.g. the publication and replication slot that would otherwise retain WAL, or
// capture's triggers and change log. Capture's step returns once the changes committed
// before it are applied (`--until-caught-up`): a step must end for the up to go on, and
// the cutover applies what the log gathered since, before and behind its fence.
// Below cutover, a guard per store checks on every stage change that going back loses
// nothing: lowering ferry:cutover after the target took writes fails here, before the
// app or DNS move back to a fenced, stale source (the engine runs a deleted step's
// rollback only after every update).
import * as pulumi from "@pulumi/pulumi";
import type { RunStep } from "../components/runner";
import { postgresStrategy, redisMode } from "../config";
import { pg, urlIdentity, pgFenceOf } from "./commands";
import { StageContext, postgresEnv, reached, redisCommands, redisEnv, stageOf } from "./context";
import { TrialRecord, trialRecordOf } from "../dataplane/postgres/replication/trial-record";

export interface ReplicateSteps {
  postgres?: RunStep;
  redis?: RunStep;
}

/** Re-run when the source or target moves; passwords are left out so state holds none. */
function identity(url: pulumi.Output<string> | undefined): pulumi.Output<string> {
  return pulumi.unsecret(pulumi.output(url ?? "").apply((u) => (u ? urlIdentity(u) : "")));
}

/**
 * Options of a store's preflight and replicate once its cutover is reached: history. A
 * newer ferry may build their command line or environment differently, and a changed
 * Command runs its `create` again; past the cutover that refuses (the target is the
 * primary and holds the app's writes), and the up would fail at a stage it passed. Their
 * `delete` (cleanup) is frozen with them, since a changed `delete` alone would run `create`
 * too; it runs as stored only if the stack is destroyed past cutover (lowering the flag
 * lifts the freeze first). Not a no-op `update` instead: lowering the flag would remove
 * it, itself a change that runs `create`, before the guard (below) could refuse.
 * A change of `triggers` (another source or target) still replaces them.
 */
export const PAST_CUTOVER: pulumi.CustomResourceOptions = { ignoreChanges: ["create", "delete", "environment"] };

/** PAST_CUTOVER once `store` reached its cutover. */
function historyOnceCutOver(ctx: StageContext, store: "postgres" | "redis"): pulumi.CustomResourceOptions {
  return reached(ctx, store, "cutover") ? PAST_CUTOVER : {};
}

export interface ReplicateArgs {
  ctx: StageContext;
}

export class Replicate extends pulumi.ComponentResource {
  readonly steps: ReplicateSteps = {};
  /** Steps the app's environment and DNS wait for below cutover: "going back loses nothing". */
  readonly guards: pulumi.Resource[] = [];
  /** dump: what the trial copy measured (its numbers only, so not secret); the plan estimates the cutover's window from it. */
  readonly trialCopy?: pulumi.Output<TrialRecord | undefined>;

  constructor(name: string, args: ReplicateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Replicate", name, {}, opts);
    const { ctx } = args;
    const prefix = name;
    if (reached(ctx, "postgres", "replicate")) {
      const strategy = postgresStrategy(ctx.config.source);
      const triggers = [identity(ctx.secrets.sourceDatabaseUrl), identity(ctx.target.postgresUrl), strategy];
      const preflight = ctx.runner.run(`${prefix}-pg-preflight`, { create: pg.preflight(strategy, pgFenceOf(ctx.config.source.kind)), environment: postgresEnv(ctx), triggers }, { parent: this, ...historyOnceCutOver(ctx, "postgres") });
      this.steps.postgres = ctx.runner.run(`${prefix}-pg`, {
        create: pg.replicate(strategy, { untilCaughtUp: strategy === "capture" }),
        delete: pg.cleanup(),
        environment: postgresEnv(ctx),
        triggers,
        // A new strategy (or source, or target) replaces the step: the old one's cleanup
        // first, or it would run after the new replicate and remove what it installed
        // (capture's triggers); the new one then starts from a cleaned source.
      }, { parent: this, dependsOn: [preflight], deleteBeforeReplace: true, ...historyOnceCutOver(ctx, "postgres") });
      if (strategy === "dump") this.trialCopy = pulumi.unsecret(this.steps.postgres.stdout.apply(trialRecordOf));
      if (!reached(ctx, "postgres", "cutover")) {
        this.guards.push(ctx.runner.run(`${prefix}-pg-guard`, {
          create: pg.rollbackCheck(strategy), environment: postgresEnv(ctx), triggers: [stageOf(ctx, "postgres")],
        }, { parent: this, dependsOn: [this.steps.postgres] }));
      }
    }
    if (reached(ctx, "redis", "replicate")) {
      const mode = redisMode(ctx.config);
      const triggers = [identity(ctx.secrets.sourceRedisUrl), identity(ctx.target.redisUrl), mode];
      const preflight = ctx.runner.run(`${prefix}-redis-preflight`, { create: redisCommands(ctx).preflight(), environment: redisEnv(ctx), triggers }, { parent: this, ...historyOnceCutOver(ctx, "redis") });
      this.steps.redis = ctx.runner.run(`${prefix}-redis`, {
        create: redisCommands(ctx).replicate(mode),
        delete: redisCommands(ctx).cleanup(),
        environment: redisEnv(ctx),
        triggers,
      }, { parent: this, dependsOn: [preflight], ...historyOnceCutOver(ctx, "redis") });
      if (!reached(ctx, "redis", "cutover")) {
        this.guards.push(ctx.runner.run(`${prefix}-redis-guard`, {
          create: redisCommands(ctx).rollbackCheck(), environment: redisEnv(ctx), triggers: [stageOf(ctx, "redis")],
        }, { parent: this, dependsOn: [this.steps.redis] }));
      }
    }
    this.registerOutputs({});
  }
}
