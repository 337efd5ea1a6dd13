class ApplicationController < ActionController::API
  # Which process answered, so the load generator can tell the source from the target.
  before_action { response.set_header("X-Served-By", ENV.fetch("APP_NAME") { Placement.current }) }

  # A database or Redis refusing (the cutover's fence, a replica, a store being switched)
  # is a 503: retry later. The message's first line says which.
  rescue_from ActiveRecord::ActiveRecordError, Redis::BaseError, "Aws::Errors::ServiceError", "Seahorse::Client::NetworkingError" do |e|
    render json: { error: "#{e.class}: #{e.message.lines.first.to_s.strip}" }, status: :service_unavailable
  end
  rescue_from ActiveRecord::RecordNotFound do
    render json: { error: "Record not found" }, status: :not_found
  end
  rescue_from ActionController::ParameterMissing, ActiveRecord::RecordInvalid do |e|
    render json: { error: e.message }, status: :unprocessable_entity
  end
end
