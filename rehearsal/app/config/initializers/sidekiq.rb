# Sidekiq's client (web enqueueing) and server (the worker) on the same Redis, with the
# same TLS rules as the rest of the app (RedisConfiguration).
Sidekiq.configure_server do |config|
  config.redis = RedisConfiguration.options
end

Sidekiq.configure_client do |config|
  config.redis = RedisConfiguration.options
end
