// What a provider's credential rotation does on the store itself, for the Heroku stand-in's
// rotateCredentials: a new password for the add-on's role (Postgres) or its one credential
// (Redis), and the add-on's URL carrying it. Open connections are left alone: Heroku drops
// an old Postgres credential only once its connections are gone (its blog, "Rotate
// database credentials on Heroku Postgres"), and Redis keeps an authenticated connection
// when requirepass changes.
import { randomBytes } from "node:crypto";
import type { CredentialRotation } from "./heroku-api";
import type { LocalPostgres } from "./postgres";
import type { LocalRedis } from "./redis";

const newPassword = () => randomBytes(12).toString("hex");

function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The URL's role gets a new password on `pg` (through its superuser). */
export function postgresRotation(pg: LocalPostgres): CredentialRotation {
  return async (currentUrl) => {
    const role = decodeURIComponent(new URL(currentUrl).username);
    const password = newPassword();
    await pg.query(`ALTER ROLE "${role.replace(/"/g, '""')}" PASSWORD '${password}'`);
    return withPassword(currentUrl, password);
  };
}

/** `redis` gets a new password (requirepass). */
export function redisRotation(redis: LocalRedis): CredentialRotation {
  return async (currentUrl) => {
    const password = newPassword();
    await redis.setPassword(password);
    return withPassword(currentUrl, password);
  };
}
