# Home feeds the way Mastodon keeps them: one sorted set per account, `feed:home:<id>`,
# scored by status id, trimmed to the newest 400.
class FeedManager
  MAX_ITEMS = 400

  def self.key(account_id)
    "feed:home:#{account_id}"
  end

  # Add a status to each owner's home feed; raises when Redis refuses (fenced, a replica).
  def self.push(status_id, owner_ids)
    REDIS_POOL.with do |redis|
      redis.pipelined do |pipeline|
        owner_ids.each do |owner|
          pipeline.zadd(key(owner), status_id, status_id)
          pipeline.zremrangebyrank(key(owner), 0, -(MAX_ITEMS + 1))
        end
      end
    end
  end

  def self.home(account_id, limit = 20)
    REDIS_POOL.with { |redis| redis.zrevrange(key(account_id), 0, limit - 1) }
  end

  # `tootctl feeds build`: every home feed from the database, the newest `per_feed` statuses
  # of the accounts each account follows (and its own), in batches of accounts.
  def self.rebuild_all(per_feed: 40, batch: 500)
    feeds = 0
    entries = 0
    conn = ActiveRecord::Base.connection
    lo, hi = conn.select_rows("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM accounts").first.map(&:to_i)
    (lo..hi).step(batch) do |from|
      rows = conn.select_rows(<<~SQL.squish)
        SELECT a.id,
               ARRAY(SELECT s2.id
                     FROM unnest(ARRAY(SELECT f.target_account_id FROM follows f WHERE f.account_id = a.id) || a.id) AS t(acct)
                     CROSS JOIN LATERAL (SELECT st.id FROM statuses st WHERE st.account_id = t.acct ORDER BY st.id DESC LIMIT #{Integer(per_feed)}) s2
                     ORDER BY s2.id DESC LIMIT #{Integer(per_feed)})::text
        FROM accounts a
        WHERE a.id >= #{from} AND a.id < #{from + batch}
      SQL
      REDIS_POOL.with do |redis|
        redis.pipelined do |pipeline|
          rows.each do |owner, ids_text|
            ids = ids_text.delete("{}").split(",")
            next if ids.empty?

            pipeline.del(key(owner))
            pipeline.zadd(key(owner), ids.map { |id| [id, id] })
            entries += ids.size
            feeds += 1
          end
        end
      end
    end
    { feeds: feeds, entries: entries }
  end
end
