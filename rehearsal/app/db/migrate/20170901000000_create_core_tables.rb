# The core of Mastodon's schema, as far as the rehearsal's load touches it: bigint ids from
# sequences (a target whose sequences were not carried over fails its next insert),
# foreign keys, and the (account_id, id DESC) index home feeds are built from.
class CreateCoreTables < ActiveRecord::Migration[6.1]
  def change
    create_table :accounts do |t|
      t.text :username, null: false
      t.text :domain
      t.text :display_name, null: false, default: ""
      t.text :note, null: false, default: ""
      t.column :created_at, "timestamp with time zone", null: false, default: -> { "now()" }
      t.column :updated_at, "timestamp with time zone", null: false, default: -> { "now()" }
    end
    add_index :accounts, "lower(username), COALESCE(lower(domain), '')", unique: true, name: "index_accounts_on_username_and_domain"

    create_table :follows do |t|
      t.bigint :account_id, null: false
      t.bigint :target_account_id, null: false
      t.column :created_at, "timestamp with time zone", null: false, default: -> { "now()" }
      t.column :updated_at, "timestamp with time zone", null: false, default: -> { "now()" }
    end
    add_index :follows, [:account_id, :target_account_id], unique: true
    add_index :follows, :target_account_id
    add_foreign_key :follows, :accounts, column: :account_id, on_delete: :cascade
    add_foreign_key :follows, :accounts, column: :target_account_id, on_delete: :cascade

    create_table :statuses do |t|
      t.bigint :account_id, null: false
      t.text :text, null: false
      t.bigint :in_reply_to_id
      t.integer :visibility, null: false, default: 0
      t.column :created_at, "timestamp with time zone", null: false, default: -> { "now()" }
      t.column :updated_at, "timestamp with time zone", null: false, default: -> { "now()" }
    end
    add_index :statuses, "account_id, id DESC", name: "index_statuses_20190820"
    add_foreign_key :statuses, :accounts, column: :account_id, on_delete: :cascade
  end
end
