// cutover (data), as a list of named steps:
//   1. stop the source's own writers: Heroku apps into maintenance and every dyno scaled
//      to zero (workers write Redis on their own); the box's app units stopped; and the
//      source's scheduled jobs, which the app's EventBridge schedules take over in the
//      same up once the gates pass (Heroku Scheduler's add-on destroyed, the box's
//      crontab lines commented out: `jobsStopped`);
//   2. where Postgres and Redis both move: `ferry cutover`, one process for both (both
//      fences, the queues drained between them, catch-ups and verifies side by side);
//      where one store moves, its own command:
//      Postgres: fence, catch up, switch (`ferry pg cutover`);
//      Redis: drain the job queues, then `ferry redis cutover` (it fences the source's
//      writers still connected, e.g. the app on AWS until its environment rolls);
//   3. Postgres verify; Redis's gate (`status --require-cutover`) after the combined one;
//   4. repoint the Heroku app's config vars.
// Every step's delete is its rollback, so lowering the flag undoes them in reverse order:
// config back, `redis rollback`, `pg rollback`, units started, dynos scaled back,
// maintenance off. Replicate's guards refuse that before anything moves once the target
// has taken writes.
// Between 1 and 2, each moving store gets its way back (`-pg-way-back`, `-redis-way-back`):
// a read-only step created before any fence, whose delete is the store's rollback. Pulumi
// records no failed create, so after a FAILED cutover (a crash in the window, a verify
// that differs and leaves the sources fenced) the cutover step is not in the state and its
// delete never runs: the way back's does, and before the writers return, since it depends
// on the steps that stopped them (deleted in reverse order). The rollbacks are idempotent
// and change nothing where nothing was fenced.
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSourceConfig, VultrSourceConfig } from "../config";
import { postgresStrategy, redisMode, sidekiqDrain } from "../config";
import { box, ENV, heroku, pg, pgFenceOf, redisFenceOf, stackSteps } from "./commands";
import { planApp, SchedulePlan } from "../components/target/app/plan";
import { StageContext, herokuEnv, oldBoxHost, postgresEnv, reached, redisCommands, redisEnv, sshEnv } from "./context";
import type { ReplicateSteps } from "./replicate";

export interface DataCutoverArgs {
  ctx: StageContext;
  /** Replicate's steps: each store's cutover waits for its own. */
  replicated: ReplicateSteps;
}

export class DataCutover extends pulumi.ComponentResource {
  /** The steps DNS and the app's environment wait for: a failed gate stops them. */
  readonly gates: pulumi.Resource[] = [];
  /** Which stores the app on AWS should use at the target. */
  readonly moved = { postgres: false, redis: false };
  /** The source's scheduled jobs are off (this stage stops the source's writers): AWS's schedules run from here on. */
  readonly jobsMoved: boolean;
  /** The steps that switched them off: the schedules on AWS wait for them. */
  readonly jobsStopped: pulumi.Resource[] = [];

  constructor(name: string, args: DataCutoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:DataCutover", name, {}, opts);
    const { ctx, replicated } = args;
    const prefix = name;
    const source = ctx.config.source;
    const anyMoved = reached(ctx, "postgres", "cutover") || reached(ctx, "redis", "cutover") || reached(ctx, "app", "cutover");
    const writersStopped = !anyMoved ? [] : source.kind === "heroku" ? this.stopHeroku(ctx, source, prefix) : this.stopUnits(ctx, source, prefix);
    this.jobsMoved = anyMoved;
    if (anyMoved) this.jobsStopped.push(...(source.kind === "heroku" ? this.stopScheduler(ctx, source, prefix) : this.stopCrontab(ctx, source, prefix)));
    writersStopped.push(...this.jobsStopped);

    const pgMoves = reached(ctx, "postgres", "cutover");
    const redisMoves = reached(ctx, "redis", "cutover");
    const wayBack = this.armWayBack(ctx, { postgres: pgMoves, redis: redisMoves }, writersStopped, prefix);
    const beforeFence = [...writersStopped, ...wayBack];
    const together = pgMoves && redisMoves ? this.cutOverTogether(ctx, replicated, beforeFence, prefix) : undefined;
    if (pgMoves) this.cutOverPostgres(ctx, replicated, beforeFence, prefix, together);
    if (redisMoves) this.cutOverRedis(ctx, replicated, beforeFence, prefix, together);
    this.registerOutputs({});
  }

