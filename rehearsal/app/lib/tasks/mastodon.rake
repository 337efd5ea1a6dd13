namespace :mastodon do
  desc "Refresh trending statuses (Mastodon's scheduler job): counts the last hour's statuses, records the run"
  task refresh_trends: :environment do
    recent = Status.where("created_at > now() - interval '1 hour'").count
    run = ScheduledRun.record!("refresh_trends", recent_statuses: recent)
    puts({ job: run.job, ran_on: run.ran_on, recent_statuses: recent }.to_json)
  end
end
