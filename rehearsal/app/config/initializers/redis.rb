require "connection_pool"
require "redis"

# Sidekiq 6.4 calls redis-rb 4.8 in ways 4.8 warns about on every fetch (brpop's timeout).
Redis.silence_deprecations = true

# The app's own Redis connections (home feeds), one per puma thread at most.
REDIS_POOL = ConnectionPool.new(size: Integer(ENV.fetch("MAX_THREADS", 3)), timeout: 5) do
  Redis.new(**RedisConfiguration.options)
end
