// decommission: the source stops running. Heroku: dynos scaled to zero (rollback scales
// them back to the counts in ferry:source.apps) and the data add-ons released, the one
// step with no undo, so it runs last and only after a final verify. Vultr: the app's
// systemd units stopped on the old box (rollback starts them) and `ferry pg cleanup`
// drops the publication and slot there. The Vultr instance itself is never deleted.
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSource, VultrSource } from "../../config";
import { SshRunner } from "../../components/runner";
import { ENV, heroku, pg, systemd } from "./commands";
import { StageContext, herokuEnv, herokuSource, postgresEnv, reached, redisCommands, redisEnv, sshEnv } from "./context";

export class Decommission extends pulumi.ComponentResource {
  constructor(ctx: StageContext, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Decommission", `${ctx.name}-decommission`, {}, opts);
    const source = ctx.config.source;
    if (source.kind === "heroku") this.heroku(ctx, source);
    else this.vultr(ctx, source);
    this.registerOutputs({});
  }

  private heroku(ctx: StageContext, source: HerokuSource): void {
    const prefix = `${ctx.name}-decommission`;
    if (reached(ctx, "app", "decommission")) {
      for (const app of source.apps) {
        const zero = Object.fromEntries(Object.keys(app.processes).map((type) => [type, 0]));
        ctx.runner.run(`${prefix}-scale-${app.name}`, {
          create: heroku.scale(app.name, zero),
          delete: heroku.scale(app.name, app.processes),
          environment: herokuEnv(ctx),
        }, { parent: this });
      }
    }
    const stores = [
      { component: "postgres" as const, verify: () => pg.verify(), env: () => postgresEnv(ctx) },
      { component: "redis" as const, verify: () => redisCommands(ctx).verify(), env: () => redisEnv(ctx) },
    ];
    for (const store of stores) {
      // The configured add-on, which the Heroku source component checked Heroku lists.
      const addon = herokuSource(ctx).addon(store.component);
      if (!addon || !reached(ctx, store.component, "decommission")) continue;
      const verify = ctx.runner.run(`${prefix}-${store.component}-verify`, { create: store.verify(), environment: store.env() }, { parent: this });
      // A literal command line: the source-protected policy reads it in a preview.
      ctx.runner.run(`${prefix}-${store.component}-addon`, {
        create: heroku.addonDestroy(addon.app, addon.addon),
        environment: herokuEnv(ctx),
      }, { parent: this, dependsOn: [verify] });
    }
  }

  private vultr(ctx: StageContext, source: VultrSource): void {
    const prefix = `${ctx.name}-decommission`;
    const address = ctx.sourceAddress;
    if (reached(ctx, "postgres", "decommission")) {
      ctx.runner.run(`${prefix}-pg-cleanup`, { create: pg.cleanup(), environment: postgresEnv(ctx) }, { parent: this });
    }
    const units = Object.values(source.units);
    if (reached(ctx, "app", "decommission") && units.length > 0 && address) {
      // `ferry` has no unit command, so this one step runs over SSH on the old box itself.
      const oldBox = new SshRunner(this, { host: address, user: source.ssh.user, port: source.ssh.port, privateKey: sshEnv(ctx)[ENV.sshKey] });
      const sudo = source.ssh.user !== "root";
      oldBox.run(`${prefix}-units`, { create: systemd.stop(units, sudo), delete: systemd.start(units, sudo) });
    }
  }
}
