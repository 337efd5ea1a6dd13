// Parsing the positional words of `ferry heroku config set|unset` and `ferry heroku
// scale` into API requests. Each bad word is a one-line error (exit 2) that names it;
// a config VALUE is never echoed, since it may be a secret.
import { FerryError } from "../cli/common";
import { ConfigVarsPatch, FormationUpdate } from "./types";

const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PROCESS_TYPE = /^[A-Za-z0-9_-]+$/;
/** Names that usually hold secrets: passing their values in argv shows them to every local user. */
const SECRET_LOOKING = /(URL|KEY|SECRET|TOKEN|PASS|PASSWORD|CREDENTIAL)/i;

function bad(message: string): never {
  throw new FerryError(message, 2);
}

function configKey(key: string, where: string): string {
  if (!CONFIG_KEY.test(key)) bad(`${where}: ${JSON.stringify(key)} is not a config var name (letters, digits, _; not starting with a digit)`);
  return key;
}

/** `KEY=VALUE` words (VALUE may contain '=' and may be empty). */
export function parseAssignments(words: string[]): { patch: ConfigVarsPatch; secretLooking: string[] } {
  const patch: ConfigVarsPatch = {};
  const secretLooking: string[] = [];
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq <= 0) bad(`config set: expected KEY=VALUE, got a word without '=' (${JSON.stringify(word.slice(0, 40).split("=")[0])})`);
    const key = configKey(word.slice(0, eq), "config set");
    if (key in patch) bad(`config set: ${key} is given twice`);
    patch[key] = word.slice(eq + 1);
    if (SECRET_LOOKING.test(key)) secretLooking.push(key);
  }
  return { patch, secretLooking };
}

/** `--from-env KEY=ENV_VAR`: the value comes from the environment, never from argv. */
export function parseFromEnv(specs: string[], env: NodeJS.ProcessEnv = process.env): ConfigVarsPatch {
  const patch: ConfigVarsPatch = {};
  for (const spec of specs) {
    const m = /^([^=]+)=([^=]+)$/.exec(spec);
    if (!m) bad(`--from-env expects KEY=ENV_VAR, got ${JSON.stringify(spec)}`);
    const key = configKey(m[1], "--from-env");
    const value = env[m[2]];
    if (value === undefined) bad(`--from-env ${key}=${m[2]}: environment variable ${m[2]} is not set`);
    if (key in patch) bad(`--from-env: ${key} is given twice`);
    patch[key] = value;
  }
  return patch;
}

/** `config unset KEY...` -> {KEY: null}: Heroku deletes a var patched to null. */
export function parseUnset(words: string[]): ConfigVarsPatch {
  if (words.length === 0) bad("config unset: name at least one KEY");
  return Object.fromEntries(words.map((w) => [configKey(w, "config unset"), null]));
}

/** `TYPE=N[:SIZE]` words, e.g. web=2:standard-1X worker=0. */
export function parseScale(words: string[]): FormationUpdate[] {
  if (words.length === 0) bad("scale: give at least one TYPE=N[:SIZE] (e.g. web=2:standard-1X)");
  const seen = new Set<string>();
  return words.map((word) => {
    const m = /^([^=]+)=(\d+)?(?::([A-Za-z0-9-]+))?$/.exec(word);
    if (!m || (m[2] === undefined && m[3] === undefined)) bad(`scale: expected TYPE=N[:SIZE] (e.g. web=2:standard-1X), got ${JSON.stringify(word)}`);
    if (!PROCESS_TYPE.test(m[1])) bad(`scale: ${JSON.stringify(m[1])} is not a process type`);
    if (seen.has(m[1])) bad(`scale: ${m[1]} is given twice`);
    seen.add(m[1]);
    const update: FormationUpdate = { type: m[1] };
    if (m[2] !== undefined) update.quantity = Number(m[2]);
    if (m[3] !== undefined) update.size = m[3];
    return update;
  });
}
