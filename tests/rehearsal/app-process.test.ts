// How each platform stops an app process, as the stand-ins model it (app-process.ts): a
// dyno's and a unit's processes all get SIGTERM; an ECS task's main process alone gets it,
// as PID 1 of its container, which ignores a signal it has no handler for (a shell that
// did not exec its command): the app behind it is killed at the end of the grace period
// without its graceful shutdown.
import { describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Platform, startProcess } from "../../rehearsal/app-process";
import { tempDir } from "../../rehearsal/servers";
import { eventually } from "../support/eventually";

/** A process that says when it started and when it shut down gracefully on SIGTERM. */
const APP = `node -e 'process.on("SIGTERM", () => { console.log("graceful shutdown"); process.exit(0); }); console.log("started"); setInterval(() => {}, 1000)'`;

async function stopped(platform: Platform, command: string): Promise<{ log: string; exit: { code: number | null; signal: NodeJS.Signals | null } }> {
  const dir = tempDir("app-process");
  const logFile = join(dir, "app.log");
  const p = await startProcess({ name: "app", platform, launch: { kind: "unit", appDir: dir, command }, env: {}, logFile });
  await eventually("the app to start", () => readFileSync(logFile, "utf8").includes("started"));
  await p.stop();
  const exit = await p.exited;
  return { log: readFileSync(logFile, "utf8"), exit };
}

describe("stopping an app process as its platform does", { timeout: 120_000 }, () => {
  test("Heroku: SIGTERM to every process of the dyno, so the app behind a shell shuts down gracefully", async () => {
    const { log } = await stopped("heroku", APP);
    expect(log).toContain("graceful shutdown");
  });

  test("a systemd unit: SIGTERM to the unit's control group, the same", async () => {
    const { log } = await stopped("box", APP);
    expect(log).toContain("graceful shutdown");
  });

  test("ECS: SIGTERM to the container's PID 1 only; a shell as PID 1 ignores it, and the app is killed at the end of the grace period", async () => {
    const { log, exit } = await stopped("ecs", APP);
    expect(log).not.toContain("graceful shutdown");
    expect(exit.signal).toBe("SIGKILL");
  });

  test("ECS: an app that is PID 1 itself (the command exec'd) gets SIGTERM and shuts down gracefully", async () => {
    const { log, exit } = await stopped("ecs", `exec ${APP}`);
    expect(log).toContain("graceful shutdown");
    expect(exit.code).toBe(0);
  });
});