  /**
   * Each moving store's way back, armed before any fence: created as a read (where the
   * move stands), deleted as the store's rollback. It does not depend on the cutover step
   * having been recorded, which a failed one never is; and it depends on the steps that
   * stopped the source's writers, so lowering the flag lifts the fences before the dynos
   * scale back or the units start (never writers onto a fenced database).
   */
  private armWayBack(ctx: StageContext, moves: { postgres: boolean; redis: boolean }, writersStopped: pulumi.Resource[], prefix: string): pulumi.Resource[] {
    const steps: pulumi.Resource[] = [];
    if (moves.postgres) {
      const strategy = postgresStrategy(ctx.config.source);
      steps.push(ctx.runner.run(`${prefix}-pg-way-back`, { create: pg.status(), delete: pg.rollback(strategy), environment: postgresEnv(ctx) }, this.child(writersStopped)));
    }
    if (moves.redis) {
      const redis = redisCommands(ctx);
      steps.push(ctx.runner.run(`${prefix}-redis-way-back`, { create: redis.status(), delete: redis.rollback(), environment: redisEnv(ctx) }, this.child(writersStopped)));
    }
    return steps;
  }

  /**
   * Postgres and Redis both move: one `ferry cutover`, so the window is one process's work
   * (both fences first, the queues between them, catch-ups and verifies side by side).
   * Its delete is Postgres's rollback; Redis's step (below) gates on it and carries
   * Redis's rollback, so lowering the flag undoes them in reverse order as before. Named
   * `-stores`, aliased from the per-store `-pg` step: a stack that cut Postgres over first
   * (ferry:hold) keeps that resource, and its rerun leaves the finished store as it is.
   */
  private cutOverTogether(ctx: StageContext, replicated: ReplicateSteps, beforeFence: pulumi.Resource[], prefix: string): pulumi.Resource {
    const source = ctx.config.source;
    const strategy = postgresStrategy(source);
    return ctx.runner.run(`${prefix}-stores`, {
      create: stackSteps(source.kind === "heroku").cutover({
        strategy, mode: redisMode(ctx.config), fence: redisFenceOf(source.kind), pgFence: pgFenceOf(source.kind), maxLagBytes: ctx.config.target.maxLagBytes,
        timeoutSeconds: ctx.config.target.cutoverTimeoutSeconds, drainSidekiq: sidekiqDrain(source), pooler: poolerOf(ctx),
      }),
      delete: pg.rollback(strategy),
      environment: { ...postgresEnv(ctx), ...redisEnv(ctx), ...ctx.pooler?.env },
    }, {
      parent: this,
      dependsOn: [replicated.postgres, replicated.redis, ...beforeFence].filter((d): d is pulumi.Resource => !!d),
      aliases: [{ name: `${prefix}-pg` }],
    });
  }

  /** Postgres: fence, catch up, switch (its own `ferry pg cutover` unless `together` did it), then verify and repoint. */
  private cutOverPostgres(ctx: StageContext, replicated: ReplicateSteps, beforeFence: pulumi.Resource[], prefix: string, together?: pulumi.Resource): void {
    const source = ctx.config.source;
    const strategy = postgresStrategy(source);
    // With a pooler, Postgres alone moves through `ferry cutover` too: it pauses the pooler.
    const cutover = together ?? ctx.runner.run(`${prefix}-pg`, {
      create: ctx.pooler
        ? stackSteps(false).cutover({
          strategy, pgFence: pgFenceOf(source.kind), maxLagBytes: ctx.config.target.maxLagBytes, timeoutSeconds: ctx.config.target.cutoverTimeoutSeconds,
          drainSidekiq: false, pooler: poolerOf(ctx),
        })
        : pg.cutover(strategy, ctx.config.target.maxLagBytes, ctx.config.target.cutoverTimeoutSeconds, pgFenceOf(source.kind)),
      delete: pg.rollback(strategy),
      environment: { ...postgresEnv(ctx), ...ctx.pooler?.env },
    }, this.child([replicated.postgres, ...beforeFence]));
    // Verify after the switch: before it, the source still takes writes (and a dump
    // copy is from the rehearsal), so counts could only differ.
    const verify = ctx.runner.run(`${prefix}-pg-verify`, { create: pg.verify(), environment: postgresEnv(ctx) }, this.child([cutover]));
    this.gates.push(cutover, verify);
    this.moved.postgres = true;
    if (source.kind === "heroku" && source.postgres) {
      this.gates.push(this.repoint(ctx, source.postgres, ENV.targetUrl, ctx.target.postgresUrl, `${prefix}-pg-config`, verify));
    }
  }

