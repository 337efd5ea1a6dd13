Rails.application.routes.draw do
  get "/health", to: "health#show"

  namespace :api do
    namespace :v1 do
      resources :statuses, only: [:create, :show]
      get "timelines/home", to: "timelines#home"
      resources :media, only: [:create]
    end
  end
end
