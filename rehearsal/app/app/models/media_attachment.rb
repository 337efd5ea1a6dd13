class MediaAttachment < ApplicationRecord
  belongs_to :account
end
