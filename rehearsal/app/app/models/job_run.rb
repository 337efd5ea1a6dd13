# One row per execution of a Sidekiq job, by its jid: a job that ran twice has two rows.
class JobRun < ApplicationRecord
  def self.record!(job, jid, arguments)
    create!(job_class: job, jid: jid, arguments: arguments.to_json, ran_on: Placement.current)
  end
end
