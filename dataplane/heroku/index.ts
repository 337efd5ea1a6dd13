// What the Pulumi program (dynamic provider or Commands) and the rehearsal import.
export { HerokuClient, HerokuApiError, DEFAULT_HEROKU_API_URL, HEROKU_ACCEPT, parseRetryAfter } from "./client";
export type { HerokuClientOptions, ClientEvent } from "./client";
export { downloadSlug, SlugDownloadError, expectedSha256 } from "./slug";
export type { DownloadedSlug } from "./slug";
export type * from "./types";