  /**
   * Redis: drain the job queues, then `ferry redis cutover`; or, when `together` switched
   * it, a gate that the combined cutover finished Redis (`status --require-cutover`)
   * carrying Redis's rollback as its delete. Then the repoint.
   */
  private cutOverRedis(ctx: StageContext, replicated: ReplicateSteps, beforeFence: pulumi.Resource[], prefix: string, together?: pulumi.Resource): void {
    const source = ctx.config.source;
    const redis = redisCommands(ctx);
    const drain = !together && sidekiqDrain(source)
      ? ctx.runner.run(`${prefix}-redis-drain`, { create: redis.drainSidekiq(ctx.config.target.cutoverTimeoutSeconds), environment: redisEnv(ctx) }, this.child([replicated.redis, ...beforeFence]))
      : undefined;
    const cutover = ctx.runner.run(`${prefix}-redis`, {
      create: together ? redis.cutoverDone() : redis.cutover(redisMode(ctx.config), redisFenceOf(source.kind)),
      delete: redis.rollback(),
      environment: redisEnv(ctx),
    }, this.child([replicated.redis, drain, together, ...beforeFence]));
    this.gates.push(...(drain ? [drain] : []), cutover);
    this.moved.redis = true;
    if (source.kind === "heroku" && source.redis) {
      // After the combined step itself (its success means Redis is open), not after the
      // gate beside it: one process start less between the fences and the app's switch.
      this.gates.push(this.repoint(ctx, source.redis, ENV.targetRedisUrl, ctx.target.redisUrl, `${prefix}-redis-config`, together ?? cutover));
    }
  }

  private child(dependsOn: (pulumi.Resource | undefined)[]): pulumi.CustomResourceOptions {
    return { parent: this, dependsOn: dependsOn.filter((d): d is pulumi.Resource => !!d) };
  }

  /**
   * Heroku apps go into maintenance before the stores are fenced and stay there: AWS
   * already serves every request, and a dyno must not write into the old copy. Every
   * dyno is scaled to zero too: maintenance only stops the router, and worker dynos
   * write Redis on their own. Rollback scales back to ferry:source.apps' counts.
   */
  private stopHeroku(ctx: StageContext, source: HerokuSourceConfig, prefix: string): pulumi.Resource[] {
    return source.apps.map((app) => {
      const maintenance = ctx.runner.run(`${prefix}-maintenance-${app.name}`, {
        create: heroku.maintenance(app.name, true),
        delete: heroku.maintenance(app.name, false),
        environment: herokuEnv(ctx),
      }, { parent: this });
      const zero = Object.fromEntries(Object.keys(app.processes).map((type) => [type, 0]));
      return ctx.runner.run(`${prefix}-scale-${app.name}`, {
        create: heroku.scale(app.name, zero),
        delete: heroku.scale(app.name, app.processes),
        environment: herokuEnv(ctx),
      }, { parent: this, dependsOn: [maintenance] });
    });
  }

