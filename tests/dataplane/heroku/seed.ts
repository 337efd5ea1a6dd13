// The Heroku app the tests drive: a Mastodon-shaped app (web, streaming, sidekiq)
// with Postgres and Redis attachments, enough add-ons and domains to span several
// pages at the fake API's page size of 2.
import type { FakeAppSeed } from "../../../rehearsal/servers/heroku-api";

export const API_KEY = "heroku-test-key-0123456789";
export const LIMITED_KEY = "heroku-limited-key";
export const PAGE_SIZE = 2;

export function mastodonApp(): FakeAppSeed {
  return {
    name: "famichiki",
    configVars: { RAILS_ENV: "production", LOCAL_DOMAIN: "famichiki.test" },
    formation: [
      { type: "web", quantity: 2, size: "standard-2X", command: "bundle exec puma" },
      { type: "streaming", quantity: 1, size: "standard-1X", command: "node streaming" },
      { type: "sidekiq", quantity: 1, size: "standard-1X", command: "bundle exec sidekiq" },
    ],
    addons: [
      { name: "postgresql-shaped-12345", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", configVars: { DATABASE_URL: "postgres://u:pgsecret@ec2.example:5432/d1" } },
      { name: "redis-curved-67890", service: "heroku-redis", plan: "heroku-redis:premium-0", configVars: { REDIS_URL: "rediss://:redissecret@ec2.example:6380" } },
      { name: "scheduler-flat-1", service: "scheduler", plan: "scheduler:standard" },
      { name: "papertrail-round-2", service: "papertrail", plan: "papertrail:choklad" },
      { name: "sendgrid-sharp-3", service: "sendgrid", plan: "sendgrid:starter" },
    ],
    domains: [{ hostname: "famichiki.test" }, { hostname: "www.famichiki.test" }, { hostname: "media.famichiki.test" }],
  };
}

export const otherApp = (): FakeAppSeed => ({ name: "someone-elses", formation: [{ type: "web", quantity: 1 }] });
