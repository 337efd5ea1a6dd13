# Where each Sidekiq job and each scheduled command records that it ran (and where), so a
# job run twice or never, and a scheduled tick on both sides, can be counted.
class CreateJobRuns < ActiveRecord::Migration[6.1]
  def change
    create_table :job_runs do |t|
      t.text :job_class, null: false
      t.text :jid, null: false
      t.text :arguments, null: false, default: "[]"
      t.text :ran_on, null: false
      t.column :created_at, "timestamp with time zone", null: false, default: -> { "now()" }
      t.column :updated_at, "timestamp with time zone", null: false, default: -> { "now()" }
    end
    add_index :job_runs, :jid

    create_table :scheduled_runs do |t|
      t.text :job, null: false
      t.text :result, null: false, default: "{}"
      t.text :ran_on, null: false
      t.column :created_at, "timestamp with time zone", null: false, default: -> { "now()" }
      t.column :updated_at, "timestamp with time zone", null: false, default: -> { "now()" }
    end
    add_index :scheduled_runs, [:job, :created_at]
  end
end
