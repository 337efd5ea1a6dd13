# How the app reaches Redis: REDIS_URL as the platform hands it over.
#
# Heroku Key-Value Store serves TLS on a self-signed certificate, and Heroku tells Ruby,
# Rails and Sidekiq users to turn certificate verification off for it
# (https://devcenter.heroku.com/articles/connecting-heroku-redis#connecting-in-ruby,
# https://github.com/sidekiq/sidekiq/wiki/Heroku): this app does so for Heroku's hosts
# only (its instances run on EC2 hosts, `*.compute-1.amazonaws.com` and
# `*.compute.amazonaws.com`). Anywhere else (ElastiCache, a box) the certificate is
# verified against the system's trust store, as Ruby's OpenSSL does by default.
require "uri"
require "openssl"

module RedisConfiguration
  HEROKU_REDIS_HOST = /\.compute(-1)?\.amazonaws\.com\z/

  module_function

  # Sidekiq's own default when REDIS_URL is unset (a rake task that needs no Redis).
  def url
    ENV.fetch("REDIS_URL") { "redis://localhost:6379/0" }
  end

  def heroku_redis?(redis_url = url)
    uri = URI.parse(redis_url)
    uri.scheme == "rediss" && HEROKU_REDIS_HOST.match?(uri.host.to_s)
  end

  # Options for Redis.new and Sidekiq's redis config.
  def options(redis_url = url)
    opts = { url: redis_url, connect_timeout: 5, read_timeout: 5, write_timeout: 5, reconnect_attempts: 1 }
    opts[:ssl_params] = { verify_mode: OpenSSL::SSL::VERIFY_NONE } if heroku_redis?(redis_url)
    opts
  end
end
