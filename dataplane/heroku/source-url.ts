// Where a Heroku source's store is now. Heroku rotates an add-on's credentials (Heroku
// Postgres: https://devcenter.heroku.com/articles/heroku-postgresql-credentials; Heroku
// Key-Value Store: `heroku redis:credentials --reset`) and updates the config vars of every
// attachment of the add-on, so a URL copied into the stack goes stale. The current one is
// read from the Platform API at each step, from the add-on's own attachments: after the
// cutover's repoint, DATABASE_URL names the target, while the add-on stays attached under
// its other names (HEROKU_POSTGRESQL_ORANGE, FERRY_SOURCE_DATABASE), each holding its URL.
import type { HerokuClient } from "./client";
import type { AddonAttachment } from "./types";

/** Why the source URL cannot be read: one line naming the app and the add-on. */
export class SourceUrlError extends Error {
  constructor(message: string, readonly status = 0) {
    super(message);
    this.name = "SourceUrlError";
  }
}

/** The attachments through which `addon` (name or id) gives `app` its config vars. */
export function attachmentsOf(attachments: AddonAttachment[], addon: string): AddonAttachment[] {
  return attachments.filter((a) => a.addon.name === addon || a.addon.id === addon);
}

export interface AddonUrl {
  url: string;
  /** The attachment var it was read from (a name, no secret). */
  configVar: string;
}

/**
 * The add-on's current URL, read from the first of its attachments on `app` whose
 * NAME_URL the app has. Only the add-on's own attachments are read: a var another
 * attachment or a person set (DATABASE_URL once repointed) never is.
 */
export async function addonUrl(client: HerokuClient, app: string, addon: string): Promise<AddonUrl> {
  const own = attachmentsOf(await client.listAttachments(app), addon);
  if (own.length === 0) {
    throw new SourceUrlError(`Heroku add-on ${addon} is not attached to app ${app}: check ferry:source's app and addon (heroku addons -a ${app})`);
  }
  const vars = await client.getConfigVars(app);
  const configVar = own.map((a) => `${a.name}_URL`).find((name) => vars[name]);
  if (!configVar) {
    throw new SourceUrlError(`Heroku add-on ${addon} on app ${app} has no URL in its attachments' config vars (${own.map((a) => `${a.name}_URL`).join(", ")})`);
  }
  return { url: vars[configVar], configVar };
}
