// A typed, fetch-based client for the Heroku Platform API (v3): the CLI, the rehearsal
// and the Pulumi program (dynamic provider or Command) share it, so it knows nothing
// about flags, env vars or printing. It pages through Range / Next-Range, waits out
// 429 (Retry-After, RateLimit-Remaining) and transient failures a bounded number of
// times, and turns every error into one HerokuApiError that names the status, Heroku's
// error id and message, but never the API key.
import { Addon, AddonAttachment, ConfigVars, ConfigVarsPatch, Domain, DynoSize, Formation, FormationUpdate, HerokuApp, HerokuErrorBody, LogDrain, Plan, Release, Slug } from "./types";

export const DEFAULT_HEROKU_API_URL = "https://api.heroku.com";
export const HEROKU_ACCEPT = "application/vnd.heroku+json; version=3";

export interface HerokuClientOptions {
  apiKey: string;
  /** API base URL (tests and proxies point this elsewhere). */
  baseUrl?: string;
  /** Tries per request when rate-limited, on 5xx or on a network error (default 5). */
  maxAttempts?: number;
  /** The longest single wait; a Retry-After beyond it fails at once rather than hang (default 60 s). */
  maxRetryWaitMs?: number;
  /** First backoff when the server gives no Retry-After; doubles per attempt (default 500 ms). */
  baseBackoffMs?: number;
  /** Page size asked for with Range max= (Heroku: default 200, at most 1000). */
  pageSize?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  userAgent?: string;
}

/** What a retry, a page or a rate-limit pause looks like, for callers that log. */
export type ClientEvent =
  | { kind: "retry"; method: string; path: string; attempt: number; waitMs: number; reason: string }
  | { kind: "page"; path: string; page: number; items: number };

export class HerokuApiError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 for a network failure. */
    readonly status: number,
    /** Heroku's error id (e.g. "not_found", "invalid_params"), or a local one. */
    readonly errorId: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(message);
    this.name = "HerokuApiError";
  }
}

/** Why each status happens, in words a person can act on. */
const STATUS_HINTS: Record<number, string> = {
  400: "bad request",
  401: "the API key is missing, wrong or expired",
  402: "the account is delinquent",
  403: "the API key's account may not do this to this app",
  404: "no such app or resource",
  409: "conflict with the resource's current state",
  416: "bad Range header",
  422: "Heroku refused the request as invalid",
  429: "rate limit reached",
};

const RETRYABLE = new Set([429, 500, 502, 503, 504]);

interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export class HerokuClient {
  private readonly baseUrl: string;
  private readonly maxAttempts: number;
  private readonly maxRetryWaitMs: number;
  private readonly baseBackoffMs: number;
  private readonly pageSize: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** The RateLimit-Remaining the API last reported (undefined before any answer). */
  rateLimitRemaining: number | undefined;
  /** A success reported no tokens left: pause before the next request rather than earn a 429. */
  private paceNext = false;
  onEvent: ((e: ClientEvent) => void) | undefined;

  constructor(private readonly opts: HerokuClientOptions) {
    if (!opts.apiKey) throw new HerokuApiError("no Heroku API key given", 0, "missing_api_key", "", "");
    this.baseUrl = (opts.baseUrl ?? DEFAULT_HEROKU_API_URL).replace(/\/+$/, "");
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.maxRetryWaitMs = opts.maxRetryWaitMs ?? 60_000;
    this.baseBackoffMs = opts.baseBackoffMs ?? 500;
    this.pageSize = Math.min(1000, Math.max(1, opts.pageSize ?? 200));
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  getApp(app: string): Promise<HerokuApp> {
    return this.request<HerokuApp>("GET", appPath(app));
  }

  /** Maintenance mode on or off; returns the app as Heroku now has it. */
  setMaintenance(app: string, on: boolean): Promise<HerokuApp> {
    return this.request<HerokuApp>("PATCH", appPath(app), { maintenance: on });
  }

  getConfigVars(app: string): Promise<ConfigVars> {
    return this.request<ConfigVars>("GET", `${appPath(app)}/config-vars`);
  }

  /** Set (string) or delete (null) config vars in one change; returns the full new set. */
  updateConfigVars(app: string, patch: ConfigVarsPatch): Promise<ConfigVars> {
    return this.request<ConfigVars>("PATCH", `${appPath(app)}/config-vars`, patch);
  }

  listFormation(app: string): Promise<Formation[]> {
    return this.list<Formation>(`${appPath(app)}/formation`);
  }

  /** Scale process types (quantity and/or size) in one change; returns the changed entries. */
  updateFormation(app: string, updates: FormationUpdate[]): Promise<Formation[]> {
    return this.request<Formation[]>("PATCH", `${appPath(app)}/formation`, { updates });
  }

  listAddons(app: string): Promise<Addon[]> {
    return this.list<Addon>(`${appPath(app)}/addons`);
  }

  /**
   * POST /apps/{app}/addons: provision an add-on of `plan` (e.g. "scheduler:standard"), 201
   * (https://devcenter.heroku.com/articles/platform-api-reference#add-on-create).
   */
  createAddon(app: string, plan: string): Promise<Addon> {
    return this.request<Addon>("POST", `${appPath(app)}/addons`, { plan });
  }

  /** Release an add-on (its data goes with it on Heroku's side: only at decommission). */
  destroyAddon(app: string, addon: string): Promise<Addon> {
    return this.request<Addon>("DELETE", `${appPath(app)}/addons/${encodeURIComponent(addon)}`);
  }

  /** GET /apps/{app}/addon-attachments: the names under which add-ons give the app their vars. */
  listAttachments(app: string): Promise<AddonAttachment[]> {
    return this.list<AddonAttachment>(`${appPath(app)}/addon-attachments`);
  }

  /** POST /addon-attachments: attach an add-on to the app under `name` (it sets NAME_URL). */
  createAttachment(app: string, addon: string, name: string): Promise<AddonAttachment> {
    return this.request<AddonAttachment>("POST", "/addon-attachments", { app, addon, name });
  }

  /** DELETE /addon-attachments/{id}: detach (the add-on itself and its data stay). */
  deleteAttachment(id: string): Promise<AddonAttachment> {
    return this.request<AddonAttachment>("DELETE", `/addon-attachments/${encodeURIComponent(id)}`);
  }

  listDomains(app: string): Promise<Domain[]> {
    return this.list<Domain>(`${appPath(app)}/domains`);
  }

  /**
   * The release the app runs now: releases newest first (`Range: version ..; order=desc`),
   * the first that succeeded and carries a slug. A pending or failed release (its release
   * phase running or failed) is not what the dynos run. Stops paging as soon as found.
   */
  async currentRelease(app: string): Promise<Release> {
    const path = `${appPath(app)}/releases`;
    for await (const page of this.pages<Release>(path, `version ..; max=${this.pageSize}, order=desc`)) {
      const current = page.find((r) => r.status === "succeeded" && r.slug?.id);
      if (current) return current;
    }
    throw new HerokuApiError(
      `Heroku app ${app} has no succeeded release with a slug: nothing deployed yet, or a newer-generation (Fir) app built into an image; give ferry:target.compute an image instead`,
      404,
      "no_slug_release",
      "GET",
      path,
    );
  }

  // ---- read-only inventory (ferry init) ----

  listDynoSizes(): Promise<DynoSize[]> {
    return this.list<DynoSize>("/dyno-sizes");
  }

  listLogDrains(app: string): Promise<LogDrain[]> {
    return this.list<LogDrain>(`${appPath(app)}/log-drains`);
  }

  getSlug(app: string, slugId: string): Promise<Slug> {
    return this.request<Slug>("GET", `${appPath(app)}/slugs/${encodeURIComponent(slugId)}`);
  }

  getAddonPlan(service: string, plan: string): Promise<Plan> {
    return this.request<Plan>("GET", `/addon-services/${encodeURIComponent(service)}/plans/${encodeURIComponent(plan)}`);
  }

  /** Every item of a list endpoint: follows 206 + Next-Range until the last page. */
  async list<T>(path: string, field = "id", order?: "desc"): Promise<T[]> {
    const items: T[] = [];
    for await (const page of this.pages<T>(path, `${field} ..; max=${this.pageSize}${order ? `, order=${order}` : ""}`)) items.push(...page);
    return items;
  }

  /** The pages of a list endpoint, one request each, from `range` until no Next-Range. */
  async *pages<T>(path: string, firstRange: string): AsyncGenerator<T[]> {
    let range: string | undefined = firstRange;
    for (let page = 1; range; page++) {
      const res = await this.send("GET", path, undefined, range);
      if (!Array.isArray(res.body)) throw this.malformed("GET", path, "a list");
      this.onEvent?.({ kind: "page", path, page, items: res.body.length });
      yield res.body as T[];
      const next = res.headers.get("next-range");
      range = res.status === 206 && next ? next : undefined;
      if (page > 10_000) throw this.malformed("GET", path, "a list that ends (Next-Range never stopped)");
    }
  }

  /** One request; the parsed JSON body on 2xx. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.send(method, path, body)).body as T;
  }

  private async send(method: string, path: string, body: unknown, range?: string): Promise<RawResponse> {
    for (let attempt = 1; ; attempt++) {
      await this.paceIfExhausted();
      let res: RawResponse;
      try {
        res = await this.fetchOnce(method, path, body, range);
      } catch (err) {
        const reason = networkReason(err);
        if (attempt >= this.maxAttempts) {
          throw new HerokuApiError(`cannot reach the Heroku API at ${this.baseUrl} (${method} ${path}): ${reason}`, 0, "network_error", method, path);
        }
        await this.wait(method, path, attempt, this.backoff(attempt), reason);
        continue;
      }
      if (res.status >= 200 && res.status < 300) {
        this.paceNext = this.rateLimitRemaining === 0;
        return res;
      }
      if (RETRYABLE.has(res.status) && attempt < this.maxAttempts) {
        const waitMs = this.retryWait(res, attempt, method, path);
        await this.wait(method, path, attempt, waitMs, `${res.status} ${errorBody(res.body).id}`);
        continue;
      }
      throw this.apiError(res, method, path, attempt);
    }
  }

  private async fetchOnce(method: string, path: string, body: unknown, range?: string): Promise<RawResponse> {
    const headers: Record<string, string> = {
      Accept: HEROKU_ACCEPT,
      Authorization: `Bearer ${this.opts.apiKey}`,
      "User-Agent": this.opts.userAgent ?? "ferry",
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (range) headers.Range = range;
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const remaining = res.headers.get("ratelimit-remaining");
    if (remaining !== null && /^\d+$/.test(remaining)) this.rateLimitRemaining = Number(remaining);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // a non-JSON body (a proxy's HTML error page): keep the text for the message
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  /** Heroku refills about 75 tokens a minute: with none left, space requests out instead of earning a 429. */
  private async paceIfExhausted(): Promise<void> {
    if (!this.paceNext) return;
    this.paceNext = false;
    await this.sleep(Math.min(1000, this.maxRetryWaitMs));
  }

  private retryWait(res: RawResponse, attempt: number, method: string, path: string): number {
    const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
    if (retryAfter === undefined) return this.backoff(attempt);
    if (retryAfter > this.maxRetryWaitMs) {
      throw new HerokuApiError(
        `Heroku API ${res.status} on ${method} ${path}: asked to wait ${Math.ceil(retryAfter / 1000)} s, more than the ${Math.ceil(this.maxRetryWaitMs / 1000)} s this client waits; try again later`,
        res.status,
        errorBody(res.body).id,
        method,
        path,
      );
    }
    return retryAfter;
  }

  private backoff(attempt: number): number {
    return Math.min(this.maxRetryWaitMs, this.baseBackoffMs * 2 ** (attempt - 1));
  }

  private async wait(method: string, path: string, attempt: number, waitMs: number, reason: string): Promise<void> {
    this.onEvent?.({ kind: "retry", method, path, attempt, waitMs, reason });
    await this.sleep(waitMs);
  }

  private apiError(res: RawResponse, method: string, path: string, attempts: number): HerokuApiError {
    const { id, message } = errorBody(res.body);
    const hint = STATUS_HINTS[res.status] ?? (res.status >= 500 ? "Heroku-side failure" : "unexpected status");
    const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
    return new HerokuApiError(`Heroku API ${res.status} ${id} on ${method} ${path}${tries} (${hint}): ${message}`, res.status, id, method, path);
  }

  private malformed(method: string, path: string, wanted: string): HerokuApiError {
    return new HerokuApiError(`Heroku API ${method} ${path}: expected ${wanted} in the response`, 0, "malformed_response", method, path);
  }
}

function appPath(app: string): string {
  return `/apps/${encodeURIComponent(app)}`;
}

/** Heroku's `{id, message}`, or what we can make of a body that is not one. */
function errorBody(body: unknown): HerokuErrorBody {
  if (body && typeof body === "object" && "id" in body && "message" in body) {
    const b = body as HerokuErrorBody;
    return { id: String(b.id), message: String(b.message).replace(/\s*\n\s*/g, " ").trim() };
  }
  const text = typeof body === "string" ? body.replace(/\s+/g, " ").trim().slice(0, 200) : "";
  return { id: "unknown_error", message: text || "no error body" };
}

/** Retry-After as delay-seconds or an HTTP date, in ms. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return "timed out";
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