  /**
   * Heroku Scheduler's jobs are one-off dynos: neither maintenance nor the formation stops
   * them. Their only documented lever is the add-on itself, destroyed here on every app
   * (nothing where an app has none); rollback provisions the same plan again from what the
   * step printed (PULUMI_COMMAND_STDOUT) and lists the declared jobs to enter again, since
   * no API restores them. Every job must therefore be in ferry:target.compute.schedules.
   */
  private stopScheduler(ctx: StageContext, source: HerokuSourceConfig, prefix: string): pulumi.Resource[] {
    const jobs = planApp(ctx.config).schedules;
    return source.apps.map((app) => ctx.runner.run(`${prefix}-scheduler-${app.name}`, {
      create: heroku.schedulerOff(app.name),
      delete: heroku.schedulerOn(app.name, jobs.filter((j) => j.process.envSource === app.name).map((j) => describeJob(ctx, j))),
      environment: herokuEnv(ctx),
    }, { parent: this }));
  }

  /**
   * The box's crontab (ferry:source.cron): its job lines, each one of the declared
   * schedules, commented out over SSH (by ferry on the runner); rollback uncomments them.
   */
  private stopCrontab(ctx: StageContext, source: VultrSourceConfig, prefix: string): pulumi.Resource[] {
    const jobs = planApp(ctx.config).schedules;
    if (!source.cron || jobs.length === 0 || !ctx.sourceAddress) return [];
    const cron = source.cron;
    const host = ctx.sourceAddress.apply((ip) => oldBoxHost(ip, source));
    return [ctx.runner.run(`${prefix}-crontab`, {
      create: host.apply((h) => box.crontabOff(h, cron, [...new Set(jobs.map((j) => j.command))])),
      delete: host.apply((h) => box.crontabOn(h, cron)),
      environment: sshEnv(ctx),
    }, { parent: this })];
  }

  /**
   * The box's app units stop before the stores are fenced (the old nginx already
   * forwards every request to AWS); rollback starts them. `ferry box units` runs on the
   * runner and reaches the box over SSH trusting only ferry:source.ssh.hostKey: a Command
   * connecting to the box itself would not check the host key at all (@pulumi/command's
   * connection ignores it: https://github.com/pulumi/pulumi-command/issues/755).
   */
  private stopUnits(ctx: StageContext, source: VultrSourceConfig, prefix: string): pulumi.Resource[] {
    const units = Object.values(source.units);
    if (units.length === 0 || !ctx.sourceAddress) return [];
    const host = ctx.sourceAddress.apply((ip) => oldBoxHost(ip, source));
    return [ctx.runner.run(`${prefix}-units`, {
      create: host.apply((h) => box.units(h, "stop", units)),
      delete: host.apply((h) => box.units(h, "start", units)),
      environment: sshEnv(ctx),
    }, { parent: this })];
  }

  /**
   * Point the Heroku app's config var at the target; rollback gives it the add-on's value
   * again, as the add-on holds it then (a credential rotated since the cutover included).
   * Dynos cannot reach the private target, so this is a fence: a dyno taken out of
   * maintenance by mistake fails to connect instead of writing into the old copy.
   */
  private repoint(
    ctx: StageContext, store: { app: string; configVar: string; addon: string }, targetEnv: string, targetUrl: pulumi.Input<string>,
    name: string, after: pulumi.Resource,
  ): pulumi.Resource {
    return ctx.runner.run(name, {
      create: heroku.configFromEnv(store.app, store.configVar, targetEnv),
      delete: heroku.repointToAddon(store.app, store.configVar, store.addon),
      environment: { ...herokuEnv(ctx), [targetEnv]: targetUrl },
    }, { parent: this, dependsOn: [after] });
  }
}

/** The pooler's replicas as `ferry cutover --pooler` takes them (their CA in the step's environment). */
function poolerOf(ctx: StageContext): { replicas: { urls: string[] }; pauseTimeoutSeconds: number } | undefined {
  return ctx.pooler ? { replicas: { urls: ctx.pooler.urls }, pauseTimeoutSeconds: ctx.pooler.pauseTimeoutSeconds } : undefined;
}

/** A declared job as a user enters it in Heroku Scheduler's dashboard: frequency, dyno size, command. */
function describeJob(ctx: StageContext, job: SchedulePlan): string {
  const declared = ctx.config.target.compute.schedules.find((d) => d.name === job.name)!;
  return `${declared.schedule}${declared.timezone !== "UTC" ? ` (${declared.timezone})` : ""}, ${declared.size}: ${declared.command}`;
}
