// replicate: copy each data store into AWS the way its source allows, behind a preflight
// gate. Deleting the replicate step (lowering the flag) cleans up what it left on the
// source, e.g. the publication and replication slot that would otherwise retain WAL.
import * as pulumi from "@pulumi/pulumi";
import { postgresStrategy, redisMode } from "../../config";
import { pg, urlIdentity } from "./commands";
import { StageContext, postgresEnv, reached, redisCommands, redisEnv } from "./context";

export interface ReplicateSteps {
  postgres?: pulumi.CustomResource;
  redis?: pulumi.CustomResource;
}

/** Re-run when the source or target moves; passwords are left out so state holds none. */
function identity(url: pulumi.Output<string> | undefined): pulumi.Output<string> {
  return pulumi.unsecret(pulumi.output(url ?? "").apply((u) => (u ? urlIdentity(u) : "")));
}

export class Replicate extends pulumi.ComponentResource {
  readonly steps: ReplicateSteps = {};

  constructor(ctx: StageContext, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Replicate", `${ctx.name}-replicate`, {}, opts);
    const prefix = `${ctx.name}-replicate`;
    if (reached(ctx, "postgres", "replicate")) {
      const strategy = postgresStrategy(ctx.config.source);
      const triggers = [identity(ctx.secrets.sourceDatabaseUrl), identity(ctx.target.postgresUrl), strategy];
      const preflight = ctx.runner.run(`${prefix}-pg-preflight`, { create: pg.preflight(strategy), environment: postgresEnv(ctx), triggers }, { parent: this });
      this.steps.postgres = ctx.runner.run(`${prefix}-pg`, {
        create: pg.replicate(strategy),
        delete: pg.cleanup(),
        environment: postgresEnv(ctx),
        triggers,
      }, { parent: this, dependsOn: [preflight] });
    }
    if (reached(ctx, "redis", "replicate")) {
      const mode = redisMode(ctx.config);
      const triggers = [identity(ctx.secrets.sourceRedisUrl), identity(ctx.target.redisUrl), mode];
      const preflight = ctx.runner.run(`${prefix}-redis-preflight`, { create: redisCommands(ctx).preflight(), environment: redisEnv(ctx), triggers }, { parent: this });
      this.steps.redis = ctx.runner.run(`${prefix}-redis`, {
        create: redisCommands(ctx).replicate(mode),
        environment: redisEnv(ctx),
        triggers,
      }, { parent: this, dependsOn: [preflight] });
    }
    this.registerOutputs({});
  }
}
