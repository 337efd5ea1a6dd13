# Where this process runs, as a job records it: an ECS task (Fargate sets
# ECS_CONTAINER_METADATA_URI_V4 in every container:
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate.html),
# a Heroku dyno (DYNO: https://devcenter.heroku.com/articles/dynos#local-environment-variables),
# or else the box. ECS first: the slug's runner sets DYNO on ECS tasks too.
require "socket"

module Placement
  module_function

  def current
    if (uri = ENV["ECS_CONTAINER_METADATA_URI_V4"]) && !uri.empty?
      "ecs:#{uri.split('/').last}"
    elsif (dyno = ENV["DYNO"]) && !dyno.empty?
      "heroku:#{dyno}"
    else
      "box:#{Socket.gethostname}"
    end
  end
end
