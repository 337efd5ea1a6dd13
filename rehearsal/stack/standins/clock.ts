// Scheduled jobs in the rehearsal: one clock that every side's scheduler reads, and the
// log of every run. Real schedules fire every ten minutes or once a day; a rehearsal lasts
// minutes, so the clock is compressed: 1 real second is 1 scheduled minute (no faster: each
// run of a Rails job boots Rails, seconds of CPU on a 2-core machine, and at 2 scheduled
// minutes a second those boots starved the app's own requests past the load's timeout),
// from 03:00 UTC, so the example stacks' daily jobs (03:30, 04:15) come round within the
// first two minutes of the run. Each side runs what it would run at each
// scheduled minute:
//   - Heroku Scheduler (standins/heroku.ts): while an app has a Scheduler add-on, the
//     stack's declared jobs of that app, as one-off dynos, whatever the maintenance mode
//     or the formation (Scheduler starts one-off dynos itself);
//   - the box's cron (standins/box.ts): the crontab's lines that are not commented out;
//   - EventBridge Scheduler (standins/cloud.ts): every ENABLED schedule, as an ECS task.
// A run is logged with its job, its slot (the scheduled minute, UTC), its side and its exit
// code (`scheduled-runs.jsonl` in the logs folder); the check is that no (job, slot) ran
// on two sides. An exit code other than 0 is recorded as it is, not judged: the check is
// about where a job runs, not whether the app's command succeeds.
//
// When an expression fires (EventBridge Scheduler User Guide, "Schedule types on
// EventBridge Scheduler": https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):
// cron(minutes hours day-of-month month day-of-week year) in the schedule's time zone,
// day-of-week 1-7 from Sunday or SUN-SAT, `?` for "any", `*`, lists, ranges, `a/b` steps;
// rate(N minutes|hours|days). A rate runs every N units from when the schedule is created;
// here every side counts them from the Unix epoch instead, so one job's slots are the same
// minutes on every side (a rehearsal-only simplification, stated in docs/rehearsal.md).
import { spawn } from "node:child_process";
import { appendFileSync, createWriteStream, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { offServingPath, onExit, tempDir } from "../../servers";

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // already gone
  }
}

export const CLOCK_START = Date.UTC(2026, 0, 1, 3, 0);
/** Real milliseconds per scheduled minute: 1 real second = 1 scheduled minute. */
export const MS_PER_SCHEDULED_MINUTE = 1000;
export const RUNS_FILE = "scheduled-runs.jsonl";

export type Side = "heroku" | "box" | "aws";

export interface ScheduledRun {
  job: string;
  /** The scheduled minute, e.g. 2026-01-01T03:30Z. */
  slot: string;
  side: Side;
  exitCode: number | null;
}

type Listener = (slot: Date) => void;

/** The shared compressed clock: each scheduled minute is announced once, in order. */
export class ScheduleClock {
  private readonly listeners: Listener[] = [];
  private timer?: NodeJS.Timeout;
  private startedAt = 0;
  private next = 0;

  constructor(private readonly logsDir: string, private readonly log: (line: string) => void = () => undefined) {}

