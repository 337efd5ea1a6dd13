// The app plane as plain data: which code each process runs (a Heroku app's slug, or an
// image), its size, count, port and whose config vars it gets; the release phase and the
// scheduled jobs. Pure and tested without Pulumi; every error names the config key.
import type { FerryConfig } from "../../../config";
import { scheduleExpression } from "./schedule";
import { taskSize, TaskSize } from "./sizes";

/** What a process runs: a Procfile type of a Heroku app's current slug, or an image. */
export type Code =
  | { kind: "slug"; app: string; type: string; command?: string }
  | { kind: "image"; image: string; command?: string };

export interface ProcessPlan {
  name: string;
  code: Code;
  size: TaskSize;
  count: number;
  autoscaling?: { min: number; max: number; cpuPercent: number };
  port?: number;
  healthPath: string;
  /** Whose config vars it gets: a Heroku app's name, or BOX_ENV for a self-managed box. */
  envSource: string;
}

export interface SchedulePlan {
  name: string;
  expression: string;
  timezone: string;
  command: string;
  size: TaskSize;
  /** The process whose code and config vars the job runs with. */
  process: ProcessPlan;
}

/** A release phase: the Procfile's `release` of a slug app (if it has one), or the configured command. */
export type ReleasePlan =
  | { kind: "slug"; app: string; process: ProcessPlan }
  | { kind: "image"; process: ProcessPlan; command: string };

export interface AppPlan {
  processes: ProcessPlan[];
  schedules: SchedulePlan[];
  releases: ReleasePlan[];
  /** Heroku apps whose current release is read and whose slug is copied to S3. */
  slugApps: string[];
}

export const BOX_ENV = "box";

const key = (path: string) => `ferry:target.compute.${path}`;

export function planApp(config: Pick<FerryConfig, "source" | "target">): AppPlan {
  const compute = config.target.compute;
  const processes = Object.entries(compute.processes).map(([name, spec]) => planProcess(config, name, spec));
  const byName = new Map(processes.map((p) => [p.name, p]));
  const schedules = compute.schedules.map((job, i): SchedulePlan => {
    const process = byName.get(job.process);
    if (!process) throw new Error(`${key(`schedules[${i}].process`)}: "${job.process}" is not in ferry:target.compute.processes (${[...byName.keys()].join(", ")})`);
    return {
      name: job.name,
      expression: scheduleExpression(job.schedule, key(`schedules[${i}].schedule`)),
      timezone: job.timezone,
      command: job.command,
      size: taskSize({ size: job.size }, key(`schedules[${i}].size`)),
      process,
    };
  });
  const names = compute.schedules.map((j) => j.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`${key("schedules")}: the name "${twice}" is used twice`);
  const slugApps = [...new Set(processes.flatMap((p) => (p.code.kind === "slug" ? [p.code.app] : [])))];
  return { processes, schedules, releases: planReleases(config, byName, slugApps), slugApps };
}

type ProcessSpec = FerryConfig["target"]["compute"]["processes"][string];

function planProcess(config: Pick<FerryConfig, "source" | "target">, name: string, spec: ProcessSpec): ProcessPlan {
  const at = (field: string) => key(`processes.${name}.${field}`);
  const source = config.source;
  let code: Code;
  let envSource = BOX_ENV;
  let count = spec.count;
  if (source.kind === "heroku") {
    const from = spec.from ?? { app: (source.apps.find((a) => name in a.processes) ?? source.apps[0]).name, type: name };
    const app = source.apps.find((a) => a.name === from.app);
    if (!app) throw new Error(`${at("from.app")}: "${from.app}" is not in ferry:source.apps (${source.apps.map((a) => a.name).join(", ")})`);
    if (!spec.image && !(from.type in app.processes)) {
      throw new Error(`${at("from.type")}: Heroku app ${app.name} has no process type "${from.type}" in ferry:source (it has ${Object.keys(app.processes).join(", ")}); set from: {app, type}`);
    }
    envSource = app.name;
    code = spec.image ? { kind: "image", image: spec.image, command: spec.command } : { kind: "slug", app: app.name, type: from.type, command: spec.command };
    count ??= app.processes[from.type] ?? 1;
  } else {
    if (spec.from) throw new Error(`${at("from")}: only for a heroku source; a box's app runs from an image`);
    if (!spec.image) throw new Error(`${at("image")}: required for a ${source.kind} source (the box's app has no slug): give the app's image, e.g. ghcr.io/mastodon/mastodon:v4.3.0`);
    code = { kind: "image", image: spec.image, command: spec.command };
  }
  count ??= 1;
  if (spec.autoscaling && !(spec.autoscaling.min <= count && count <= spec.autoscaling.max)) {
    throw new Error(`${at("autoscaling")}: count ${count} must lie within min ${spec.autoscaling.min} and max ${spec.autoscaling.max}`);
  }
  return {
    name,
    code,
    size: taskSize(spec, at("cpu")),
    count,
    autoscaling: spec.autoscaling,
    port: spec.port,
    healthPath: spec.healthPath,
    envSource,
  };
}

/**
 * Slug apps run their Procfile's `release` (known once the release is read: the step
 * skips an app without one); image processes run `compute.release` if configured.
 */
function planReleases(config: Pick<FerryConfig, "source" | "target">, byName: Map<string, ProcessPlan>, slugApps: string[]): ReleasePlan[] {
  const releases: ReleasePlan[] = slugApps.map((app) => ({
    kind: "slug",
    app,
    // The task runs with the config vars and size of the app's first process.
    process: [...byName.values()].find((p) => p.code.kind === "slug" && p.code.app === app)!,
  }));
  const release = config.target.compute.release;
  if (release) {
    const process = byName.get(release.process);
    if (!process) throw new Error(`${key("release.process")}: "${release.process}" is not in ferry:target.compute.processes (${[...byName.keys()].join(", ")})`);
    if (process.code.kind !== "image") throw new Error(`${key("release")}: ${release.process} runs a Heroku slug, whose release phase is the Procfile's \`release\`; remove ferry:target.compute.release`);
    releases.push({ kind: "image", process, command: release.command });
  }
  return releases;
}
