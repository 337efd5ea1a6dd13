// What the rehearsal knows of the app's data, to seed it and to check it at the end: the
// schema it lives in, the Redis keys it writes (Mastodon's home feeds, Sidekiq's sets).
// The app itself (rehearsal/app) owns the tables: its migrations create them.

/** Schema the app uses: `public` for the generated sample, a side schema when the user's own data owns `public`. */
export const SAMPLE_SCHEMA = "public";
export const SIDE_SCHEMA = "ferry_rehearsal";

export function quoteSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  return schema === "public" ? "public" : `"${schema}"`;
}

/** A home feed: a sorted set per account, scored by status id, trimmed to the newest FEED_MAX (app/lib/feed_manager.rb). */
export const FEED_MAX = 400;
export const feedKey = (accountId: number | string): string => `feed:home:${accountId}`;

/** Sidekiq's sorted sets of jobs that are not in a queue: due later, failed and waiting, out of retries. */
export const SIDEKIQ_SETS = ["schedule", "retry", "dead"] as const;
export type SidekiqSet = (typeof SIDEKIQ_SETS)[number];
