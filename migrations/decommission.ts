// decommission: the source is released. (Its writers already stopped at cutover: dynos
// scaled to zero, the box's units stopped.) Heroku: the data add-ons released, the one
// step with no undo, so it runs last and only once the store's cutover is done and its
// source still fenced; with capture, `ferry pg cleanup` first removes its triggers and
// change log. Vultr: `ferry pg cleanup` drops the publication and slot there.
// The Vultr instance itself is never deleted.
// Before anything is released, and only once the store's cutover is done and its source
// still fenced (Heroku and box alike), a final backup of each store that reached decommission
// (`ferry pg backup`, `ferry redis backup`): a custom-format dump of the fenced source,
// every Redis key with its expiry, into the stack's bucket under final-backup/, its
// checksum read back. The release depends on it: no backup, no release. The way back
// from decommission is `ferry pg restore` / `ferry redis restore` from there. It runs
// once: a later `pulumi up` finds it in the state and runs nothing, even when the
// source's credentials changed since (BACKUP_ONCE): a backup taken again after the
// release would find no source and fail the up.
import * as pulumi from "@pulumi/pulumi";
import type { Component } from "../config";
import { postgresStrategy } from "../config";
import { finalBackupKey } from "../dataplane/cli/contract";
import { heroku, pg } from "./commands";
import { StageContext, herokuEnv, herokuSource, postgresEnv, postgresSourceEnv, reached, redisCommands, redisEnv, redisSourceEnv } from "./context";

export interface DecommissionArgs {
  ctx: StageContext;
}

type Store = Exclude<Component, "app">;

/**
 * The backup step's options beyond parent and order: a changed environment (Heroku
 * rotates credentials) must not run its create again once it ran; the command line
 * itself holds only names that do not change.
 */
export const BACKUP_ONCE: pulumi.CustomResourceOptions = { ignoreChanges: ["environment"] };

/**
 * The store's final backup as a command line: names only (bucket, key, region), the
 * source's URL in the step's environment. Exported for the program tests.
 */
export function backupCommand(ctx: StageContext, store: Store, bucket: string): string {
  const at = { bucket, key: finalBackupKey(store), region: ctx.config.target.region };
  return store === "postgres" ? pg.backup(at) : redisCommands(ctx).backup(at);
}

/** Only where the source is (a Heroku add-on, read when the step runs; a box's URL): the backup reads the source and writes the bucket, nothing else. */
function backupEnv(ctx: StageContext, store: Store): Record<string, pulumi.Input<string>> {
  return store === "postgres" ? postgresSourceEnv(ctx) : redisSourceEnv(ctx);
}

export class Decommission extends pulumi.ComponentResource {
  constructor(name: string, args: DecommissionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:stages:Decommission", name, {}, opts);
    const { ctx } = args;
    if (ctx.config.source.kind === "heroku") this.heroku(ctx);
    else this.vultr(ctx);
    this.registerOutputs({});
  }

  /** The store's final backup, after `after`: what releasing the store waits for. */
  private backup(ctx: StageContext, prefix: string, store: Store, after: pulumi.Resource[] = []): pulumi.Resource {
    return ctx.runner.run(`${prefix}-${store}-backup`, {
      create: ctx.target.bucket.apply((bucket) => backupCommand(ctx, store, bucket)),
      environment: backupEnv(ctx, store),
    }, { ...BACKUP_ONCE, parent: this, dependsOn: after });
  }

  /**
   * The box's gate before a store's source is backed up and cleaned up, the one Heroku's
   * add-ons wait for (the same step name): the store's cutover finished and its source is
   * still fenced.
   */
  private cutoverDone(ctx: StageContext, prefix: string, store: Store): pulumi.Resource {
    const [gate, env] = store === "postgres" ? [pg.cutoverDone(), postgresEnv(ctx)] : [redisCommands(ctx).cutoverDone(), redisEnv(ctx)];
    return ctx.runner.run(`${prefix}-${store}-cutover-done`, { create: gate, environment: env }, { parent: this });
  }

  private heroku(ctx: StageContext): void {
    const prefix = `${ctx.name}-decommission`;
    // The gate before an add-on is released: its store's cutover finished (its verify ran
    // behind the fence) and the source is still fenced. A verify now could only differ:
    // the target has been taking the app's writes since the cutover.
    for (const component of ["postgres", "redis"] as const) {
      // The configured add-on, which the Heroku source component checked Heroku lists.
      const addon = herokuSource(ctx).addon(component);
      if (!addon || !reached(ctx, component, "decommission")) continue;
      const gate = this.cutoverDone(ctx, prefix, component);
      // Backed up behind the fence the gate found in place: the last state of the source.
      const backup = this.backup(ctx, prefix, component, [gate, ...this.captureCleanup(ctx, prefix, component, gate)]);
      // A literal command line: the source-protected policy reads it in a preview.
      ctx.runner.run(`${prefix}-${component}-addon`, {
        create: heroku.addonDestroy(addon.app, addon.addon),
        environment: herokuEnv(ctx),
      }, { parent: this, dependsOn: [gate, backup] });
    }
  }

  /**
   * Capture's triggers, functions and change log off the fenced source, before its final
   * backup: a restore of that backup (the way back from decommission) must not bring back
   * triggers that log every write into a table nothing reads. The fence stays. Once, as
   * the backup (BACKUP_ONCE): after the release there is no source to clean.
   */
  private captureCleanup(ctx: StageContext, prefix: string, store: Store, after: pulumi.Resource): pulumi.Resource[] {
    if (store !== "postgres" || postgresStrategy(ctx.config.source) !== "capture") return [];
    return [ctx.runner.run(`${prefix}-pg-cleanup`, { create: pg.cleanup(), environment: postgresEnv(ctx) }, { ...BACKUP_ONCE, parent: this, dependsOn: [after] })];
  }

  private vultr(ctx: StageContext): void {
    const prefix = `${ctx.name}-decommission`;
    // The box's Redis is released with the box (left to its owner): backed up all the same,
    // behind the same gate as on Heroku, so the backup is the fenced source's last state.
    if (reached(ctx, "redis", "decommission")) this.backup(ctx, prefix, "redis", [this.cutoverDone(ctx, prefix, "redis")]);
    if (reached(ctx, "postgres", "decommission")) {
      // The cleanup drops the publication and slot: after it, no cutover could finish.
      const backup = this.backup(ctx, prefix, "postgres", [this.cutoverDone(ctx, prefix, "postgres")]);
      ctx.runner.run(`${prefix}-pg-cleanup`, { create: pg.cleanup(), environment: postgresEnv(ctx) }, { parent: this, dependsOn: [backup] });
    }
  }
}
