// The Heroku side: what kind of token ferry was given, where the apps run, and where the
// add-ons' stores are now (their credentials rotate: ../heroku/source-url.ts).
//
// A token from `heroku auth:token` is the CLI's session and expires; a migration runs
// for days, and a stage whose token expired stops part-way. `heroku authorizations:create`
// makes a token without expiry (https://devcenter.heroku.com/articles/platform-api-quickstart#authentication).
// Which authorization a token belongs to: GET /oauth/authorizations lists the account's,
// each with `access_token.token` and `access_token.expires_in` (null: never expires)
// (https://devcenter.heroku.com/articles/platform-api-reference#oauth-authorization-list);
// the Heroku CLI's own `auth:token` finds the current one the same way, by comparing
// `access_token.token` with the token it holds.
import { HerokuApiError, HerokuClient } from "../heroku/client";
import { addonUrl, AddonUrl } from "../heroku/source-url";
import { Finding, finding } from "./findings";

interface OAuthAuthorization {
  id: string;
  description?: string | null;
  access_token?: { token?: string; expires_in?: number | null } | null;
}

/** Under this many days to expiry, a token may not outlive the migration. */
const SHORTEST_DAYS = 30;

export async function checkHerokuToken(client: HerokuClient, apiKey: string): Promise<Finding> {
  let authorizations: OAuthAuthorization[];
  try {
    authorizations = await client.list<OAuthAuthorization>("/oauth/authorizations");
  } catch (e) {
    const status = e instanceof HerokuApiError ? e.status : 0;
    const why = status === 401 ? "Heroku refused it (wrong, revoked or expired)" : (e as Error).message;
    return finding("heroku token", "block", `ferry:herokuApiKey: ${why}; create one with heroku authorizations:create`);
  }
  const mine = authorizations.find((a) => a.access_token?.token === apiKey);
  if (!mine) {
    return finding("heroku token", "warn", "ferry:herokuApiKey works, but none of the account's authorizations holds it, so its expiry is unknown (an authorizations:create token never expires)");
  }
  const expiresIn = mine.access_token?.expires_in ?? null;
  const named = mine.description ? ` "${mine.description}"` : "";
  if (expiresIn === null) return finding("heroku token", "ok", `a long-lived authorization${named} (no expiry)`);
  const days = expiresIn / 86_400;
  const when = days < 1 ? `${Math.round(expiresIn / 3600)} h` : `${Math.floor(days)} days`;
  if (days < SHORTEST_DAYS) {
    return finding("heroku token", "block", `ferry:herokuApiKey expires in ${when} (a session token such as heroku auth:token gives); set one from heroku authorizations:create, which does not expire`);
  }
  return finding("heroku token", "warn", `ferry:herokuApiKey expires in ${when}: the migration must finish before then`);
}

/**
 * Heroku's region names and the AWS region each runs in: the Common Runtime's us and eu
 * (https://devcenter.heroku.com/articles/regions), and the Private Spaces regions.
 */
const AWS_REGION_OF: Record<string, string> = {
  us: "us-east-1", virginia: "us-east-1", eu: "eu-west-1", dublin: "eu-west-1", oregon: "us-west-2", frankfurt: "eu-central-1",
  london: "eu-west-2", montreal: "ca-central-1", mumbai: "ap-south-1", singapore: "ap-southeast-1", sydney: "ap-southeast-2", tokyo: "ap-northeast-1",
};

/**
 * Each app reachable with the token, and its region against the target's: not a blocker
 * (a move may change regions on purpose), but every byte the copy reads then crosses
 * regions, and the app reads its data across them until cutover.
 */
export async function checkHerokuApps(client: HerokuClient, apps: string[], targetRegion: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const name of apps) {
    try {
      const app = await client.getApp(name);
      const region = app.region?.name ?? "unknown";
      const aws = AWS_REGION_OF[region];
      if (!aws) findings.push(finding(`heroku app ${name}`, "warn", `runs in Heroku region ${region}, which ferry cannot place in AWS; check it against ${targetRegion}`));
      else if (aws !== targetRegion) findings.push(finding(`heroku app ${name}`, "warn", `runs in Heroku region ${region} (AWS ${aws}) but ferry:target.region is ${targetRegion}: the copy and the app's reads cross regions until cutover`));
      else findings.push(finding(`heroku app ${name}`, "ok", `region ${region} (AWS ${aws}), the target's`));
    } catch (e) {
      findings.push(finding(`heroku app ${name}`, "block", (e as Error).message.split("\n")[0]));
    }
  }
  return findings;
}

/** A Heroku store as ferry:source names it, and the stack's own copy of its URL (for the app on AWS). */
export interface HerokuStore {
  check: "source postgres" | "source redis";
  app: string;
  addon: string;
  /** ferry:sourceDatabaseUrl or ferry:sourceRedisUrl, and its value when set. */
  key: string;
  stored?: string;
}

/**
 * Where the steps will find a Heroku store: the add-on's current URL, read from its own
 * attachments as each step reads it. A stack copy that differs (the credential rotated
 * since it was set) is a warning: the steps never read it, but the app on AWS connects
 * with it until the cutover.
 */
export async function herokuStoreUrl(client: HerokuClient, store: HerokuStore): Promise<{ url?: string; findings: Finding[] }> {
  let found: AddonUrl;
  try {
    found = await addonUrl(client, store.app, store.addon);
  } catch (e) {
    return { findings: [finding(store.check, "block", `cannot read Heroku add-on ${store.addon} on app ${store.app}: ${(e as Error).message.split("\n")[0]}`)] };
  }
  if (store.stored === undefined || store.stored === found.url) return { url: found.url, findings: [] };
  return {
    url: found.url,
    findings: [finding(`${store.check} url`, "warn", `${store.key} differs from what add-on ${store.addon} holds now (its credentials rotated?): ferry's steps read the add-on, but the app on AWS connects with ${store.key} until the cutover; set it again: pulumi config set --secret ${store.key} "$(heroku config:get ${found.configVar} -a ${store.app})"`)],
  };
}
