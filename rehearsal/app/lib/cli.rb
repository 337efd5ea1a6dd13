# `bin/tootctl`: a few of Mastodon's admin commands (Thor, as Mastodon's own). The scheduled
# ones record each run (command, time, where it ran) in scheduled_runs.
require "thor"
require "json"

module Mastodon
  module CLI
    class Base < Thor
      def self.exit_on_failure?
        true
      end

      private

      def boot!
        require_relative "../config/environment"
      end
    end

    class Media < Base
      desc "remove", "Remove cached remote media older than --days (this app keeps local uploads only)"
      option :days, type: :numeric, default: 7
      def remove
        boot!
        days = Integer(options[:days])
        # Local uploads are never removed; there is no remote media cache here.
        run = ScheduledRun.record!("media remove", days: days, removed: 0)
        say({ job: run.job, ran_on: run.ran_on, days: days, removed: 0 }.to_json)
      end
    end

    class PreviewCards < Base
      desc "remove", "Remove preview card thumbnails older than --days"
      option :days, type: :numeric, default: 180
      def remove
        boot!
        days = Integer(options[:days])
        run = ScheduledRun.record!("preview_cards remove", days: days, removed: 0)
        say({ job: run.job, ran_on: run.ran_on, days: days, removed: 0 }.to_json)
      end
    end

    class Feeds < Base
      desc "build", "Build every home feed from the database"
      def build
        boot!
        started = Time.now
        result = FeedManager.rebuild_all
        say(result.merge(ms: ((Time.now - started) * 1000).round).to_json)
      end
    end

    class Main < Base
      desc "media SUBCOMMAND ...ARGS", "Manage media files"
      subcommand "media", Media

      desc "preview_cards SUBCOMMAND ...ARGS", "Manage preview cards"
      subcommand "preview_cards", PreviewCards

      desc "feeds SUBCOMMAND ...ARGS", "Manage home feeds"
      subcommand "feeds", Feeds
    end
  end
end