  onMinute(listener: Listener): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.tick(), MS_PER_SCHEDULED_MINUTE / 2);
    this.log(`  the schedulers' clock: 1 real second = 1 scheduled minute, from ${new Date(CLOCK_START).toISOString()}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const due = Math.floor((Date.now() - this.startedAt) / MS_PER_SCHEDULED_MINUTE);
    for (; this.next <= due; this.next++) {
      const slot = new Date(CLOCK_START + this.next * 60_000);
      for (const l of this.listeners) {
        try {
          l(slot);
        } catch (e) {
          this.log(`      scheduler: ${(e as Error).message}`);
        }
      }
    }
  }

  /** Run one job: `command` through bin/slug-run in a fresh app dir, its exit code logged with its job, slot and side. */
  runSlugCommand(run: { job: string; slot: Date; side: Side; slugRun: string; slug: string; command: string; env: Record<string, string>; dyno: string; launcher?: string[] }): void {
    const appDir = join(tempDir(`job-${run.side}`), "app");
    const base = Object.fromEntries(["PATH", "HOME", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "TMPDIR"].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));
    // A one-off: a machine of its own in production (offServingPath).
    const [cmd, ...args] = offServingPath([...(run.launcher ?? []), "/bin/sh", run.slugRun, run.slug, "scheduler"]);
    const child = spawn(cmd, args, {
      env: { ...base, ...run.env, SLUG_COMMAND: run.command, APP_DIR: appDir, DYNO: run.dyno },
      stdio: ["ignore", "pipe", "pipe"],
      cwd: "/",
      // A process group of its own, ended with the rehearsal: a run still booting Rails when
      // the rehearsal stops would otherwise outlive it (slug-run's shell exits, its job stays).
      detached: true,
    });
    const removeHook = onExit(() => killGroup(child.pid!));
    const out = createWriteStream(join(this.logsDir, `scheduled-${run.side}.log`), { flags: "a" });
    out.write(`== ${run.job} at ${slotName(run.slot)} on ${run.side}\n`);
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on("close", (code) => {
      removeHook();
      out.end();
      this.record({ job: run.job, slot: slotName(run.slot), side: run.side, exitCode: code });
    });
  }

  record(run: ScheduledRun): void {
    appendFileSync(join(this.logsDir, RUNS_FILE), `${JSON.stringify(run)}\n`);
  }
}

export const slotName = (d: Date) => `${d.toISOString().slice(0, 16)}Z`;

/** The runs every side logged. */
export function scheduledRuns(logsDir: string): ScheduledRun[] {
  const file = join(logsDir, RUNS_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as ScheduledRun);
}

// ---- when an expression fires ---------------------------------------------------------

const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

const formats = new Map<string, Intl.DateTimeFormat>();

/** The minute, hour, day, month, weekday (1-7 from Sunday) and year of `at` in `timeZone`. */
function fieldsIn(at: Date, timeZone: string): { minute: number; hour: number; day: number; month: number; weekday: number; year: number } {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", weekday: "short" });
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    minute: Number(parts.minute), hour: Number(parts.hour), day: Number(parts.day), month: Number(parts.month),
    weekday: DAYS.indexOf(String(parts.weekday).toUpperCase().slice(0, 3)) + 1, year: Number(parts.year),
  };
}

/** One cron field against a value: `*`, `?`, N, a-b, a/b, a-b/c, lists; names (SUN, JAN) where given. */
function fieldMatches(field: string, value: number, names: string[] = [], first = 0): boolean {
  const num = (t: string) => (names.includes(t.toUpperCase()) ? names.indexOf(t.toUpperCase()) + first : Number(t));
  return field.split(",").some((part) => {
    if (part === "*" || part === "?") return true;
    const [range, step] = part.split("/");
    const [lo, hi] = range === "*" ? [first, Number.MAX_SAFE_INTEGER] : range.includes("-") ? range.split("-").map(num) : [num(range), step ? Number.MAX_SAFE_INTEGER : num(range)];
    if (value < lo || value > hi) return false;
    return step ? (value - lo) % Number(step) === 0 : true;
  });
}

/** Whether an EventBridge Scheduler expression fires at the minute `at` (see above). */
export function fires(expression: string, timeZone: string, at: Date): boolean {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const unit = rate[2].startsWith("minute") ? 1 : rate[2].startsWith("hour") ? 60 : 1440;
    return Math.floor(at.getTime() / 60_000) % (Number(rate[1]) * unit) === 0;
  }
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (!cron) return false;
  const [minute, hour, dom, month, dow, year] = cron[1].trim().split(/\s+/);
  const f = fieldsIn(at, timeZone);
  return fieldMatches(minute, f.minute) && fieldMatches(hour, f.hour) && fieldMatches(dom, f.day, [], 1)
    && fieldMatches(month, f.month, MONTHS, 1) && fieldMatches(dow, f.weekday, DAYS, 1) && fieldMatches(year ?? "*", f.year);
}
