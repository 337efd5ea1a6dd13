// A stack with named stores (config/stores/), for the config and program tests: the
// staging example shaped like story 003, as Pulumi hands it to the program.
import { randomBytes } from "node:crypto";
import { stackConfig } from "../program/stacks";

// Passwords drawn per run: no credential is written in the source (the tests that check a
// secret stays out of a message look for the drawn value).
const drawn = () => randomBytes(9).toString("hex");
export const MAIN_URL = `postgres://app:${drawn()}@main.example.net:5432/app`;
export const LEGACY_URL = `postgres://app:${drawn()}@legacy.example.net:5432/legacy`;
export const CACHE_URL = `rediss://:${drawn()}@cache.example.net:6380/0`;

export type Raw = Record<string, string>;

export function patch(raw: Raw, key: string, change: (value: any) => void): Raw {
  const value = JSON.parse(raw[key]);
  change(value);
  return { ...raw, [key]: JSON.stringify(value) };
}

/**
 * The staging example with its stores named, shaped like story 003: the web app's main
 * database (the streaming app reaches it too), a legacy database in the same RDS instance,
 * and one Redis.
 */
export function named(): Raw {
  const raw: Raw = { ...stackConfig("staging") };
  delete raw["ferry:sourceDatabaseUrl"];
  delete raw["ferry:sourceRedisUrl"];
  const source = JSON.parse(raw["ferry:source"]);
  const target = JSON.parse(raw["ferry:target"]);
  source.postgres = {
    main: { ...source.postgres, attachments: [{ app: "masto-streaming", configVar: "DATABASE_URL" }, { app: "masto-web", configVar: "HEROKU_POSTGRESQL_ORANGE_URL" }] },
    legacy: { app: "masto-web", addon: "postgresql-old-24680", configVar: "LEGACY_DATABASE_URL", strategy: "dump" },
  };
  source.redis = { cache: source.redis };
  target.postgres = { main: target.postgres, legacy: { instance: "main", database: "legacy" } };
  target.redis = { cache: target.redis };
  return {
    ...raw,
    "ferry:source": JSON.stringify(source),
    "ferry:target": JSON.stringify(target),
    "ferry:sourceDatabaseUrls": JSON.stringify({ main: MAIN_URL, legacy: LEGACY_URL }),
    "ferry:sourceRedisUrls": JSON.stringify({ cache: CACHE_URL }),
  };
}

export function without(raw: Raw, key: string): Raw {
  const copy = { ...raw };
  delete copy[key];
  return copy;
}
