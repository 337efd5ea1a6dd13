# Uploads go to the app's own bucket, named by its own S3_BUCKET config var, with its own
# AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by the SDK from the
# environment), as Mastodon's S3 settings: S3_REGION, and S3_ENDPOINT for an S3-compatible
# endpoint (path-style then).
module MediaStorage
  module_function

  def bucket_name
    ENV.fetch("S3_BUCKET")
  end

  def client
    @client ||= begin
      require "aws-sdk-s3" # loaded by the processes that upload only: it is slow to load
      endpoint = ENV["S3_ENDPOINT"].presence
      Aws::S3::Client.new(
        region: ENV["S3_REGION"].presence || ENV["AWS_REGION"].presence || "us-east-1",
        **(endpoint ? { endpoint: endpoint, force_path_style: true } : {}),
        http_open_timeout: 2, http_read_timeout: 10, retry_limit: 1,
      )
    end
  end

  def put(key, body, content_type)
    client.put_object(bucket: bucket_name, key: key, body: body, content_type: content_type)
  end
end
