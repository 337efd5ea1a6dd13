# One row per run of a scheduled command (Heroku Scheduler, EventBridge Scheduler, cron).
class ScheduledRun < ApplicationRecord
  def self.record!(job, result = {})
    create!(job: job, result: result.to_json, ran_on: Placement.current)
  end
end
