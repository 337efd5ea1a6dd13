# A status scheduled for later (Mastodon's PublishScheduledStatusWorker): enqueued with
# perform_in, it waits in Sidekiq's `schedule` set until it is due.
class ScheduledStatusWorker
  include Sidekiq::Worker
  sidekiq_options queue: "scheduler"

  def perform(scheduled_status_id)
    JobRun.record!(self.class.name, jid, [scheduled_status_id])
  end
end
