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

/** Start the app and wait until it accepts connections; its output goes to `logFile`. */
export async function startAppProcess(config: AppConfig, logFile: string): Promise<AppProcess> {
  const log = createWriteStream(logFile, { flags: "a" });
  // Only the app's own variables plus PATH/HOME/NODE_EXTRA_CA_CERTS: the rehearsal's
  // other secrets (the other side's URLs) stay out of its environment.
  const base: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "NODE_EXTRA_CA_CERTS", "TMPDIR"]) if (process.env[k]) base[k] = process.env[k]!;
  const child: ChildProcess = spawn(process.execPath, ["--require", "tsx/cjs", APP_MAIN], {
    env: { ...base, ...appEnv(config) },
    stdio: ["ignore", "pipe", "pipe"],
    cwd: join(__dirname, ".."),
  });
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
