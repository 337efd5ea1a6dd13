// Shared plumbing for every `ferry` sub-command: where connection URLs come from,
// how results are printed (--json for machines, text + progress bars for people),
// and how failures become a one-line reason and a non-zero exit code.
import { SingleBar, Presets } from "cli-progress";
import { InvalidArgumentError } from "commander";

/** An expected failure: printed as one line, exits with `exitCode`. */
export class FerryError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "FerryError";
  }
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

/** Print a result: the object as JSON, or the human rendering. */
export function emit<T>(opts: GlobalOptions, result: T, human: (r: T) => string): void {
  if (opts.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  } else {
    const text = human(result);
    if (text) process.stdout.write(text.endsWith("\n") ? text : text + "\n");
  }
}

/**
 * Wrap a command action: any error becomes `ferry: <reason>` on one line with the
 * error's exit code (1 unless it says otherwise); secrets are redacted.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === "number" ? code : 0;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const oneLine = redact(message).split("\n")[0];
      process.stderr.write(`ferry: ${oneLine}\n`);
      process.exitCode = err instanceof FerryError ? err.exitCode : 1;
    }
  };
}

/** What a long-running step reports progress through. */
export interface Progress {
  start(total: number, label: string): void;
  update(done: number, total?: number): void;
  stop(): void;
}

/** A progress bar on stderr for people; silent for --json or when stderr is not a terminal. */
export function progressBar(opts: GlobalOptions): Progress {
  if (opts.json || !process.stderr.isTTY) {
    return { start() {}, update() {}, stop() {} };
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
