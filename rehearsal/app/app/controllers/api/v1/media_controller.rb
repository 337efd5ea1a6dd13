# POST /api/v1/media (multipart: file, account_id): the file into the app's own bucket,
# then its row; answered 200 only when both are done.
require "securerandom"

class Api::V1::MediaController < ApplicationController
  def create
    account = Account.find(params.require(:account_id))
    file = params.require(:file)
    key = "media_attachments/files/#{SecureRandom.hex(8)}/original/#{File.basename(file.original_filename.to_s).gsub(/[^\w.-]/, '_')}"
    MediaStorage.put(key, file.read, file.content_type)
    media = MediaAttachment.create!(account: account, file_key: key, content_type: file.content_type, file_size: file.size)
    render json: { id: media.id.to_s, bucket: MediaStorage.bucket_name, key: key }
  end
end
