// cutover (data): fence the source, let the target catch up and take over, and repoint
// the Heroku app's config. Every step's delete is its rollback, so lowering the flag
// undoes them in reverse order: config back, `pg rollback`, maintenance off.
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSource } from "../../config";
import { postgresStrategy, redisMode, sidekiqDrain } from "../../config";
import { ENV, heroku, pg } from "./commands";
import { StageContext, herokuEnv, postgresEnv, reached, redisCommands, redisEnv } from "./context";
import type { ReplicateSteps } from "./replicate";

export class DataCutover extends pulumi.ComponentResource {
  /** The steps DNS and the app's environment wait for: a failed gate stops them. */
  readonly gates: pulumi.Resource[] = [];
  /** Which stores the app on AWS should use at the target. */
  readonly moved = { postgres: false, redis: false };

  constructor(ctx: StageContext, replicated: ReplicateSteps, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:DataCutover", `${ctx.name}-cutover-data`, {}, opts);
    const prefix = `${ctx.name}-cutover`;
    const child = (dependsOn: (pulumi.Resource | undefined)[]) => ({ parent: this, dependsOn: dependsOn.filter((d): d is pulumi.Resource => !!d) });
    const source = ctx.config.source;
    const maintenance = source.kind === "heroku" ? this.maintenance(ctx, source, prefix) : [];

    if (reached(ctx, "postgres", "cutover")) {
      const strategy = postgresStrategy(source);
      const cutover = ctx.runner.run(`${prefix}-pg`, {
        create: pg.cutover(strategy, ctx.config.target.maxLagBytes, ctx.config.target.cutoverTimeoutSeconds),
        delete: pg.rollback(strategy),
        environment: postgresEnv(ctx),
      }, child([replicated.postgres, ...maintenance]));
      // Verify after the switch: before it, the source still takes writes (and a dump
      // copy is from the rehearsal), so counts could only differ.
      const verify = ctx.runner.run(`${prefix}-pg-verify`, { create: pg.verify(), environment: postgresEnv(ctx) }, child([cutover]));
      this.gates.push(cutover, verify);
      this.moved.postgres = true;
      if (source.kind === "heroku" && source.postgres) {
        this.gates.push(this.repoint(ctx, source.postgres.app, source.postgres.configVar, ENV.targetUrl, ENV.sourceUrl, {
          [ENV.targetUrl]: ctx.target.postgresUrl, [ENV.sourceUrl]: postgresEnv(ctx)[ENV.sourceUrl],
        }, `${prefix}-pg-config`, verify));
      }
    }

    if (reached(ctx, "redis", "cutover")) {
      const mode = redisMode(ctx.config);
      const drain = sidekiqDrain(source)
        ? ctx.runner.run(`${prefix}-redis-drain`, { create: redisCommands(ctx).drainSidekiq(ctx.config.target.cutoverTimeoutSeconds), environment: redisEnv(ctx) }, child([replicated.redis, ...maintenance]))
        : undefined;
      const cutover = ctx.runner.run(`${prefix}-redis`, { create: redisCommands(ctx).cutover(mode), environment: redisEnv(ctx) }, child([replicated.redis, drain, ...maintenance]));
      this.gates.push(...(drain ? [drain] : []), cutover);
      this.moved.redis = true;
      if (source.kind === "heroku" && source.redis) {
        this.gates.push(this.repoint(ctx, source.redis.app, source.redis.configVar, ENV.targetRedisUrl, ENV.sourceRedisUrl, {
          [ENV.targetRedisUrl]: ctx.target.redisUrl, [ENV.sourceRedisUrl]: redisEnv(ctx)[ENV.sourceRedisUrl],
        }, `${prefix}-redis-config`, cutover));
      }
    }
    this.registerOutputs({});
  }

  /**
   * Heroku apps go into maintenance before the stores are fenced and stay there: AWS
   * already serves every request, and a dyno must not write into the old copy.
   */
  private maintenance(ctx: StageContext, source: HerokuSource, prefix: string): pulumi.Resource[] {
    const anyMoved = reached(ctx, "postgres", "cutover") || reached(ctx, "redis", "cutover") || reached(ctx, "app", "cutover");
    if (!anyMoved) return [];
    return source.apps.map((app) =>
      ctx.runner.run(`${prefix}-maintenance-${app.name}`, {
        create: heroku.maintenance(app.name, true),
        delete: heroku.maintenance(app.name, false),
        environment: herokuEnv(ctx),
      }, { parent: this }),
    );
  }

  /**
   * Point the Heroku app's config var at the target; rollback puts the source value back.
   * Dynos cannot reach the private target, so this is a fence: a dyno taken out of
   * maintenance by mistake fails to connect instead of writing into the old copy.
   */
  private repoint(
    ctx: StageContext, app: string, configVar: string, targetEnv: string, sourceEnv: string,
    urls: Record<string, pulumi.Input<string>>, name: string, after: pulumi.Resource,
  ): pulumi.Resource {
    return ctx.runner.run(name, {
      create: heroku.configFromEnv(app, configVar, targetEnv),
      delete: heroku.configFromEnv(app, configVar, sourceEnv),
      environment: { ...herokuEnv(ctx), ...urls },
    }, { parent: this, dependsOn: [after] });
  }
}
