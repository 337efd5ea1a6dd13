// Stores first, the app later or never (issue 31). With ferry:source.access declared, the
// source app keeps serving from the stores that moved: each store's cutover is a window
// around it, its own steps named after the store so a later store gets a window of its own:
//   1. the fence as without a way in: Heroku apps into maintenance and every dyno at 0;
//      the box's app units stopped (`-<store>-fence-*`);
//   2. the store's way back, its cutover and verify (migrations/cutover.ts, unchanged);
//   3. the app's setting pointed at the target as the app reaches it (Heroku: `ferry
//      heroku repoint`; a box: `ferry box repoint`, its env file rewritten and its units
//      restarted on it);
//   4. Heroku: the dynos scaled back to ferry:source.apps' counts and maintenance off
//      (`-<store>-serve-*`).
// Each step's delete undoes it, so lowering the flag runs them in reverse: maintenance on
// and dynos at 0, the setting back (to the add-on, or the env file's old lines with the
// units stopped), the store's rollback, then the fence's delete brings the writers back.
// Replicate's guards refuse that before anything moves once the target took writes.
// The app's own cutover later stops it for good (cutover.ts's `-maintenance-*`,
// `-scale-*`, `-units`), after every window's last step.
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSourceConfig, VultrSourceConfig } from "../config";
import { ACCESS_KEY } from "../config";
import { box, heroku } from "./commands";
import { StageContext, herokuEnv, oldBoxHost, present, sshEnv } from "./context";

/** The two stores, as their steps are named (`-pg-*`, `-redis-*`). */
export type StoreStep = "pg" | "redis";

/**
 * RDS as the source app reaches it: verify-full against the bundle the app carries
 * (ferry:source.access.postgresCaFile). No system trust store holds RDS's roots, and a
 * dyno has only its stack image's and its slug's files (config/schema.ts).
 */
export function sourceAppPostgresUrl(url: string, caFile: string): string {
  const u = new URL(url);
  u.searchParams.set("sslmode", "verify-full");
  u.searchParams.set("sslrootcert", caFile);
  return u.toString();
}

/**
 * The URL the source app is given for `store`. Postgres: RDS's, public when the way in
 * crosses the internet (components/target/postgres.ts), with the CA above. Redis: the
 * TLS endpoint the way in opens (`Redis.sourceUrl`, rediss://). Redis on EC2's
 * certificate is self-signed, as Heroku Key-Value Store's is, so a Heroku app already
 * connects to it without verifying (https://devcenter.heroku.com/articles/connecting-heroku-redis).
 */
export function sourceAppUrl(ctx: StageContext, store: StoreStep): pulumi.Output<string> {
  if (store === "redis") return present(ctx.target.sourceAppRedisUrl, "Redis's URL for the source app (ferry:source.access)");
  const caFile = present(ctx.config.source.access?.postgresCaFile, `${ACCESS_KEY}.postgresCaFile`);
  return pulumi.secret(ctx.target.postgresUrl.apply((u) => sourceAppPostgresUrl(u, caFile)));
}

/** Every process type of the app at 0. */
export function zeroOf(processes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(processes).map((type) => [type, 0]));
}

/** Heroku, `store`'s fence: each app into maintenance, then every dyno at 0; the deletes bring them back. */
export function fenceHerokuFor(ctx: StageContext, source: HerokuSourceConfig, store: StoreStep, prefix: string, parent: pulumi.Resource): pulumi.Resource[] {
  return source.apps.map((app) => {
    const maintenance = ctx.runner.run(`${prefix}-${store}-fence-maintenance-${app.name}`, {
      create: heroku.maintenance(app.name, true),
      delete: heroku.maintenance(app.name, false),
      environment: herokuEnv(ctx),
    }, { parent });
    return ctx.runner.run(`${prefix}-${store}-fence-scale-${app.name}`, {
      create: heroku.scale(app.name, zeroOf(app.processes)),
      delete: heroku.scale(app.name, app.processes),
      environment: herokuEnv(ctx),
    }, { parent, dependsOn: [maintenance] });
  });
}

/**
 * Heroku, the end of `store`'s window: each app's dynos back at ferry:source.apps' counts,
 * then out of maintenance, once `after` (the repoints) finished; the deletes fence it again.
 */
export function serveHerokuAfter(ctx: StageContext, source: HerokuSourceConfig, store: StoreStep, prefix: string, after: pulumi.Resource[], parent: pulumi.Resource): pulumi.Resource[] {
  return source.apps.map((app) => {
    const scale = ctx.runner.run(`${prefix}-${store}-serve-scale-${app.name}`, {
      create: heroku.scale(app.name, app.processes),
      delete: heroku.scale(app.name, zeroOf(app.processes)),
      environment: herokuEnv(ctx),
    }, { parent, dependsOn: after });
    return ctx.runner.run(`${prefix}-${store}-serve-maintenance-${app.name}`, {
      create: heroku.maintenance(app.name, false),
      delete: heroku.maintenance(app.name, true),
      environment: herokuEnv(ctx),
    }, { parent, dependsOn: [scale] });
  });
}

/** A box, `store`'s fence: the app's units stopped over SSH; the delete starts them. */
export function fenceBoxFor(ctx: StageContext, source: VultrSourceConfig, store: StoreStep, prefix: string, parent: pulumi.Resource): pulumi.Resource[] {
  const units = Object.values(source.units);
  const address = present(ctx.sourceAddress, "the box's address");
  const host = address.apply((ip) => oldBoxHost(ip, source));
  return [ctx.runner.run(`${prefix}-${store}-fence-units`, {
    create: host.apply((h) => box.units(h, "stop", units)),
    delete: host.apply((h) => box.units(h, "start", units)),
    environment: sshEnv(ctx),
  }, { parent })];
}

/**
 * A box, the end of `store`'s window: its env file's variable (ferry:source.access.postgresVar
 * or redisVar) set to the target as the box reaches it, and the units restarted on it. The
 * delete stops the units and writes the variable's old lines back (kept on the box).
 */
export function repointBox(ctx: StageContext, source: VultrSourceConfig, store: StoreStep, fromEnv: string, prefix: string, after: pulumi.Resource[], parent: pulumi.Resource): pulumi.Resource {
  const access = present(source.access, ACCESS_KEY);
  const envFile = present(access.envFile, `${ACCESS_KEY}.envFile`);
  const variable = store === "pg" ? access.postgresVar : access.redisVar;
  const units = Object.values(source.units);
  const host = present(ctx.sourceAddress, "the box's address").apply((ip) => oldBoxHost(ip, source));
  return ctx.runner.run(`${prefix}-${store}-env`, {
    create: host.apply((h) => box.repoint(h, envFile, variable, fromEnv, units)),
    delete: host.apply((h) => box.repointRestore(h, envFile, variable, units)),
    environment: { ...sshEnv(ctx), [fromEnv]: sourceAppUrl(ctx, store) },
  }, { parent, dependsOn: after });
}
