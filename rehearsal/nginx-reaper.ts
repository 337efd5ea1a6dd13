// nginx's worker processes outlive a master killed with SIGKILL (they are re-parented
// to init and keep the port). On Ctrl-C or a failure, the rehearsal's nginx servers
// (front door, old host) must go entirely: this exit hook kills the workers of the
// master in `prefix`/nginx.pid, by process id, then the master.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { onExit } from "./servers";

/** Process ids whose parent is `ppid`, from /proc (Linux). */
export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join("/proc", entry, "stat"), "utf8");
      // pid (comm) state ppid ...; comm may contain spaces, so parse after the last ')'
      const ppidField = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppidField === ppid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

export function reapNginxOnExit(prefix: string): void {
  onExit(() => {
    let master: number;
    try {
      master = Number(readFileSync(join(prefix, "nginx.pid"), "utf8").trim());
    } catch {
      return; // never started, or stopped cleanly (nginx removes its pid file)
    }
    if (!master) return;
    // Freeze the master first: a running master respawns a killed worker, which would
    // then outlive it. Then the workers, then the master.
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
  });
}
