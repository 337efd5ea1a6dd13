# Mastodon's /health: the process answers (no database or Redis call).
class HealthController < ActionController::API
  def show
    render plain: "OK"
  end
end
