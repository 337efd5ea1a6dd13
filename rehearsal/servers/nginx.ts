// A local nginx as a front door or an "old host": runs the given config with its
// pid, logs and temp paths in a temporary prefix directory.
import { spawn, ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, onExit, run, tempDir, waitFor, portOpen } from "./process";

export interface LocalNginx {
  prefix: string;
  confPath: string;
  /**
   * Replace the config: `nginx -t` first, then a graceful reload, resolved once the old
   * workers have finished their requests and exited, so the new config is the only one
   * serving (as a load balancer deregisters a target before the instance stops).
   */
  reload(conf: string): Promise<void>;
  stop(): Promise<void>;
}

/** Main-context lines that keep nginx inside `prefix` and in the foreground. */
export function nginxMainContext(prefix: string): string {
  return [
    isRoot() ? "user root;" : "",
    "daemon off;",
    "worker_processes 1;",
    `pid ${join(prefix, "nginx.pid")};`,
    `error_log ${join(prefix, "error.log")} warn;`,
  ].join("\n");
}

/** Temp paths for the http context, inside `prefix`. */
export function nginxHttpPaths(prefix: string): string {
  return ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((p) => `${p}_temp_path ${join(prefix, p)};`)
    .concat(`access_log ${join(prefix, "access.log")};`)
    .join("\n");
}

/**
 * Start nginx with a complete config. `conf(prefix)` returns the nginx.conf text
 * (use nginxMainContext / nginxHttpPaths); `waitPort` is a port it listens on.
 */
export async function startNginx(conf: (prefix: string) => string, waitPort: number, opts: { launcher?: string[] } = {}): Promise<LocalNginx> {
  const prefix = tempDir("nginx");
  const confPath = join(prefix, "nginx.conf");
  writeFileSync(confPath, conf(prefix));
  await run("nginx", ["-t", "-p", prefix, "-c", confPath]);
  // A launcher (e.g. `unshare` with a mount) execs nginx itself, so the pid is nginx's.
  const [cmd, ...args] = [...(opts.launcher ?? []), "nginx", "-p", prefix, "-c", confPath];
  const child: ChildProcess = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
  onExit(() => {
    if (child.exitCode === null) killNginxTree(child.pid!);
  });
  await waitFor(`nginx on port ${waitPort}`, () => portOpen(waitPort));
  return {
    prefix,
    confPath,
    reload: async (text: string) => {
      writeFileSync(confPath, text);
      await run("nginx", ["-t", "-p", prefix, "-c", confPath]);
      const oldWorkers = childPids(child.pid!);
      await run("nginx", ["-s", "reload", "-p", prefix, "-c", confPath]);
      await waitFor("nginx's old workers to finish after a reload", async () => !oldWorkers.some(alive), 20_000);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGQUIT");
      await exited;
    },
  };
}

/**
 * nginx's workers outlive a master killed with SIGKILL (re-parented to init, still
 * holding the port), and a running master respawns a killed worker. So on exit:
 * freeze the master, kill its workers, then the master. Synchronous, for exit hooks.
 */
function killNginxTree(master: number): void {
  const kill = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };
  kill(master, "SIGSTOP");
  for (const pid of childPids(master)) kill(pid, "SIGKILL");
  kill(master, "SIGKILL");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Process ids whose parent is `ppid`, from /proc (Linux). */
export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join("/proc", entry, "stat"), "utf8");
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === ppid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
