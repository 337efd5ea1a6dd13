// `ferry doctor`: every prerequisite of a first `pulumi up`, checked before anything
// changes: the Pulumi CLI and the stack, the stack's own config (init's stand-ins, secrets
// stored in clear, the program's validation), AWS credentials, the Heroku token and
// apps, the Cloudflare token, and the source's stores as the data steps will find them.
// Only reads; secret values stay in this process.
import { redisMode } from "../../config/strategy";
import { DEFAULT_HEROKU_API_URL, HerokuClient } from "../heroku/client";
import { checkAws } from "./aws";
import { checkCloudflare, DEFAULT_CLOUDFLARE_API_URL } from "./cloudflare";
import { checkConfig } from "./config";
import { Finding, finding } from "./findings";
import { checkHerokuApps, checkHerokuToken } from "./heroku";
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
  if (config.source.kind === "heroku") {
    const apiKey = config.secrets.herokuApiKey;
    if (apiKey) {
      const client = new HerokuClient({ apiKey, baseUrl: opts.env.HEROKU_API_URL || DEFAULT_HEROKU_API_URL, maxAttempts: 2 });
      const token = await checkHerokuToken(client, apiKey);
      findings.push(token);
      if (token.status !== "block") findings.push(...(await checkHerokuApps(client, config.source.apps.map((a) => a.name), config.target.region)));
    }
  }
  findings.push(...(await checkCloudflare(config, (opts.env.CLOUDFLARE_API_URL || DEFAULT_CLOUDFLARE_API_URL).replace(/\/+$/, ""))));
  const heroku = config.source.kind === "heroku";
  if (config.secrets.sourceRedisUrl) {
    if (redisMode(config) === "copy") findings.push(await checkRedisNotifications(config.secrets.sourceRedisUrl, heroku, opts.listenMs, !heroku));
    else findings.push(finding("source redis", "skip", "keyspace notifications: a REPLICAOF move does not need them"));
  }
  if (config.secrets.sourceDatabaseUrl) findings.push(...(await checkPostgresTools(config.secrets.sourceDatabaseUrl, opts.env, !heroku)));
  return findings;
}
