# Fetching a link's preview card (Mastodon's LinkCrawlWorker): the kind of job that fails
# against a remote server and waits in Sidekiq's `retry` set, or ends in `dead`.
class LinkCrawlWorker
  include Sidekiq::Worker
  sidekiq_options queue: "pull", retry: 4

  def perform(status_id)
    JobRun.record!(self.class.name, jid, [status_id])
  end
end
