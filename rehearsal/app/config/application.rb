# A small Mastodon: accounts, follows, statuses, home feeds in Redis, Sidekiq jobs, media
# in the app's own S3 bucket. Only the frameworks it uses are loaded, so a process boots
# in a couple of seconds.
require_relative "boot"

require "rails"
require "active_model/railtie"
require "active_record/railtie"
require "action_controller/railtie"
require "sidekiq"

module Mastodon
  class Application < Rails::Application
    config.load_defaults 6.1
    config.api_only = true
    config.eager_load_paths << Rails.root.join("app", "lib")
    # The slug's tree is read-only at run time (a dyno's changes are thrown away): no schema dump.
    config.active_record.dump_schema_after_migration = false
    config.logger = ActiveSupport::Logger.new($stdout)
    config.log_level = :warn
  end
end
