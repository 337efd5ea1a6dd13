// The rehearsal app is configured the twelve-factor way, like a Heroku dyno or a
// systemd unit on the Vultr box: everything through environment variables, so
// "repointing the app" is restarting it with different variables.
export interface AppConfig {
  port: number;
  /** Shown in the X-Served-By header so the load generator can tell source from target. */
  name: string;
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  /** Consume the Sidekiq-style queue in this process. */
  worker: boolean;
  /** Worker processes record their own Redis writes (ticks) here: see ticker.ts. */
  tickFile?: string;
  /** When set, the app answers 503 while the Heroku API says the app is in maintenance. */
  heroku?: { apiUrl: string; apiKey: string; app: string };
}

function required(env: NodeJS.ProcessEnv, key: string): string {
  const v = env[key];
  if (!v) throw new Error(`rehearsal app: ${key} is not set`);
  return v;
}

export function appConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const heroku = env.HEROKU_APP
    ? { apiUrl: required(env, "HEROKU_API_URL"), apiKey: required(env, "HEROKU_API_KEY"), app: env.HEROKU_APP }
    : undefined;
  return {
    port: Number(required(env, "PORT")),
    name: env.APP_NAME ?? "app",
    databaseUrl: required(env, "DATABASE_URL"),
    redisUrl: required(env, "REDIS_URL"),
    schema: env.APP_SCHEMA ?? "public",
    worker: env.APP_WORKER !== "0",
    tickFile: env.APP_TICK_FILE || undefined,
    heroku,
  };
}

/** The environment that starts an app with `config` (the inverse of appConfigFromEnv). */
export function appEnv(config: AppConfig): Record<string, string> {
  const env: Record<string, string> = {
    PORT: String(config.port),
    APP_NAME: config.name,
    DATABASE_URL: config.databaseUrl,
    REDIS_URL: config.redisUrl,
    APP_SCHEMA: config.schema,
    APP_WORKER: config.worker ? "1" : "0",
  };
  if (config.tickFile) env.APP_TICK_FILE = config.tickFile;
  if (config.heroku) {
    env.HEROKU_API_URL = config.heroku.apiUrl;
    env.HEROKU_API_KEY = config.heroku.apiKey;
    env.HEROKU_APP = config.heroku.app;
  }
  return env;
}
