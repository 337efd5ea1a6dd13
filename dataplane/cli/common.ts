// Shared plumbing for every `ferry` sub-command: where connection URLs come from,
// how results are printed (--json for machines, text + progress bars for people),
// and how failures become a one-line reason and a non-zero exit code.
import { SingleBar, Presets } from "cli-progress";
import { InvalidArgumentError } from "commander";

/** An expected failure: printed as one line, exits with `exitCode`. */
export class FerryError extends Error {
  constructor(message: string, readonly exitCode = 1, readonly side?: Side) {
    super(message);
    this.name = "FerryError";
  }
}

/** The side of the move an error is about. */
export type Side = "source" | "target";

/**
 * The side a failure is about: the error's own, else the one side its message names
 * (`--source`, FERRY_TARGET_URL, "the source ..."); undefined when it names both or neither.
 */
export function sideOf(err: unknown, message: string): Side | undefined {
  if (err instanceof FerryError && err.side) return err.side;
  const source = /(\b|--|_)source\b|FERRY_SOURCE_/i.test(message);
  const target = /(\b|--|_)target\b|FERRY_TARGET_/i.test(message);
  return source === target ? undefined : source ? "source" : "target";
}

/**
 * How every failure is reported: `ferry: <reason>` on one line on stderr and, under
 * --json, the same as an object on stdout for the caller that parses it:
 * `{"error": reason, "side": "source"|"target" (when known), "exitCode": n}`.
 */
export function reportFailure(reason: string, exitCode: number, json: boolean, side?: Side): void {
  const oneLine = redact(reason).split("\n")[0].replace(/^ferry: /, "");
  process.stderr.write(`ferry: ${oneLine}\n`);
  // A command that printed its result (with the failure in it) keeps stdout one JSON document.
  if (json && !jsonEmitted) process.stdout.write(JSON.stringify({ error: oneLine, ...(side ? { side } : {}), exitCode }) + "\n");
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Options every command accepts. */
export interface GlobalOptions {
  json?: boolean;
}

/** Replace the password in any URL-looking substring, so errors never echo secrets. */
export function redact(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:@/\s]*:)([^@\s]+)@/gi, "$1***@");
}

/** The flag each URL resolveUrl handed out came from: a connection failure names its side by it. */
const URL_FLAGS = new Map<string, string>();

/** `--source` or `--target` for a URL this process took from that flag or its variable. */
export function flagOfUrl(url: string): string | undefined {
  return URL_FLAGS.get(url);
}

/**
 * A connection URL from its flag or, preferably, its environment variable. A URL
 * given on the command line is visible in the process list, so it draws a warning
 * when it carries a password.
 */
export function resolveUrl(
  fromFlag: string | undefined,
  envVar: string,
  flag: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const value = fromFlag ?? env[envVar];
  if (!value) {
    throw new FerryError(`missing ${flag}: pass ${flag} URL or set ${envVar}`, 2);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new FerryError(`${flag} is not a valid URL: ${redact(value)}`, 2);
  }
  if (fromFlag && parsed.password) {
    process.stderr.write(
      `ferry: warning: ${flag} carries a password that other users can read in the process list; set ${envVar} instead\n`,
    );
  }
  URL_FLAGS.set(value, flag);
  return value;
}

/** A byte count for people: 1536 -> "1.5 kB" (powers of 1024). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Whether the running command printed its JSON result already (then a failure adds no second object). */
let jsonEmitted = false;

/** A command run starts: a process (a test, the rehearsal) may run several in turn. */
export function newRun(): void {
  jsonEmitted = false;
}

/** Print a result: the object as JSON, or the human rendering. */
export function emit<T>(opts: GlobalOptions, result: T, human: (r: T) => string): void {
  if (opts.json) {
    jsonEmitted = true;
    process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  } else {
    const text = human(result);
    if (text) process.stdout.write(text.endsWith("\n") ? text : text + "\n");
  }
}

/** Whether the command an action runs for was given --json (commander passes the Command last). */
function wantsJson(args: unknown[]): boolean {
  const command = args[args.length - 1] as { optsWithGlobals?: () => GlobalOptions } | undefined;
  return typeof command?.optsWithGlobals === "function" && !!command.optsWithGlobals().json;
}

/**
 * Wrap a command action: any error becomes `ferry: <reason>` on one line with the
 * error's exit code (1 unless it says otherwise), and a JSON error object under --json;
 * secrets are redacted.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    newRun();
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === "number" ? code : 0;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const exitCode = err instanceof FerryError ? err.exitCode : 1;
      reportFailure(message, exitCode, wantsJson(args), sideOf(err, message));
      process.exitCode = exitCode;
    }
  };
}

/** What a long-running step reports progress through. */
export interface Progress {
  start(total: number, label: string): void;
  update(done: number, total?: number): void;
  stop(): void;
}

/**
 * Progress on stderr: a bar for a person at a terminal; otherwise (a pipe, a log, a step
 * inside `pulumi up`, --json) a line every FERRY_PROGRESS_SECONDS (default 10), so a long
 * copy shows it is moving wherever its stderr goes. stdout stays the result alone.
 */
export function progressBar(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Progress {
  if (opts.json || !process.stderr.isTTY) {
    const seconds = Number(env.FERRY_PROGRESS_SECONDS ?? 10);
    return progressLines((line) => process.stderr.write(line), (Number.isFinite(seconds) && seconds > 0 ? seconds : 10) * 1000);
  }
  const bar = new SingleBar(
    { stream: process.stderr, format: "{label} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted}", hideCursor: true },
    Presets.shades_classic,
  );
  let running = false;
  return {
    start(total, label) {
      bar.start(total, 0, { label });
      running = true;
    },
    update(done, total) {
      if (total !== undefined) bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

/** A callback for a step that reports done/total as it goes: `progress` starts on its first report. */
export function reportTo(progress: Progress, label: string): (done: number, total: number) => void {
  let started = false;
  return (done, total) => {
    if (!started) progress.start(total, label);
    started = true;
    progress.update(done, total);
  };
}

/**
 * Progress as lines: `ferry: <label>: done/total (pct%)` once `intervalMs` has passed since
 * the start or the last line, and a last line at stop when any was printed (a step that
 * ends within the interval prints nothing).
 */
export function progressLines(write: (line: string) => void, intervalMs: number, now: () => number = Date.now): Progress {
  let label = "";
  let done = 0;
  let total = 0;
  let last = 0;
  let printed = false;
  const line = () => `ferry: ${label}: ${done}/${total}${total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : ""}\n`;
  return {
    start(t, l) {
      [total, label, done, last, printed] = [t, l, 0, now(), false];
    },
    update(d, t) {
      done = d;
      if (t !== undefined) total = t;
      if (now() - last < intervalMs) return;
      last = now();
      printed = true;
      write(line());
    },
    stop() {
      if (printed) write(line());
      printed = false;
    },
  };
}

/** commander value parser: a whole number within [min, max], or one line naming the flag. */
export function integer(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** commander value parser for --sample: a percentage from 0 to 100. */
export function percentage(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError("--sample must be a percentage from 0 to 100");
  return n;
}
