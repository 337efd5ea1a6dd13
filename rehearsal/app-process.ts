// One process of the rehearsal app, started the way its platform starts it, and stopped
// the way its platform stops it:
//   - a Heroku dyno: `bin/slug-run SLUG TYPE` in a fresh copy of the slug; to stop it,
//     SIGTERM to every process of the dyno, SIGKILL to what is left after the grace period
//     (Dev Center, "Dynos and the Dyno Manager": "SIGTERM ... sent to all processes in the
//     dyno"; https://devcenter.heroku.com/articles/dyno-shutdown-behavior);
//   - an ECS task: the same slug-run, as its container's main process in a PID namespace of
//     its own (PID 1, as in a container: a signal it has no handler for is not delivered);
//     to stop it, SIGTERM to PID 1 only, SIGKILL to everything after the task definition's
//     stopTimeout (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#container_definition_timeout);
//   - a systemd unit on the box: its command in the box's app tree with the unit's
//     environment file; to stop it, SIGTERM to every process of the unit's control group,
//     SIGKILL after TimeoutStopSec (systemd.kill(5), KillMode=control-group).
// The grace periods run at a third of the real ones (a stated rehearsal time factor: each
// real one is in GRACE_MS's comment).
import { spawn, ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { offServingPath, onExit, portOpen, waitFor } from "./servers";

export type Platform = "heroku" | "ecs" | "box";

/** How long each platform waits between SIGTERM and SIGKILL, in the rehearsal (a third of the real one). */
export const GRACE_MS: Record<Platform, number> = {
  // Heroku: 30 s.
  heroku: 10_000,
  // ECS: the container's stopTimeout, 30 s in the program's task definitions (containers.ts).
  ecs: 10_000,
  // Mastodon's units: TimeoutStopSec=15 (dist/mastodon-*.service).
  box: 5_000,
};

export interface AppProcess {
  name: string;
  /** The HTTP port, for processes that serve. */
  port?: number;
  stop(): Promise<void>;
  running(): boolean;
  /** Resolves when the main process exits, with its exit code or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export type Launch =
  /** `slug-run SLUG TYPE` (a dyno, a task); `command` is a one-off's command instead of the Procfile's (SLUG_COMMAND). */
  | { kind: "slug"; slugRun: string; slug: string; processType: string; command?: string; appDir: string; launcher?: string[] }
  /** A systemd unit's ExecStart, run by /bin/sh in the box's app tree. */
  | { kind: "unit"; appDir: string; command: string }
  /** A container whose image stands for this machine (ecs.ts's machine images): its declared `/bin/sh -c` command, under the task's launcher. */
  | { kind: "image"; command: string; launcher: string[] };

export interface AppProcessOptions {
  name: string;
  platform: Platform;
  launch: Launch;
  /** The whole environment of the process: config vars, and what the platform sets. */
  env: Record<string, string>;
  /** Serves HTTP on this port: started once it accepts connections. */
  port?: number;
  logFile: string;
  /** A one-off (a release phase, a scheduled task): its own machine in production, so off the serving path here (offServingPath). */
  oneOff?: boolean;
}

/** What every process has from this machine: its PATH, never the rehearsal's own variables (the other side's URLs). */
function machineEnv(): Record<string, string> {
  const base: Record<string, string> = {};
  for (const k of ["PATH", "TMPDIR", "LANG"]) if (process.env[k]) base[k] = process.env[k]!;
  return base;
}

function argv(o: AppProcessOptions): string[] {
  const l = o.launch;
  // A task's launcher (its volumes mounted where its containers see them) execs the command.
  const command = l.kind === "slug" ? [...(l.launcher ?? []), "/bin/sh", l.slugRun, l.slug, l.processType]
    : l.kind === "image" ? [...l.launcher, "/bin/sh", "-c", l.command] : ["/bin/sh", "-c", l.command];
  // A container's main process is PID 1 of its own PID namespace, with its own /proc (what
  // the app reads of itself there, Sidekiq its memory, is its own); root only, as the rehearsal runs.
  const started = o.platform === "ecs" ? ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--", ...command] : command;
  return o.oneOff ? offServingPath(started) : started;
}

function environment(o: AppProcessOptions): Record<string, string> {
  const l = o.launch;
  const env = { ...machineEnv(), ...o.env, ...(o.port !== undefined ? { PORT: String(o.port) } : {}) };
  if (l.kind === "slug") return { ...env, APP_DIR: l.appDir, ...(l.command ? { SLUG_COMMAND: l.command } : {}) };
  if (l.kind === "image") return env;
  return { ...env, HOME: l.appDir };
}

/** The PID namespace's init (the container's main process): unshare's only child. */
function containerInit(unsharePid: number): number | undefined {
  const file = `/proc/${unsharePid}/task/${unsharePid}/children`;
  if (!existsSync(file)) return undefined;
  const child = readFileSync(file, "utf8").trim().split(/\s+/)[0];
  return child ? Number(child) : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether any process of the group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Start one app process and wait until it serves (HTTP) or has started (the others). */
export async function startProcess(o: AppProcessOptions): Promise<AppProcess> {
  const [cmd, ...args] = argv(o);
  const child: ChildProcess = spawn(cmd, args, {
    env: environment(o),
    stdio: ["ignore", "pipe", "pipe"],
    cwd: o.launch.kind === "unit" ? o.launch.appDir : "/",
    // Its own process group: the dyno's or the unit's processes, signalled together.
    detached: true,
  });
  const log = createWriteStream(o.logFile, { flags: "a" });
  const tag = (chunk: Buffer) => chunk.toString().split("\n").filter(Boolean).map((l) => `${o.name}: ${l}\n`).join("");
  child.stdout!.on("data", (d: Buffer) => log.write(tag(d)));
  child.stderr!.on("data", (d: Buffer) => log.write(tag(d)));
  let stderrTail = "";
  child.stderr!.on("data", (d) => (stderrTail = (stderrTail + d).slice(-600)));
  const running = () => child.exitCode === null && child.signalCode === null;
  const killAll = () => signal(-child.pid!, "SIGKILL");
  // Whatever is left of the group at the rehearsal's end (a dyno's orphans too).
  onExit(killAll);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, sig) => r({ code, signal: sig })));
  // The log ends once every process of the group closed its output (a dyno's or a unit's
  // processes may outlive the main one while they shut down).
  const flushed = new Promise<void>((r) => log.once("finish", () => r()));
  child.once("close", () => log.end());
  if (o.port !== undefined) {
    const port = o.port;
    // A Rails boot takes a few seconds of CPU; on a loaded machine, more.
    await waitFor(`${o.name} on port ${port}`, async () => {
      if (!running()) throw new Error(`${o.name} exited: ${stderrTail.trim().split("\n").pop() ?? "no output"}`);
      return portOpen(port);
    }, 120_000);
  }
  return {
    name: o.name,
    port: o.port,
    running,
    exited,
    stop: async () => {
      // Exited already: its output may still be on its way to the log.
      if (!running() && !groupAlive(child.pid!)) return flushed;
      const deadline = Date.now() + GRACE_MS[o.platform];
      if (o.platform === "ecs") {
        // The container lives as long as its main process: when it exits, the kernel ends the rest.
        const init = containerInit(child.pid!);
        if (init !== undefined) signal(init, "SIGTERM");
        await Promise.race([exited, sleep(GRACE_MS.ecs)]);
      } else {
        signal(-child.pid!, "SIGTERM");
        while (groupAlive(child.pid!) && Date.now() < deadline) await sleep(100);
      }
      killAll();
      await exited;
      await flushed;
    },
  };
}
