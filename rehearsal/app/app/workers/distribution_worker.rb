# A status's distribution (Mastodon's DistributionWorker): the status to the followers'
# streams over Redis pub/sub, then its run recorded in Postgres by jid, last: a run that
# failed before the record is retried and recorded once; a job run twice shows as two rows.
class DistributionWorker
  include Sidekiq::Worker
  sidekiq_options queue: "default"

  def perform(status_id)
    status = Status.find_by(id: status_id)
    if status
      payload = { event: "update", payload: { id: status.id.to_s, account_id: status.account_id, text: status.text } }.to_json
      Sidekiq.redis do |redis|
        redis.pipelined do |pipeline|
          ([status.account_id] + status.account.follower_ids).each { |id| pipeline.publish("timeline:#{id}", payload) }
        end
      end
    end
    JobRun.record!(self.class.name, jid, [status_id])
  end
end
