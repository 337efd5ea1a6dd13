class CreateMediaAttachments < ActiveRecord::Migration[6.1]
  def change
    create_table :media_attachments do |t|
      t.bigint :account_id, null: false
      t.text :file_key, null: false
      t.text :content_type
      t.bigint :file_size
      t.column :created_at, "timestamp with time zone", null: false, default: -> { "now()" }
      t.column :updated_at, "timestamp with time zone", null: false, default: -> { "now()" }
    end
    add_index :media_attachments, :account_id
    add_foreign_key :media_attachments, :accounts, column: :account_id, on_delete: :cascade
  end
end
