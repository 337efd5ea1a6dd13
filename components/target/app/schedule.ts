// Schedules: Heroku Scheduler's choices (every 10 minutes, every hour at :MM, every day
// at HH:MM; it has no documented API, so jobs come from configuration) and EventBridge
// Scheduler expressions, checked as the Scheduler API checks them (EventBridge Scheduler
// User Guide, "Schedule types": `rate(value unit)` with unit minute(s)/hour(s)/day(s),
// singular for 1; `cron(minutes hours day-of-month month day-of-week year)`, six fields,
// one of day-of-month and day-of-week must be `?`).

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.+)\)$/;

/** The EventBridge Scheduler expression for a config `schedule`; throws naming `key`. */
export function scheduleExpression(text: string, key: string): string {
  const s = text.trim();
  const heroku = herokuWords(s);
  if (heroku) return heroku;
  const rate = RATE.exec(s);
  if (rate) {
    const n = Number(rate[1]);
    const plural = rate[2].endsWith("s");
    if (n < 1) throw new Error(`${key}: a rate must be at least 1`);
    if ((n === 1) === plural) throw new Error(`${key}: EventBridge Scheduler wants "${n} ${n === 1 ? rate[2].replace(/s$/, "") : rate[2] + "s"}" (singular for 1, plural otherwise)`);
    return s;
  }
  const cron = CRON.exec(s);
  if (cron) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6) throw new Error(`${key}: a cron expression has six fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`);
    const [, , dayOfMonth, , dayOfWeek] = fields;
    if ((dayOfMonth === "?") === (dayOfWeek === "?")) throw new Error(`${key}: exactly one of day-of-month and day-of-week must be "?" in an EventBridge cron expression`);
    return `cron(${fields.join(" ")})`;
  }
  throw new Error(`${key}: expected "every 10 minutes", "hourly at :MM", "daily at HH:MM", rate(...) or cron(...), got ${JSON.stringify(text)}`);
}

/** Heroku Scheduler's three frequencies as EventBridge expressions, or undefined. */
function herokuWords(s: string): string | undefined {
  if (s === "every 10 minutes") return "rate(10 minutes)";
  const hourly = /^hourly at :(\d\d)$/.exec(s);
  if (hourly && Number(hourly[1]) < 60) return `cron(${Number(hourly[1])} * * * ? *)`;
  const daily = /^daily at (\d\d):(\d\d)$/.exec(s);
  if (daily && Number(daily[1]) < 24 && Number(daily[2]) < 60) return `cron(${Number(daily[2])} ${Number(daily[1])} * * ? *)`;
  return undefined;
}
