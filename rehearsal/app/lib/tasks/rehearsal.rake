# What a live app's Redis holds besides its queues, put on the source before the rehearsal
# (by the rehearsal, not by the app's processes): statuses scheduled hours and days ahead
# in Sidekiq's `schedule` set (perform_in), failed jobs waiting days for their next try in
# `retry`, and jobs out of retries in `dead`. Prints their jids as JSON, so the end checks
# can find each exactly once in the Redis the app ends on.
require "sidekiq/api"

namespace :rehearsal do
  desc "Seed Sidekiq's schedule, retry and dead sets; prints {schedule:, retry:, dead:} jids"
  task :seed_jobs, [:count] => :environment do |_, args|
    count = Integer(args[:count] || 10)
    client = Sidekiq::Client.new
    failed = lambda do |i, retries|
      item = client.send(:normalize_item, "class" => LinkCrawlWorker, "args" => [i])
      now = Time.now.to_f
      item.merge("queue" => "pull", "error_message" => "Connection refused - connect(2) for remote.example:443",
                 "error_class" => "HTTP::ConnectionError", "failed_at" => now - 3600, "retried_at" => now - 60, "retry_count" => retries)
    end

    schedule = (1..count).map { |i| ScheduledStatusWorker.perform_in((i * 7).hours, i) }
    retrying = (1..count).map do |i|
      item = failed.call(i, 2)
      # As Sidekiq's JobRetry writes a failed job: scored by when it is next due (days ahead).
      Sidekiq.redis { |conn| conn.zadd("retry", (Time.now + (i + 1).days).to_f.to_s, Sidekiq.dump_json(item)) }
      item["jid"]
    end
    dead = (1..count).map do |i|
      item = failed.call(count + i, 4)
      Sidekiq::DeadSet.new.kill(Sidekiq.dump_json(item), notify_failure: false)
      item["jid"]
    end
    puts({ schedule: schedule, retry: retrying, dead: dead }.to_json)
  end
end
