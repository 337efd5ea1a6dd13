// One rehearsal app as its own process (like a dyno or a systemd unit), so the
// source app can be stopped and the target app restarted with new variables, for real.
import { spawn, ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { AppConfig, appEnv } from "./app/config";
import { onExit, portOpen, waitFor } from "./servers";

const APP_MAIN = join(__dirname, "app", "main.ts");

export interface AppProcess {
  config: AppConfig;
  url: string;
  stop(): Promise<void>;
  running(): boolean;
}

/** Only PATH/HOME/NODE_EXTRA_CA_CERTS/TMPDIR of the rehearsal's own: its other secrets (the other side's URLs) stay out. */
function baseEnv(): Record<string, string> {
  const base: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "TMPDIR"]) if (process.env[k]) base[k] = process.env[k]!;
  return base;
}

/** Start the app and wait until it accepts connections; its output goes to `logFile`. */
export async function startAppProcess(config: AppConfig, logFile: string): Promise<AppProcess> {
  const child: ChildProcess = spawn(process.execPath, ["--require", "tsx/cjs", APP_MAIN], {
    env: { ...baseEnv(), ...appEnv(config) },
    stdio: ["ignore", "pipe", "pipe"],
    cwd: join(__dirname, ".."),
  });
  return supervise(child, config, logFile);
}

export interface SlugProcessOptions {
  /** The slug-run script to start it with (the repo's bin/slug-run, or the one a task definition ships). */
  slugRun: string;
  slug: string;
  processType: string;
  /** Where slug-run unpacks the slug (a fresh directory: a dyno starts from a fresh copy). */
  appDir: string;
  port: number;
  name: string;
  /** The process's environment: config vars and what the platform sets (DYNO, ...). */
  env: Record<string, string>;
  /** Serves HTTP on PORT (a web process). Workers answer on PORT too, for health checks. */
  http: boolean;
  /** What the process starts under (e.g. a mount namespace with the task's volumes in place). */
  launcher?: string[];
}

/** Start one process of a Heroku slug through bin/slug-run, as a dyno or an ECS task of the slug does. */
export async function startSlugProcess(o: SlugProcessOptions, logFile: string): Promise<AppProcess> {
  const [cmd, ...args] = [...(o.launcher ?? []), "/bin/sh", o.slugRun, o.slug, o.processType];
  const child: ChildProcess = spawn(cmd, args, {
    env: { ...baseEnv(), ...o.env, APP_DIR: o.appDir, PORT: String(o.port), APP_NAME: o.name },
    stdio: ["ignore", "pipe", "pipe"],
    cwd: "/",
  });
  const config = { port: o.port, name: o.name, databaseUrl: o.env.DATABASE_URL ?? "", redisUrl: o.env.REDIS_URL ?? "", schema: o.env.APP_SCHEMA ?? "public", worker: !o.http };
  return supervise(child, config, logFile);
}

/** Follow a started app: its output to `logFile`, killed at exit, ready once its port accepts connections. */
async function supervise(child: ChildProcess, config: AppConfig, logFile: string): Promise<AppProcess> {
  const log = createWriteStream(logFile, { flags: "a" });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let stderrTail = "";
  child.stderr!.on("data", (d) => (stderrTail = (stderrTail + d).slice(-400)));
  const running = () => child.exitCode === null && child.signalCode === null;
  const forget = onExit(() => {
    if (running()) child.kill("SIGKILL");
  });
  child.once("exit", () => {
    forget();
    log.end();
  });
  await waitFor(`${config.name} app on port ${config.port}`, async () => {
    if (!running()) throw new Error(`${config.name} app exited: ${stderrTail.trim().split("\n").pop() ?? "no output"}`);
    return portOpen(config.port);
  }, 30_000);
  return {
    config,
    url: `http://127.0.0.1:${config.port}`,
    running,
    stop: async () => {
      if (!running()) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
