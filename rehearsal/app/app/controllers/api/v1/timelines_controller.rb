# GET /api/v1/timelines/home?account_id=N: the newest statuses of a home feed (Redis ids, rows from Postgres).
class Api::V1::TimelinesController < ApplicationController
  def home
    account_id = Integer(params.require(:account_id))
    ids = FeedManager.home(account_id)
    statuses = ids.empty? ? [] : Status.where(id: ids).order(id: :desc).pluck(:id, :account_id, :text)
    render json: statuses.map { |id, author, text| { id: id.to_s, account_id: author, text: text } }
  end
end
