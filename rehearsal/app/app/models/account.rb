class Account < ApplicationRecord
  has_many :statuses
  has_many :follows
  has_many :passive_relationships, class_name: "Follow", foreign_key: :target_account_id

  # Those who follow this account: whose home feeds its statuses go to.
  def follower_ids
    passive_relationships.pluck(:account_id)
  end
end
