// Local servers (PostgreSQL, Redis, nginx) for the rehearsal and the test suites.
// Everything started here is stopped on exit, on Ctrl-C and on failure.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, chownSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "../../dataplane/cli/process";

// Shared with the data plane, which must not import this folder.
export { isRoot, run, waitFor } from "../../dataplane/cli/process";

const cleanups: Array<() => void> = [];
let hooked = false;

/** Run `fn` (synchronously) when the process exits, is interrupted, or crashes. */
export function onExit(fn: () => void): () => void {
  if (!hooked) {
    hooked = true;
    const runAll = () => {
      while (cleanups.length) {
        try {
          cleanups.pop()!();
        } catch {
          // keep cleaning up the rest
        }
      }
    };
    process.on("exit", runAll);
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(signal, () => {
        runAll();
        process.exit(130);
      });
    }
  }
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}


/** A temporary directory removed at exit; owned by `owner` when running as root. */
export function tempDir(prefix: string, owner?: { uid: number; gid: number }): string {
  const dir = mkdtempSync(join(tmpdir(), `ferry-${prefix}-`));
  if (owner && isRoot()) chownSync(dir, owner.uid, owner.gid);
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The rehearsal plays many machines on one. What serves the users (dynos, the tasks
 * behind the load balancer, the stores, the edge) keeps its normal priority; one-off
 * work that in production has a machine of its own (the runner's steps, release phases,
 * scheduled jobs) starts at this niceness, so it gets the CPU serving leaves idle. On 2
 * cores, four `ferry` and `aws` processes starting at once beside a Rails boot held a
 * source dyno's write past the load's 5 s timeout, which on separate machines they
 * could not.
 */
export const OFF_PATH_NICENESS = 10;

/** `argv`, started at OFF_PATH_NICENESS (the real nice(1), by path: a runner's PATH need not hold it). */
export function offServingPath(argv: string[]): string[] {
  return ["/usr/bin/nice", "-n", String(OFF_PATH_NICENESS), ...argv];
}

/**
 * A running server moved off the serving path, with every process it has started and will
 * start (they inherit its niceness): for a store the app no longer uses, which in
 * production is a machine of its own (a retired source the decommission backs up).
 */
export function moveOffServingPath(pid: number): void {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      setPriority(p, OFF_PATH_NICENESS);
    } catch {
      // exited meanwhile
    }
  }
}

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      children = children.concat(readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number));
    }
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** Is `cmd` on PATH (or an absolute path that exists)? */
export function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Does something accept TCP connections on 127.0.0.1:`port`? */
export function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.connect(port, host);
  });
}
