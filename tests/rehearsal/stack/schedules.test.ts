// The schedulers' stand-ins share one compressed clock (rehearsal/stack/standins/clock.ts):
// when an EventBridge expression fires (the rule every side uses), the crontab line a box
// has for a declared job, and the check that no scheduled tick ran on two sides.
import { describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../rehearsal/servers";
import { fires } from "../../../rehearsal/stack/standins/clock";
import { crontabTime } from "../../../rehearsal/stack/standins/box";
import { parseCrontab } from "../../../dataplane/box/crontab";
import { scheduledTicksCheck } from "../../../rehearsal/checks";

const at = (iso: string) => new Date(iso);

describe("when an EventBridge Scheduler expression fires", () => {
  test("rates count whole units from the epoch; cron fields in the schedule's time zone, Sunday is 1", () => {
    expect(["03:00", "03:05", "03:10", "03:20"].map((t) => fires("rate(10 minutes)", "UTC", at(`2026-01-01T${t}:00Z`)))).toEqual([true, false, true, true]);
    expect(fires("rate(1 hour)", "UTC", at("2026-01-01T04:00:00Z"))).toBe(true);
    expect(fires("rate(1 hour)", "UTC", at("2026-01-01T04:10:00Z"))).toBe(false);
    expect(fires("cron(30 3 * * ? *)", "UTC", at("2026-01-01T03:30:00Z"))).toBe(true);
    expect(fires("cron(30 3 * * ? *)", "UTC", at("2026-01-01T03:31:00Z"))).toBe(false);
    // 03:30 in Berlin is 02:30 UTC in January.
    expect(fires("cron(30 3 * * ? *)", "Europe/Berlin", at("2026-01-01T02:30:00Z"))).toBe(true);
    expect(fires("cron(30 3 * * ? *)", "Europe/Berlin", at("2026-01-01T03:30:00Z"))).toBe(false);
    expect(["00", "15", "20", "45"].map((m) => fires("cron(0/15 * * * ? *)", "UTC", at(`2026-01-01T05:${m}:00Z`)))).toEqual([true, true, false, true]);
    // 2026-01-04 is a Sunday: day-of-week 1 (or SUN); 2-6 are the weekdays.
    expect(fires("cron(0 4 ? * 1 *)", "UTC", at("2026-01-04T04:00:00Z"))).toBe(true);
    expect(fires("cron(0 4 ? * SUN *)", "UTC", at("2026-01-04T04:00:00Z"))).toBe(true);
    expect(fires("cron(0 4 ? * 2-6 *)", "UTC", at("2026-01-04T04:00:00Z"))).toBe(false);
    expect(fires("cron(0 4 ? * 2-6 *)", "UTC", at("2026-01-05T04:00:00Z"))).toBe(true);
  });

  test("a box's crontab line for a declared job fires at the same minutes as the job's schedule", () => {
    for (const expression of ["rate(10 minutes)", "cron(30 3 * * ? *)", "cron(15 4 * * ? *)", "cron(0 4 ? * 1 *)", "cron(0/15 * * * ? *)"]) {
      const line = `${crontabTime(expression)} bin/job`;
      const [job] = parseCrontab(line).jobs;
      for (let m = 0; m < 7 * 24 * 60; m += 5) {
        const t = new Date(Date.UTC(2026, 0, 1) + m * 60_000);
        if (fires(job.schedule, "UTC", t) !== fires(expression, "UTC", t)) throw new Error(`${expression} as "${line}" differs at ${t.toISOString()}`);
      }
    }
    expect(crontabTime("cron(0 4 ? * 1 *)")).toBe("0 4 * * 0");
  });
});

describe("no scheduled tick ran on both sides", () => {
  const run = (job: string, slot: string, side: string, exitCode: number | null = 0) => ({ job, slot, side, exitCode });

  test("one side per job and minute passes, whatever the app's exit codes", () => {
    const r = scheduledTicksCheck([run("trends", "2026-01-01T03:00Z", "heroku", 127), run("trends", "2026-01-01T03:10Z", "aws", 1), run("media", "2026-01-01T03:30Z", "heroku")], 2);
    expect(r.ok).toBe(true);
    expect(r.detail).toBe("3 run(s) (heroku 2, aws 1; 2 exited non-zero)");
  });

  test("the same job and minute on two sides fails, naming them", () => {
    const r = scheduledTicksCheck([run("trends", "2026-01-01T03:00Z", "heroku"), run("trends", "2026-01-01T03:00Z", "aws"), run("media", "2026-01-01T03:00Z", "box")], 2);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/on two sides: trends at 2026-01-01T03:00Z on heroku and aws$/);
  });

  test("declared jobs that never ran on any side prove nothing", () => {
    expect(scheduledTicksCheck([], 2)).toMatchObject({ ok: false, detail: "2 job(s) declared but no run on any side: nothing shows where they ran" });
    expect(scheduledTicksCheck([], 0).ok).toBe(true);
  });
});

describe("a scheduled run ends with the rehearsal", () => {
  test("a job still running when the rehearsal exits is killed with it, not left behind", () => {
    // A slug-run whose job outlives its shell, as a run still booting Rails when the rehearsal stopped.
    const dir = tempDir("clock-exit");
    // A sleep of its own length: the one process of this test pgrep can name.
    const marker = `sleep 300.${process.pid}`;
    writeFileSync(join(dir, "slug-run"), `#!/bin/sh\n${marker} &\nsleep 1\n`, { mode: 0o755 });
    const script = `
      const { ScheduleClock } = require(${JSON.stringify(join(__dirname, "../../../rehearsal/stack/standins/clock"))});
      new ScheduleClock(${JSON.stringify(dir)}).runSlugCommand({ job: "j", slot: new Date(), side: "heroku", slugRun: ${JSON.stringify(join(dir, "slug-run"))}, slug: "-", command: "-", env: {}, dyno: "scheduler.1" });
      setTimeout(() => process.exit(0), 2500);
    `;
    const rehearsal = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { cwd: join(__dirname, "../../.."), encoding: "utf8" });
    expect(rehearsal.status, rehearsal.stderr).toBe(0);
    const left = spawnSync("pgrep", ["-f", marker], { encoding: "utf8" }).stdout.trim();
    if (left) spawnSync("pkill", ["-f", marker]);
    expect(left).toBe("");
  });
});
