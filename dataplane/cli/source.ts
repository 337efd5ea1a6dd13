// The source store's URL for a step. A box's is given (FERRY_SOURCE_URL, or --source); a
// Heroku add-on's is read from the Platform API at each step (its app and add-on in
// FERRY_SOURCE_HEROKU_APP / _ADDON, the key in HEROKU_API_KEY), because Heroku rotates
// the add-on's credentials and a copy taken weeks earlier stops working. Which wins: an
// explicit --source flag, then the Heroku add-on, then FERRY_SOURCE_URL (a copy, possibly
// stale, that an operator's shell may still export).
import { HerokuApiError } from "../heroku/client";
import { clientFromEnv } from "../heroku/cli";
import { addonUrl, SourceUrlError } from "../heroku/source-url";
import { FerryError, GlobalOptions, resolveUrl } from "./common";
import { ENV } from "./contract";

export type SourceStore = "postgres" | "redis";

/** The variables a store's source is read from. */
export const SOURCE_ENV: Record<SourceStore, { url: string; app: string; addon: string }> = {
  postgres: { url: ENV.sourceUrl, app: ENV.sourceHerokuApp, addon: ENV.sourceHerokuAddon },
  redis: { url: ENV.sourceRedisUrl, app: ENV.sourceRedisHerokuApp, addon: ENV.sourceRedisHerokuAddon },
};

const STORE_NAME: Record<SourceStore, string> = { postgres: "Postgres", redis: "Redis" };

/** Whether the environment names the store's source, as a URL or as a Heroku add-on. */
export function sourceGiven(store: SourceStore, env: NodeJS.ProcessEnv = process.env): boolean {
  const names = SOURCE_ENV[store];
  return !!(env[names.url] || env[names.app] || env[names.addon]);
}

/**
 * The source URL of `store`: `fromFlag` if given, else the Heroku add-on's current URL
 * when its app and add-on are set, else the URL variable. `flag` names the flag in errors.
 */
export async function sourceUrl(store: SourceStore, fromFlag: string | undefined, flag: string, opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const names = SOURCE_ENV[store];
  const [app, addon] = [env[names.app], env[names.addon]];
  if (fromFlag || (!app && !addon)) return resolveUrl(fromFlag, names.url, flag, env);
  if (!app || !addon) {
    throw new FerryError(`the ${STORE_NAME[store]} source on Heroku needs ${names.app} and ${names.addon}; only ${app ? names.app : names.addon} is set`, 2, "source");
  }
  const url = await readAddonUrl(store, app, addon, opts, env);
  return resolveUrl(undefined, names.url, flag, { [names.url]: url });
}

async function readAddonUrl(store: SourceStore, app: string, addon: string, opts: GlobalOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const where = `the ${STORE_NAME[store]} source (Heroku add-on ${addon} on app ${app})`;
  try {
    const found = await addonUrl(clientFromEnv(opts, env), app, addon);
    if (!URL.canParse(found.url)) throw new SourceUrlError(`its ${found.configVar} is not a URL`);
    return found.url;
  } catch (err) {
    if (err instanceof SourceUrlError) throw new FerryError(`cannot read ${where}: ${err.message}`, 2, "source");
    if (err instanceof HerokuApiError) throw new FerryError(`cannot read ${where}: ${err.message}`, isInputStatus(err.status) ? 2 : 1, "source");
    if (err instanceof FerryError) throw new FerryError(`cannot read ${where}: ${err.message}`, err.exitCode, "source");
    throw err;
  }
}

/** A request that can never succeed as given (a wrong key, app or add-on); a 429 or 5xx may. */
const isInputStatus = (status: number) => status >= 400 && status < 500 && status !== 429;
