// Config vars owned by add-ons. Those of an add-on that moves (the Postgres and Redis
// ferry migrates) are left out of the copy: after their store's cutover they would point
// at the old store; ferry sets DATABASE_URL and REDIS_URL itself. Those of add-ons that
// stay on Heroku (mail, logging, monitoring) are copied unchanged and listed, for the
// user to decide (keep the add-on, or replace the service and the var).
import * as pulumi from "@pulumi/pulumi";
import type { HerokuSourceConfig } from "../../../config";
import type { HerokuAppInventory } from "../../source/heroku";

export interface AddonVars {
  app: string;
  addon: string;
  service: string;
  vars: string[];
  /** The add-on's store moves to AWS: its vars are left out of the copy. */
  moving: boolean;
}

/** Every add-on that owns config vars, per app, and whether ferry moves it. */
export function listAddonVars(source: HerokuSourceConfig, inventory: HerokuAppInventory[]): AddonVars[] {
  const moving = new Set([source.postgres, source.redis].flatMap((s) => (s ? [`${s.app}/${s.addon}`] : [])));
  return inventory.flatMap((inv) =>
    inv.addons
      .filter((a) => a.configVars.length > 0)
      .map((a) => ({ app: inv.app, addon: a.name, service: a.service, vars: [...a.configVars], moving: moving.has(`${inv.app}/${a.name}`) })),
  );
}

/** One line per add-on, as the plan shows it. */
export function describeAddonVars(v: AddonVars): string {
  return v.moving
    ? `${v.app}: ${v.vars.join(", ")} (add-on ${v.addon}, moving to AWS) not copied; ferry sets DATABASE_URL / REDIS_URL`
    : `${v.app}: ${v.vars.join(", ")} (add-on ${v.addon}, ${v.service}, staying on Heroku) copied as they are: keep the add-on or replace it before decommission`;
}

export function addonVars(source: HerokuSourceConfig, inventory: pulumi.Output<HerokuAppInventory[]> | undefined, parent?: pulumi.Resource): pulumi.Output<AddonVars[]> {
  if (!inventory) return pulumi.output([]);
  return inventory.apply((inv) => {
    const list = listAddonVars(source, inv);
    for (const v of list) pulumi.log.info(describeAddonVars(v), parent);
    return list;
  });
}
