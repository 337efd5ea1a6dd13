// `ferry doctor`: every prerequisite of a first `pulumi up`, checked before anything
// changes: the Pulumi CLI and the stack, the stack's own config (init's stand-ins, secrets
// stored in clear, the program's validation), AWS credentials, the Heroku token and
// apps, the Cloudflare token, and the source's stores as the data steps will find them.
// Only reads; secret values stay in this process.
import type { FerryConfig } from "../../config/schema";
import { redisMode } from "../../config/strategy";
import { DEFAULT_HEROKU_API_URL, HerokuClient } from "../heroku/client";
import { checkAws } from "./aws";
import { checkCloudflare, DEFAULT_CLOUDFLARE_API_URL } from "./cloudflare";
import { checkConfig } from "./config";
import { Finding, finding } from "./findings";
import { checkHerokuApps, checkHerokuToken, herokuStoreUrl } from "./heroku";
import { readStack } from "./pulumi";
import { checkPostgresTools, checkRedisNotifications } from "./stores";

export interface DoctorOptions {
  stack: string;
  /** The project directory (where Pulumi.yaml is). */
  dir: string;
  /** How long to listen for keyspace events when the source blocks CONFIG. */
  listenMs: number;
  /** PATH and the endpoints (HEROKU_API_URL, CLOUDFLARE_API_URL, the AWS CLI's own). */
  env: NodeJS.ProcessEnv;
}

export async function doctor(opts: DoctorOptions): Promise<Finding[]> {
  const { findings, config: stack } = await readStack(opts.stack, opts.dir, opts.env);
  if (!stack) return findings;
  const checked = checkConfig(stack);
  findings.push(...checked.findings);
  const config = checked.config;
  if (!config) {
    findings.push(finding("remaining checks", "skip", "they read the stack's config, which does not validate"));
    return findings;
  }
  findings.push(await checkAws(config.target.region, opts.env));
  let client: HerokuClient | undefined;
  if (config.source.kind === "heroku") {
    const apiKey = config.secrets.herokuApiKey;
    if (apiKey) {
      client = new HerokuClient({ apiKey, baseUrl: opts.env.HEROKU_API_URL || DEFAULT_HEROKU_API_URL, maxAttempts: 2 });
      const token = await checkHerokuToken(client, apiKey);
      findings.push(token);
      if (token.status === "block") client = undefined;
      else findings.push(...(await checkHerokuApps(client, config.source.apps.map((a) => a.name), config.target.region)));
    }
  }
  findings.push(...(await checkCloudflare(config, (opts.env.CLOUDFLARE_API_URL || DEFAULT_CLOUDFLARE_API_URL).replace(/\/+$/, ""))));
  const heroku = config.source.kind === "heroku";
  const { urls, findings: found } = await sourceUrls(config, client);
  findings.push(...found);
  if (urls.redis) {
    if (redisMode(config) === "copy") findings.push(await checkRedisNotifications(urls.redis, heroku, opts.listenMs, !heroku));
    else findings.push(finding("source redis", "skip", "keyspace notifications: a REPLICAOF move does not need them"));
  }
  if (urls.postgres) findings.push(...(await checkPostgresTools(urls.postgres, opts.env, !heroku)));
  return findings;
}

/**
 * The source stores as the steps will reach them: a Heroku add-on's current URL through
 * the Platform API (the stack's copy may be stale), a box's from the stack. Without a
 * usable Heroku token (its finding blocks already), the stack's copy is checked instead.
 */
async function sourceUrls(config: FerryConfig, client: HerokuClient | undefined): Promise<{ urls: { postgres?: string; redis?: string }; findings: Finding[] }> {
  const stored = { postgres: config.secrets.sourceDatabaseUrl, redis: config.secrets.sourceRedisUrl };
  const source = config.source;
  if (source.kind !== "heroku" || !client) return { urls: stored, findings: [] };
  const urls: { postgres?: string; redis?: string } = {};
  const findings: Finding[] = [];
  const keys = { postgres: "ferry:sourceDatabaseUrl", redis: "ferry:sourceRedisUrl" } as const;
  for (const store of ["redis", "postgres"] as const) {
    const spec = source[store];
    if (!spec) continue;
    const read = await herokuStoreUrl(client, { check: `source ${store}`, app: spec.app, addon: spec.addon, key: keys[store], stored: stored[store] });
    urls[store] = read.url;
    findings.push(...read.findings);
  }
  return { urls, findings };
}
