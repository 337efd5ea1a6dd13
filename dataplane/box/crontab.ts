// A box's crontab as EventBridge Scheduler expressions, for `compute.schedules`.
// cron(5) fields are minute hour day-of-month month day-of-week; EventBridge's cron has
// a sixth (year), wants `?` in one of day-of-month / day-of-week, and numbers the days
// of the week 1-7 from Sunday where cron uses 0-7 with 0 and 7 both Sunday (EventBridge
// Scheduler User Guide, "Schedule types"; crontab(5)). What cannot be expressed (both day
// fields restricted, which cron ORs; @reboot) is reported, not guessed.

export interface CronJob {
  /** The EventBridge expression, e.g. cron(30 3 * * ? *). */
  schedule: string;
  command: string;
  line: number;
}

export interface CronSkip {
  line: number;
  text: string;
  why: string;
}

const SHORTHANDS: Record<string, string> = {
  "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
};

/** `*` + step becomes EventBridge's `start/step`; everything else passes through. */
function field(value: string, first: number): string {
  return value.startsWith("*/") ? `${first}/${value.slice(2)}` : value;
}

/** cron's day-of-week numbers (0-7, Sunday 0 and 7) as EventBridge's (1-7, Sunday 1). */
function dayOfWeek(value: string): string {
  if (value.startsWith("*/")) return `1/${value.slice(2)}`;
  return value.replace(/\d+/g, (n) => String((Number(n) % 7) + 1));
}

/** A user's crontab, or (`userField`) a system cron file such as /etc/cron.d/x, whose sixth field names the user. */
export function parseCrontab(text: string, userField = false): { jobs: CronJob[]; skipped: CronSkip[] } {
  const jobs: CronJob[] = [];
  const skipped: CronSkip[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const text = raw.trim();
    if (!text || text.startsWith("#")) return;
    // MAILTO=, PATH=, SHELL= set the environment of the jobs, not a job.
    if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) return;
    let spec: string[];
    let command: string;
    if (text.startsWith("@")) {
      const [word, ...rest] = text.split(/\s+/);
      if (!(word in SHORTHANDS)) {
        skipped.push({ line, text, why: word === "@reboot" ? "@reboot has no schedule: run it as part of the service instead" : `unknown shorthand ${word}` });
        return;
      }
      spec = SHORTHANDS[word].split(" ");
      command = (userField ? rest.slice(1) : rest).join(" ");
    } else {
      const parts = text.split(/\s+/);
      const before = userField ? 6 : 5;
      if (parts.length <= before) {
        skipped.push({ line, text, why: `fewer than five time fields${userField ? ", a user" : ""} and a command` });
        return;
      }
      spec = parts.slice(0, 5);
      command = text.replace(new RegExp(`^(\\S+\\s+){${before}}`), "");
    }
    const [minute, hour, dom, month, dow] = spec;
    if (dom !== "*" && dow !== "*") {
      skipped.push({ line, text, why: "day-of-month and day-of-week both restricted (cron runs on either; EventBridge cannot say that): split it into two schedules" });
      return;
    }
    const days = dow === "*" ? [field(dom, 1), "?"] : ["?", dayOfWeek(dow)];
    jobs.push({ schedule: `cron(${field(minute, 0)} ${field(hour, 0)} ${days[0]} ${field(month, 1)} ${days[1]} *)`, command, line });
  });
  return { jobs, skipped };
}

/** The jobs as `ferry:target.compute.schedules` entries (YAML flow maps), run with `process`'s code. */
export function schedulesYaml(jobs: CronJob[], process: string): string {
  return jobs.map((j, i) => `- { name: cron-${i + 1}, process: ${process}, command: ${JSON.stringify(j.command)}, schedule: "${j.schedule}" }`).join("\n");
}

// ---- switching the box's jobs off and on (the cutover moves them to EventBridge) -------

/** The mark ferry puts in front of a job line it switched off; `on` takes exactly it away. */
export const OFF_MARK = "#ferry-off# ";

/** One job line of a crontab: its number, its command, whether it is an @reboot. */
export interface JobLine {
  line: number;
  command: string;
  reboot: boolean;
}

/** Every job line (not a comment, a blank or a VAR= line), with its command as cron runs it. */
export function jobLines(text: string, userField = false): JobLine[] {
  return text.split("\n").flatMap((raw, i) => {
    const t = raw.trim();
    if (!t || t.startsWith("#") || /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(t)) return [];
    const fields = t.startsWith("@") ? 1 : 5;
    const command = t.replace(new RegExp(`^(\\S+\\s+){${fields + (userField ? 1 : 0)}}`), "");
    return [{ line: i + 1, command, reboot: t.startsWith("@reboot") }];
  });
}

export interface CrontabSwitch {
  /** The crontab with the switch applied. */
  text: string;
  /** Lines switched (their numbers): the same again on a rerun means nothing changed. */
  lines: number[];
}

/**
 * Every job line whose command is declared (the jobs that move to EventBridge) commented
 * out with OFF_MARK; @reboot lines stay (they run at boot only). A job line that is not
 * declared would stop on the box and run nowhere: refused (FerryError-free: the caller
 * words it), naming its line only (a command may carry a secret).
 */
export function switchJobsOff(text: string, declared: string[], userField = false): CrontabSwitch | { undeclared: number[] } {
  const jobs = jobLines(text, userField).filter((j) => !j.reboot);
  const undeclared = jobs.filter((j) => !declared.includes(j.command)).map((j) => j.line);
  if (undeclared.length) return { undeclared };
  const off = new Set(jobs.map((j) => j.line));
  const lines = text.split("\n").map((l, i) => (off.has(i + 1) ? `${OFF_MARK}${l}` : l));
  const already = text.split("\n").flatMap((l, i) => (l.startsWith(OFF_MARK) ? [i + 1] : []));
  return { text: lines.join("\n"), lines: [...already, ...off].sort((a, b) => a - b) };
}

/** The lines ferry switched off, back on (nothing else touched). */
export function switchJobsOn(text: string): CrontabSwitch {
  const lines: number[] = [];
  const restored = text.split("\n").map((l, i) => {
    if (!l.startsWith(OFF_MARK)) return l;
    lines.push(i + 1);
    return l.slice(OFF_MARK.length);
  });
  return { text: restored.join("\n"), lines };
}
