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
import { postgresStrategy, redisMode, sidekiqDrain, sourceAppStays } from "../config";
import { box, ENV, heroku, pg, pgFenceOf, redisFenceOf, stackSteps } from "./commands";
import { planApp, SchedulePlan } from "../components/target/app/plan";
import { StageContext, herokuEnv, oldBoxHost, postgresEnv, reached, redisCommands, redisEnv, sshEnv } from "./context";
import type { ReplicateSteps } from "./replicate";
import { StoreStep, fenceBoxFor, fenceHerokuFor, repointBox, serveHerokuAfter, sourceAppUrl, zeroOf } from "./source-app";

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
  /** ferry:source.access is declared: the source app serves from the moved stores (migrations/source-app.ts). */
  private readonly appStays: boolean;
  /** The steps that pointed the source app at the moved stores in this up. */
  private readonly repoints: pulumi.Resource[] = [];

  constructor(name: string, args: DataCutoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:DataCutover", name, {}, opts);
    const { ctx, replicated } = args;
    const prefix = name;
    const source = ctx.config.source;
    const pgMoves = reached(ctx, "postgres", "cutover");
    const redisMoves = reached(ctx, "redis", "cutover");
    const anyMoved = pgMoves || redisMoves || reached(ctx, "app", "cutover");
    // With a way in declared the source app serves again after each store's window, and
    // only the app's own cutover stops it and its scheduled jobs for good.
    this.appStays = sourceAppStays(ctx.config);
    const retires = this.appStays ? reached(ctx, "app", "cutover") : anyMoved;
    const writersStopped = this.appStays
      ? this.fenceWindows(ctx, { pg: pgMoves, redis: redisMoves }, prefix)
      : !anyMoved ? [] : source.kind === "heroku" ? this.stopHeroku(ctx, source, prefix) : this.stopUnits(ctx, source, prefix);
    this.jobsMoved = retires;
    const jobsStopped = () => (source.kind === "heroku" ? this.stopScheduler(ctx, source, prefix) : this.stopCrontab(ctx, source, prefix));
    if (retires && !this.appStays) this.jobsStopped.push(...jobsStopped());
    writersStopped.push(...this.jobsStopped);

    const wayBack = this.armWayBack(ctx, { postgres: pgMoves, redis: redisMoves }, writersStopped, prefix);
    const beforeFence = [...writersStopped, ...wayBack];
    const together = pgMoves && redisMoves ? this.cutOverTogether(ctx, replicated, beforeFence, prefix) : undefined;
    if (pgMoves) this.cutOverPostgres(ctx, replicated, beforeFence, prefix, together);
    if (redisMoves) this.cutOverRedis(ctx, replicated, beforeFence, prefix, together);
    if (this.appStays) {
      const served = this.serveAgain(ctx, { pg: pgMoves, redis: redisMoves }, prefix);
      if (retires) this.retire(ctx, served, jobsStopped, prefix);
    }
    this.registerOutputs({});
  }

  /** Each moving store's own fence (migrations/source-app.ts): a store moved later gets a window of its own. */
  private fenceWindows(ctx: StageContext, moves: Record<StoreStep, boolean>, prefix: string): pulumi.Resource[] {
    const source = ctx.config.source;
    const stores = (["pg", "redis"] as const).filter((s) => moves[s]);
    return stores.flatMap((store) => (source.kind === "heroku" ? fenceHerokuFor(ctx, source, store, prefix, this) : fenceBoxFor(ctx, source, store, prefix, this)));
  }

  /**
   * The end of each store's window, once every repoint of this up finished (two stores
   * moving together: neither lets the app back before both point at the target). A box's
   * units restart in its repoint (`ferry box repoint`), so this is Heroku's scale and
   * maintenance off.
   */
  private serveAgain(ctx: StageContext, moves: Record<StoreStep, boolean>, prefix: string): pulumi.Resource[] {
    const source = ctx.config.source;
    if (source.kind !== "heroku") return this.repoints;
    const stores = (["pg", "redis"] as const).filter((s) => moves[s]);
    return stores.flatMap((store) => serveHerokuAfter(ctx, source, store, prefix, this.repoints, this));
  }

  /**
   * The app's own cutover with a way in declared: the source app stops for good (and its
   * scheduled jobs) only after every window let it serve again, whatever order they ran in.
   */
  private retire(ctx: StageContext, served: pulumi.Resource[], jobsStopped: () => pulumi.Resource[], prefix: string): void {
    const source = ctx.config.source;
    if (source.kind === "heroku") this.stopHeroku(ctx, source, prefix, served);
    else this.stopUnits(ctx, source, prefix, served);
    this.jobsStopped.push(...jobsStopped());
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
        timeoutSeconds: ctx.config.target.cutoverTimeoutSeconds, drainSidekiq: quietSidekiq(ctx), pooler: poolerOf(ctx, "both"),
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
          drainSidekiq: false, pooler: poolerOf(ctx, "postgres"),
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
    this.pointSourceApp(ctx, "pg", verify, prefix);
  }

  /**
   * Redis: drain the job queues, then `ferry redis cutover`; or, when `together` switched
   * it, a gate that the combined cutover finished Redis (`status --require-cutover`)
   * carrying Redis's rollback as its delete. Then the repoint.
   */
  private cutOverRedis(ctx: StageContext, replicated: ReplicateSteps, beforeFence: pulumi.Resource[], prefix: string, together?: pulumi.Resource): void {
    const source = ctx.config.source;
    const redis = redisCommands(ctx);
    // Through the pooler's proxy, Redis alone moves through `ferry cutover` too: only it
    // pauses and repoints the proxy (and it quiets no Sidekiq: quietSidekiq).
    const proxied = !together && ctx.pooler?.redis;
    const drain = !together && !proxied && sidekiqDrain(source)
      ? ctx.runner.run(`${prefix}-redis-drain`, { create: redis.drainSidekiq(ctx.config.target.cutoverTimeoutSeconds), environment: redisEnv(ctx) }, this.child([replicated.redis, ...beforeFence]))
      : undefined;
    const cutover = ctx.runner.run(`${prefix}-redis`, {
      create: together ? redis.cutoverDone() : proxied ? this.redisThroughProxy(ctx) : redis.cutover(redisMode(ctx.config), redisFenceOf(source.kind)),
      delete: redis.rollback(),
      environment: { ...redisEnv(ctx), ...(proxied ? ctx.pooler?.env : {}) },
    }, this.child([replicated.redis, drain, together, ...beforeFence]));
    this.gates.push(...(drain ? [drain] : []), cutover);
    this.moved.redis = true;
    // After the combined step itself (its success means Redis is open), not after the
    // gate beside it: one process start less between the fences and the app's switch.
    this.pointSourceApp(ctx, "redis", together ?? cutover, prefix);
  }

  /** Redis alone, through the pooler's proxy: `ferry cutover` with Redis's mode and fence, no Postgres. */
  private redisThroughProxy(ctx: StageContext): string {
    const source = ctx.config.source;
    return stackSteps(source.kind === "heroku").cutover({
      mode: redisMode(ctx.config), fence: redisFenceOf(source.kind), maxLagBytes: ctx.config.target.maxLagBytes,
      timeoutSeconds: ctx.config.target.cutoverTimeoutSeconds, drainSidekiq: quietSidekiq(ctx), pooler: poolerOf(ctx, "redis"),
    });
  }

  /**
   * The source app's setting for `store`, once the store moved. Heroku: its config var;
   * at the target's private URL (a fence: a dyno taken out of maintenance by mistake fails
   * to connect), or, when the app stays, at the target as it reaches it. A box that stays:
   * its env file, its units restarted on it (migrations/source-app.ts).
   */
  private pointSourceApp(ctx: StageContext, store: StoreStep, after: pulumi.Resource, prefix: string): void {
    const source = ctx.config.source;
    const targetEnv = store === "pg" ? ENV.targetUrl : ENV.targetRedisUrl;
    const name = `${prefix}-${store}-config`;
    if (source.kind === "vultr") {
      // After the other store's, never beside it: both rewrite the same env file.
      if (this.appStays) this.repoints.push(repointBox(ctx, source, store, targetEnv, prefix, [after, ...this.repoints], this));
      return;
    }
    const herokuStore = store === "pg" ? source.postgres : source.redis;
    if (!herokuStore) return;
    const url = this.appStays ? sourceAppUrl(ctx, store) : store === "pg" ? ctx.target.postgresUrl : ctx.target.redisUrl;
    const step = this.repoint(ctx, herokuStore, targetEnv, url, name, after);
    this.repoints.push(step);
    this.gates.push(step);
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
  private stopHeroku(ctx: StageContext, source: HerokuSourceConfig, prefix: string, after: pulumi.Resource[] = []): pulumi.Resource[] {
    return source.apps.map((app) => {
      const maintenance = ctx.runner.run(`${prefix}-maintenance-${app.name}`, {
        create: heroku.maintenance(app.name, true),
        delete: heroku.maintenance(app.name, false),
        environment: herokuEnv(ctx),
      }, { parent: this, dependsOn: after });
      return ctx.runner.run(`${prefix}-scale-${app.name}`, {
        create: heroku.scale(app.name, zeroOf(app.processes)),
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
  private stopUnits(ctx: StageContext, source: VultrSourceConfig, prefix: string, after: pulumi.Resource[] = []): pulumi.Resource[] {
    const units = Object.values(source.units);
    if (units.length === 0 || !ctx.sourceAddress) return [];
    const host = ctx.sourceAddress.apply((ip) => oldBoxHost(ip, source));
    return [ctx.runner.run(`${prefix}-units`, {
      create: host.apply((h) => box.units(h, "stop", units)),
      delete: host.apply((h) => box.units(h, "start", units)),
      environment: sshEnv(ctx),
    }, { parent: this, dependsOn: after })];
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

/**
 * Whether the cutover quiets the app's Sidekiq processes before the fences (`--sidekiq`):
 * where the source's Redis holds Sidekiq's queues, unless the app reaches its stores
 * through the pooler's Redis proxy. Quiet is one way (TSTP: a Sidekiq process takes no
 * job until it restarts), and only a roll of the services, which the proxy does away
 * with, restarts them: quieted, the workers would never take a job again. Through the
 * pooler a job in progress needs no draining either: its Postgres transactions and Redis
 * commands wait in the pooler and go on at the target (docs/pooler.md).
 */
function quietSidekiq(ctx: StageContext): boolean {
  return sidekiqDrain(ctx.config.source) && !ctx.pooler?.redis;
}

/**
 * The pooler's replicas as `ferry cutover --pooler` takes them (their CA in the step's
 * environment), and whether its Redis proxy moves too: only where Redis does.
 */
function poolerOf(ctx: StageContext, moving: "postgres" | "redis" | "both"): { replicas: { urls: string[] }; pauseTimeoutSeconds: number; redis: boolean } | undefined {
  if (!ctx.pooler || (moving === "redis" && !ctx.pooler.redis)) return undefined;
  return { replicas: { urls: ctx.pooler.urls }, pauseTimeoutSeconds: ctx.pooler.pauseTimeoutSeconds, redis: ctx.pooler.redis && moving !== "postgres" };
}

/** A declared job as a user enters it in Heroku Scheduler's dashboard: frequency, dyno size, command. */
function describeJob(ctx: StageContext, job: SchedulePlan): string {
  const declared = ctx.config.target.compute.schedules.find((d) => d.name === job.name)!;
  return `${declared.schedule}${declared.timezone !== "UTC" ? ` (${declared.timezone})` : ""}, ${declared.size}: ${declared.command}`;
}
