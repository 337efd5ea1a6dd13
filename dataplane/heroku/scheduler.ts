// Heroku Scheduler, switched off and back on. Scheduler has no documented API for its
// jobs (FACTS.md; the dashboard talks to an undocumented service that ferry does not
// use), and maintenance mode does not stop it: its jobs are one-off dynos, started
// whatever the formation or maintenance mode. The lever the Platform API documents is
// the add-on itself: destroying it stops every job (DELETE /apps/{app}/addons/{id}); the
// way back provisions it again with the same plan (POST /apps/{app}/addons), and its jobs
// must be entered again by hand in its dashboard, from the list ferry prints (the stack's
// declared schedules). https://devcenter.heroku.com/articles/platform-api-reference#add-on
import type { HerokuClient } from "./client";

/** The add-on service Heroku Scheduler's add-ons belong to. */
export const SCHEDULER_SERVICE = "scheduler";

export interface SchedulerAddon {
  name: string;
  plan: string;
}

/** What `scheduler off` did: the add-ons it destroyed (what `scheduler on` provisions again). */
export interface SchedulerOff {
  app: string;
  removed: SchedulerAddon[];
}

export interface SchedulerOn {
  app: string;
  created: SchedulerAddon[];
  /** The jobs to enter again in the Scheduler dashboard (the stack's declared schedules). */
  jobs: string[];
}

/** Destroy every Scheduler add-on of the app (none: nothing to do). */
export async function schedulerOff(client: HerokuClient, app: string): Promise<SchedulerOff> {
  const addons = (await client.listAddons(app)).filter((a) => a.addon_service.name === SCHEDULER_SERVICE && a.state !== "deprovisioned");
  const removed: SchedulerAddon[] = [];
  for (const a of addons) {
    await client.destroyAddon(app, a.id);
    removed.push({ name: a.name, plan: a.plan.name });
  }
  return { app, removed };
}

/**
 * Provision again what `off` removed (its output, as the step that ran it printed it),
 * unless the app has a Scheduler add-on again already (rerun, or provisioned by hand).
 */
export async function schedulerOn(client: HerokuClient, app: string, off: SchedulerOff, jobs: string[]): Promise<SchedulerOn> {
  const present = (await client.listAddons(app)).some((a) => a.addon_service.name === SCHEDULER_SERVICE && a.state !== "deprovisioned");
  const created: SchedulerAddon[] = [];
  if (!present) {
    for (const r of off.removed) {
      const a = await client.createAddon(app, r.plan);
      created.push({ name: a.name, plan: a.plan.name });
    }
  }
  return { app, created, jobs: off.removed.length ? jobs : [] };
}

/** The output of `scheduler off` (JSON), checked: throws a one-line reason otherwise. */
export function parseSchedulerOff(text: string, app: string): SchedulerOff {
  let parsed: Partial<SchedulerOff>;
  try {
    parsed = JSON.parse(text) as Partial<SchedulerOff>;
  } catch {
    throw new Error("not the JSON `ferry --json heroku scheduler off` prints");
  }
  const ok = parsed.app === app && Array.isArray(parsed.removed) && parsed.removed.every((r) => typeof r?.name === "string" && typeof r?.plan === "string");
  if (!ok) throw new Error(`not what \`ferry --json heroku scheduler off --app ${app}\` printed (app, removed[{name, plan}])`);
  return { app, removed: parsed.removed!.map((r) => ({ name: r.name, plan: r.plan })) };
}
