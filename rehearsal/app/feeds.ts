// Home feeds the way Mastodon keeps them: one sorted set per account,
// `feed:home:<account_id>`, scored by status id, trimmed to the newest 400.
import type Redis from "ioredis";
import type { Pool, Client } from "pg";
import { quoteSchema } from "./schema";

export const FEED_MAX = 400;
export const feedKey = (accountId: number | string): string => `feed:home:${accountId}`;

/** Add a status to the author's and each follower's home feed. */
export async function pushToFeeds(redis: Redis, statusId: string, owners: Array<number | string>): Promise<void> {
  const multi = redis.multi();
  for (const owner of owners) {
    multi.zadd(feedKey(owner), statusId, statusId);
    multi.zremrangebyrank(feedKey(owner), 0, -(FEED_MAX + 1));
  }
  const results = await multi.exec();
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

export async function followerIds(db: Pool, schema: string, accountId: number): Promise<string[]> {
  const { rows } = await db.query(`SELECT account_id FROM ${quoteSchema(schema)}.follows WHERE target_account_id = $1`, [accountId]);
  return rows.map((r) => String(r.account_id));
}

/**
 * Rebuild every home feed from the database, like `tootctl feeds build`: the newest
 * `perFeed` statuses of the accounts each account follows (and its own). Batches of
 * accounts keep memory flat on a million-row sample.
 */
export async function rebuildFeeds(db: Client, redis: Redis, schema: string, perFeed = 40): Promise<{ feeds: number; entries: number }> {
  const s = quoteSchema(schema);
  const { rows: bounds } = await db.query(`SELECT coalesce(min(id), 0)::bigint AS lo, coalesce(max(id), 0)::bigint AS hi FROM ${s}.accounts`);
  let feeds = 0;
  let entries = 0;
  const batch = 500;
  for (let lo = Number(bounds[0].lo); lo <= Number(bounds[0].hi); lo += batch) {
    // Newest `perFeed` of each followed account through the (account_id, id DESC)
    // index, then the newest `perFeed` of those: a few index probes per account instead
    // of scanning all statuses by id until enough of them match.
    const { rows } = await db.query(
      `SELECT a.id AS owner,
              ARRAY(SELECT s2.id
                    FROM unnest(ARRAY(SELECT f.target_account_id FROM ${s}.follows f WHERE f.account_id = a.id) || a.id) AS t(acct)
                    CROSS JOIN LATERAL (SELECT st.id FROM ${s}.statuses st WHERE st.account_id = t.acct ORDER BY st.id DESC LIMIT $3) s2
                    ORDER BY s2.id DESC LIMIT $3) AS ids
       FROM ${s}.accounts a
       WHERE a.id >= $1 AND a.id < $2`,
      [lo, lo + batch, perFeed],
    );
    const multi = redis.multi();
    let built = 0;
    for (const row of rows) {
      const ids: string[] = row.ids.map(String);
      if (!ids.length) continue;
      multi.del(feedKey(row.owner));
      multi.zadd(feedKey(row.owner), ...ids.flatMap((id) => [id, id]));
      entries += ids.length;
      built++;
    }
    await multi.exec();
    feeds += built;
  }
  return { feeds, entries };
}
