# POST /api/v1/statuses: commit the status, push it to its author's and followers' home
# feeds, enqueue its distribution. Answered 200 only when all three are done.
class Api::V1::StatusesController < ApplicationController
  def create
    account = Account.find(params.require(:account_id))
    status = Status.create!(account: account, text: params.require(:status))
    FeedManager.push(status.id, [account.id, *account.follower_ids])
    jid = DistributionWorker.perform_async(status.id)
    raise Redis::BaseError, "the job was not enqueued" if jid.nil?

    render json: { id: status.id.to_s, account_id: account.id, text: status.text, jid: jid }
  end

  def show
    status = Status.find(params[:id])
    render json: { id: status.id.to_s, account_id: status.account_id, text: status.text }
  end
end
