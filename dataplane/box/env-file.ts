// One variable of a box's env file (dotenv syntax, as Mastodon's .env.production and
// systemd's EnvironmentFile= read it) set to a new value, and put back as it was. Pure:
// the lines that defined the variable before are returned, to be kept on the box for the
// way back; nothing else in the file changes.
import { FerryError } from "../cli/common";

/** A line that defines `name`: `NAME=...` or `export NAME=...`, leading blanks allowed. */
function defines(line: string, name: string): boolean {
  return new RegExp(`^\\s*(export\\s+)?${name}\\s*=`).test(line);
}

/**
 * The value single-quoted: neither dotenv (Node's parseEnv, Ruby's dotenv) nor systemd
 * expands anything inside single quotes. A value that holds a quote or a line break is
 * refused rather than written in a form one of them would read differently.
 */
export function quoteEnvValue(value: string, name: string): string {
  if (/['\n\r]/.test(value)) throw new FerryError(`--from-env: the value for ${name} holds a single quote or a line break, which an env file cannot carry unchanged to every reader`, 2);
  return `'${value}'`;
}

export interface SetResult {
  text: string;
  /** The lines that defined the variable before (none: it was not set). */
  previous: string[];
}

function lines(text: string): string[] {
  const all = text.split("\n");
  return all[all.length - 1] === "" ? all.slice(0, -1) : all;
}

function joinLines(all: string[]): string {
  return all.length === 0 ? "" : `${all.join("\n")}\n`;
}

/** `name` set to `value`: its first defining line replaced (keeping `export`), any later one dropped; appended when absent. */
export function setEnvVar(text: string, name: string, value: string): SetResult {
  const all = lines(text);
  const previous = all.filter((l) => defines(l, name));
  const first = all.findIndex((l) => defines(l, name));
  const line = `${first >= 0 && /^\s*export\s/.test(all[first]) ? "export " : ""}${name}=${quoteEnvValue(value, name)}`;
  if (first < 0) return { text: joinLines([...all, line]), previous };
  const out = all.flatMap((l, i) => (i === first ? [line] : defines(l, name) ? [] : [l]));
  return { text: joinLines(out), previous };
}

/** The way back: the lines that define `name` now replaced by `previous`, where the first of them stands (none: the variable goes). */
export function restoreEnvVar(text: string, name: string, previous: string[]): string {
  const all = lines(text);
  const first = all.findIndex((l) => defines(l, name));
  if (first < 0) return joinLines([...all, ...previous]);
  const out = all.flatMap((l, i) => (i === first ? previous : defines(l, name) ? [] : [l]));
  return joinLines(out);
}
