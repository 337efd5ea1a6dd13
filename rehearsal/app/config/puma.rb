# Mastodon's config/puma.rb, in single mode (no workers) and few threads: a process starts
# in a couple of seconds.
threads_count = Integer(ENV.fetch("MAX_THREADS", 3))
threads threads_count, threads_count

bind "tcp://#{ENV.fetch('BIND', '127.0.0.1')}:#{ENV.fetch('PORT', 3000)}"
environment ENV.fetch("RAILS_ENV", "production")
workers Integer(ENV.fetch("WEB_CONCURRENCY", 0))
