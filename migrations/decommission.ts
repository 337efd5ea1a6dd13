// decommission: the source is released. (Its writers already stopped at cutover: dynos
// scaled to zero, the box's units stopped.) Heroku: the data add-ons released, the one
// step with no undo, so it runs last and only once the store's cutover is done and its
// source still fenced. Vultr: `ferry pg
// cleanup` drops the publication and slot there. The Vultr instance itself is never
// deleted.
import * as pulumi from "@pulumi/pulumi";
import { heroku, pg } from "./commands";
import { StageContext, herokuEnv, herokuSource, postgresEnv, reached, redisCommands, redisEnv } from "./context";

export interface DecommissionArgs {
  ctx: StageContext;
}

export class Decommission extends pulumi.ComponentResource {
  constructor(name: string, args: DecommissionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Decommission", name, {}, opts);
    const { ctx } = args;
    if (ctx.config.source.kind === "heroku") this.heroku(ctx);
    else this.vultr(ctx);
    this.registerOutputs({});
  }

  private heroku(ctx: StageContext): void {
    const prefix = `${ctx.name}-decommission`;
    // The gate before an add-on is released: its store's cutover finished (its verify ran
    // behind the fence) and the source is still fenced. A verify now could only differ:
    // the target has been taking the app's writes since the cutover.
    const stores = [
      { component: "postgres" as const, gate: () => pg.cutoverDone(), env: () => postgresEnv(ctx) },
      { component: "redis" as const, gate: () => redisCommands(ctx).cutoverDone(), env: () => redisEnv(ctx) },
    ];
    for (const store of stores) {
      // The configured add-on, which the Heroku source component checked Heroku lists.
      const addon = herokuSource(ctx).addon(store.component);
      if (!addon || !reached(ctx, store.component, "decommission")) continue;
      const gate = ctx.runner.run(`${prefix}-${store.component}-cutover-done`, { create: store.gate(), environment: store.env() }, { parent: this });
      // A literal command line: the source-protected policy reads it in a preview.
      ctx.runner.run(`${prefix}-${store.component}-addon`, {
        create: heroku.addonDestroy(addon.app, addon.addon),
        environment: herokuEnv(ctx),
      }, { parent: this, dependsOn: [gate] });
    }
  }

  private vultr(ctx: StageContext): void {
    if (reached(ctx, "postgres", "decommission")) {
      ctx.runner.run(`${ctx.name}-decommission-pg-cleanup`, { create: pg.cleanup(), environment: postgresEnv(ctx) }, { parent: this });
    }
  }
}
