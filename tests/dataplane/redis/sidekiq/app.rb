# A Sidekiq app for the drain tests: real Sidekiq (Debian's ruby-sidekiq 6.4) writes the
# keyspace ferry reads. REDIS_URL comes from the environment, as on Heroku.
require "sidekiq"

# In progress until the test creates the file its argument names.
class SlowJob
  include Sidekiq::Worker
  def perform(gate_file)
    sleep 0.05 until File.exist?(gate_file)
  end
end

# Fails, and is retried in an hour: it sits in the `retry` set meanwhile.
class FailingJob
  include Sidekiq::Worker
  sidekiq_options retry: 5
  sidekiq_retry_in { |_count, _exception| 3600 }
  def perform
    raise "fails on purpose, retried in an hour"
  end
end

# Fails with no retries left: straight to the `dead` set.
class DeadJob
  include Sidekiq::Worker
  sidekiq_options retry: 0
  def perform
    raise "fails on purpose, no retry"
  end
end

# Scheduled days ahead: sits in the `schedule` set.
class LaterJob
  include Sidekiq::Worker
  def perform; end
end
