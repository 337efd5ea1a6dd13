// The connection between the two sides, as a forwarder process the test can cut
// (kill -9: open connections drop, new ones are refused) and restore on the same port.
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { freePort, onExit } from "../../rehearsal/servers";

export interface Link {
  /** The port the near side connects to instead of the far side's. */
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

const SCRIPT = path.join(__dirname, "tcp-forward.ts");

function startForwarder(listen: number, target: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, String(listen), String(target)], { stdio: ["ignore", "pipe", "inherit"] });
    onExit(() => child.kill("SIGKILL"));
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`forwarder exited (${code}) before listening on ${listen}`)));
    child.stdout!.once("data", () => resolve(child));
  });
}

export async function link(targetPort: number): Promise<Link> {
  const port = await freePort();
  let child: ChildProcess | undefined = await startForwarder(port, targetPort);
  return {
    port,
    async cut() {
      const dying = child;
      child = undefined;
      if (!dying || dying.exitCode !== null) return;
      dying.removeAllListeners("exit"); // the start-up listener would treat this exit as a failure
      const exited = new Promise((r) => dying.once("exit", r));
      dying.kill("SIGKILL");
      await exited;
    },
    async restore() {
      if (!child) child = await startForwarder(port, targetPort);
    },
  };
}

/** `url` with its port replaced (to go through a link). */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}
