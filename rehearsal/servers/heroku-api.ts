// A local HTTP server that follows Heroku's documented Platform API (v3) for the parts
// ferry drives: apps (maintenance), config-vars, formation, add-ons and domains. It
// keeps state, checks the Accept version and the API key, pages list endpoints with
// Range / 206 + Next-Range at a deliberately small page size, reports
// RateLimit-Remaining, and can be told to answer 429 (with Retry-After) or 5xx next,
// so the client, the CLI and the rehearsal meet the same behaviour as the real API.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { FakeReleases, FakeReleaseSeed } from "./heroku-releases";

export type { FakeReleaseSeed, FakeSlugSeed } from "./heroku-releases";

export interface FakeAppSeed {
  name: string;
  maintenance?: boolean;
  configVars?: Record<string, string>;
  formation?: Array<{ type: string; quantity: number; size?: string; command?: string }>;
  /** Each add-on's config vars are attachment values: visible, but PATCH may not change them. */
  addons?: Array<{ name: string; service: string; plan: string; configVars?: Record<string, string> }>;
  domains?: Array<{ hostname: string; kind?: "heroku" | "custom" }>;
  /** Releases, oldest first (versions 1, 2, ...), each with its slug tarball. */
  releases?: FakeReleaseSeed[];
}

export interface FakeHerokuOptions {
  /** The key with access to every app. */
  apiKey: string;
  /** Keys that may only touch the listed apps (403 on the others). */
  limitedKeys?: Record<string, string[]>;
  /** Largest page served whatever `max=` asks for: small, so tests cross several pages. */
  pageSize?: number;
  apps?: FakeAppSeed[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  range?: string;
  accept?: string;
  /** The body as received (config values included: tests check them; never log this). */
  body?: unknown;
  status: number;
}

interface Ref {
  id: string;
  name: string;
}

export interface FakeFormation {
  id: string;
  type: string;
  quantity: number;
  size: string;
  command: string;
}

export interface FakeApp {
  id: string;
  name: string;
  maintenance: boolean;
  configVars: Record<string, string>;
  /** Config var names owned by add-on attachments. */
  attachmentVars: Set<string>;
  formation: FakeFormation[];
  addons: Array<{ id: string; name: string; service: Ref; plan: Ref; configVars: string[] }>;
  domains: Array<{ id: string; hostname: string; kind: "heroku" | "custom"; cname: string | null }>;
}

export interface FakeHerokuApi {
  url: string;
  port: number;
  requests: RecordedRequest[];
  app(name: string): FakeApp | undefined;
  /** The next `times` requests get 429 rate_limit, with Retry-After when given (seconds). */
  rateLimitNext(times: number, retryAfterSeconds?: number): void;
  /** The next `times` requests get this status with a Heroku error body (e.g. 503). */
  failNext(times: number, status: number, id?: string, message?: string): void;
  /** Tokens left before the next request spends one (RateLimit-Remaining reports what is left after it). */
  setRateLimitRemaining(tokens: number): void;
  /** Releases, slugs and their blobs: deploy a new release, settle a release phase, expire blob URLs. */
  releases: FakeReleases;
  stop(): Promise<void>;
}

const ACCEPT = /application\/vnd\.heroku\+json;\s*version=3/;
const RATE_LIMIT_TOKENS = 4500;
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 200;
const CREATED = "2026-01-01T00:00:00Z";
/** Dyno sizes Heroku accepts (matched case-insensitively, returned in this spelling). */
const DYNO_SIZES = ["eco", "basic", "standard-1X", "standard-2X", "performance-M", "performance-L", "private-S", "private-M", "private-L"];

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

const notFoundApp = () => new ApiError(404, "not_found", "Couldn't find that app.");

function seedApp(seed: FakeAppSeed): FakeApp {
  const app: FakeApp = {
    id: randomUUID(),
    name: seed.name,
    maintenance: seed.maintenance ?? false,
    configVars: { ...seed.configVars },
    attachmentVars: new Set(),
    formation: (seed.formation ?? []).map((f) => ({
      id: randomUUID(),
      type: f.type,
      quantity: f.quantity,
      size: f.size ?? "basic",
      command: f.command ?? `bin/${f.type}`,
    })),
    addons: [],
    domains: [{ id: randomUUID(), hostname: `${seed.name}.herokuapp.com`, kind: "heroku", cname: null }],
  };
  for (const a of seed.addons ?? []) {
    const vars = a.configVars ?? {};
    app.addons.push({ id: randomUUID(), name: a.name, service: { id: randomUUID(), name: a.service }, plan: { id: randomUUID(), name: a.plan }, configVars: Object.keys(vars) });
    for (const [k, v] of Object.entries(vars)) {
      app.configVars[k] = v;
      app.attachmentVars.add(k);
    }
  }
  for (const d of seed.domains ?? []) {
    const kind = d.kind ?? "custom";
    app.domains.push({ id: randomUUID(), hostname: d.hostname, kind, cname: kind === "custom" ? `${d.hostname.replace(/\./g, "-")}.herokudns.com` : null });
  }
  return app;
}

function appRef(app: FakeApp): Ref {
  return { id: app.id, name: app.name };
}

function appJson(app: FakeApp) {
  return {
    id: app.id,
    name: app.name,
    maintenance: app.maintenance,
    web_url: `https://${app.name}.herokuapp.com/`,
    region: { id: "59accabd-516d-4f0e-83e6-6e3757701145", name: "us" },
    created_at: CREATED,
    updated_at: new Date().toISOString(),
  };
}

function formationJson(app: FakeApp, f: FakeFormation) {
  return { ...f, app: appRef(app), created_at: CREATED, updated_at: new Date().toISOString() };
}

function addonJson(app: FakeApp, a: FakeApp["addons"][number]) {
  return { id: a.id, name: a.name, addon_service: a.service, plan: a.plan, state: "provisioned", app: appRef(app), config_vars: a.configVars, web_url: null };
}

function domainJson(app: FakeApp, d: FakeApp["domains"][number]) {
  return { ...d, status: "succeeded", app: appRef(app), created_at: CREATED, updated_at: CREATED };
}

interface ParsedRange {
  field: string;
  start: string;
  exclusive: boolean;
  max: number;
  desc: boolean;
}

/** `Range: <field> [ ]]<start>..[<end>][; max=<n>][, order=<asc|desc>][;]` as Heroku documents it. */
function parseRange(header: string | undefined, fields: string[]): ParsedRange {
  if (!header) return { field: fields[0], start: "", exclusive: false, max: DEFAULT_PAGE, desc: false };
  // The start value runs up to the first "..", so it may itself contain dots (hostnames).
  const m = /^\s*(\w+)\s+(\]?)([^\s;]*?)\.\.([^\s;]*)\s*(?:;\s*(.*))?$/.exec(header);
  if (!m || !fields.includes(m[1])) {
    throw new ApiError(416, "requested_range_not_satisfiable", `Invalid Range header; ranges may be on ${fields.join(", ")}.`);
  }
  const params = Object.fromEntries(
    (m[5] ?? "")
      .split(/[;,]/)
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => p.split("=").map((s) => s.trim()) as [string, string]),
  );
  const max = params.max === undefined ? DEFAULT_PAGE : Number(params.max);
  if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE) {
    throw new ApiError(416, "requested_range_not_satisfiable", `Range max must be between 1 and ${MAX_PAGE}.`);
  }
  return { field: m[1], start: m[3], exclusive: m[2] === "]", max, desc: params.order === "desc" };
}

/** One page of `items` for the Range, with the Next-Range to ask for the rest. */
function page<T extends Record<string, unknown>>(items: T[], range: ParsedRange, pageSize: number): { body: T[]; next?: string; contentRange: string } {
  const key = (t: T) => String(t[range.field]);
  // Releases range on `version`, a number: 10 sorts after 9.
  const numeric = /^\d+$/;
  const compare = (a: string, b: string) =>
    numeric.test(a) && numeric.test(b) ? Math.sign(Number(a) - Number(b)) : a < b ? -1 : a > b ? 1 : 0;
  const sorted = [...items].sort((a, b) => compare(key(a), key(b)));
  if (range.desc) sorted.reverse();
  // "Start" is the first value in the listing's order: the smallest ascending, the largest descending.
  const after = (t: T) => {
    if (!range.start) return true;
    const cmp = range.desc ? compare(range.start, key(t)) : compare(key(t), range.start);
    return range.exclusive ? cmp > 0 : cmp >= 0;
  };
  const rest = sorted.filter(after);
  const size = Math.min(range.max, pageSize);
  const body = rest.slice(0, size);
  const last = body.length ? key(body[body.length - 1]) : "";
  const contentRange = `${range.field} ${body.length ? key(body[0]) : ""}..${last}`;
  const order = range.desc ? ", order=desc" : "";
  const next = rest.length > size ? `${range.field} ]${last}..; max=${range.max}${order}` : undefined;
  return { body, next, contentRange };
}

export async function startHerokuApi(opts: FakeHerokuOptions): Promise<FakeHerokuApi> {
  const apps = new Map<string, FakeApp>();
  for (const seed of opts.apps ?? []) apps.set(seed.name, seedApp(seed));
  const releases = new FakeReleases();
  for (const seed of opts.apps ?? []) releases.seed(seed.name, seed.releases);
  const requests: RecordedRequest[] = [];
  const pageSize = opts.pageSize ?? DEFAULT_PAGE;
  let remaining = RATE_LIMIT_TOKENS;
  const injected: Array<{ status: number; id: string; message: string; retryAfter?: number }> = [];

  const findApp = (nameOrId: string) => apps.get(nameOrId) ?? [...apps.values()].find((a) => a.id === nameOrId);

  function authorize(req: IncomingMessage): string {
    const auth = req.headers.authorization ?? "";
    let key = "";
    if (auth.startsWith("Bearer ")) key = auth.slice(7);
    else if (auth.startsWith("Basic ")) key = Buffer.from(auth.slice(6), "base64").toString().split(":").slice(1).join(":");
    if (key !== opts.apiKey && !(opts.limitedKeys && key in opts.limitedKeys)) {
      throw new ApiError(401, "unauthorized", "Invalid credentials provided.");
    }
    return key;
  }

  function appFor(key: string, name: string): FakeApp {
    const app = findApp(name);
    if (!app) throw notFoundApp();
    const allowed = key === opts.apiKey || (opts.limitedKeys?.[key] ?? []).includes(app.name);
    if (!allowed) throw new ApiError(403, "forbidden", `You do not have access to the app ${app.name}.`);
    return app;
  }

  function patchApp(app: FakeApp, body: Record<string, unknown>) {
    if ("maintenance" in body && typeof body.maintenance !== "boolean") throw new ApiError(422, "invalid_params", "Maintenance must be true or false.");
    if (body.maintenance !== undefined) app.maintenance = body.maintenance as boolean;
    return appJson(app);
  }

  function patchConfigVars(app: FakeApp, body: Record<string, unknown>) {
    const attachment = Object.keys(body).filter((k) => app.attachmentVars.has(k));
    if (attachment.length) throw new ApiError(422, "invalid_params", `Cannot overwrite attachment values ${attachment.join(", ")}.`);
    for (const [k, v] of Object.entries(body)) {
      if (v !== null && typeof v !== "string") throw new ApiError(422, "invalid_params", `Config var ${k} must be a string or null.`);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new ApiError(422, "invalid_params", `Invalid config var name: ${k}.`);
    }
    for (const [k, v] of Object.entries(body)) {
      if (v === null) delete app.configVars[k];
      else app.configVars[k] = v as string;
    }
    return { ...app.configVars };
  }

  /** Validates every update before applying any: Heroku's batch update is all or nothing. */
  function patchFormation(app: FakeApp, body: Record<string, unknown>) {
    const updates = body.updates;
    if (!Array.isArray(updates) || updates.length === 0) throw new ApiError(422, "invalid_params", "Updates must be a non-empty array.");
    const planned = updates.map((u: Record<string, unknown>) => {
      const f = app.formation.find((x) => x.type === u.type);
      if (!f) throw new ApiError(404, "not_found", "Couldn't find that formation.");
      if (u.quantity !== undefined && !(Number.isInteger(u.quantity) && (u.quantity as number) >= 0)) {
        throw new ApiError(422, "invalid_params", "Quantity must be a non-negative integer.");
      }
      let size: string | undefined;
      if (u.size !== undefined) {
        size = DYNO_SIZES.find((s) => s.toLowerCase() === String(u.size).toLowerCase());
        if (!size) throw new ApiError(422, "invalid_params", `Size ${String(u.size)} is not a valid dyno size.`);
      }
      return { f, quantity: u.quantity as number | undefined, size };
    });
    for (const p of planned) {
      if (p.quantity !== undefined) p.f.quantity = p.quantity;
      if (p.size !== undefined) p.f.size = p.size;
    }
    return planned.map((p) => formationJson(app, p.f));
  }

  function sendList<T extends Record<string, unknown>>(res: ServerResponse, items: T[], fields: string[], rangeHeader: string | undefined): number {
    const p = page(items, parseRange(rangeHeader, fields), pageSize);
    const status = p.next ? 206 : 200;
    const headers: Record<string, string> = { "Accept-Ranges": fields.join(", "), "Content-Range": p.contentRange };
    if (p.next) headers["Next-Range"] = p.next;
    return reply(res, status, p.body, headers);
  }

  function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
    res.writeHead(status, {
      "Content-Type": "application/json",
      "RateLimit-Remaining": String(remaining),
      "Request-Id": randomUUID(),
      ...headers,
    });
    res.end(JSON.stringify(body));
    return status;
  }

  async function route(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<number> {
    // Slug blobs live on Heroku's storage, not the API: no Accept, no API key, no injected API errors.
    if (FakeReleases.isBlob(req.url ?? "")) return releases.serveBlob(req, res);
    const injectedError = injected.shift();
    if (injectedError) {
      const headers: Record<string, string> = {};
      if (injectedError.retryAfter !== undefined) headers["Retry-After"] = String(injectedError.retryAfter);
      if (injectedError.status === 429) remaining = 0;
      return reply(res, injectedError.status, { id: injectedError.id, message: injectedError.message }, headers);
    }
    if (!ACCEPT.test(req.headers.accept ?? "")) {
      throw new ApiError(400, "missing_version", "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.");
    }
    const key = authorize(req);
    remaining = Math.max(0, remaining === 0 ? RATE_LIMIT_TOKENS - 1 : remaining - 1);
    const url = new URL(req.url ?? "/", "http://localhost");
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== "apps" || parts.length < 2 || parts.length > 4) throw endpointNotFound();
    const app = appFor(key, parts[1]);
    const resource = parts.length === 4 ? `${parts[2]}/:id` : (parts[2] ?? "");
    const method = req.method ?? "GET";
    const range = req.headers.range;
    const obj = () => {
      if (!body || typeof body !== "object" || Array.isArray(body)) throw new ApiError(400, "bad_request", "Request body must be a JSON object.");
      return body as Record<string, unknown>;
    };
    switch (`${method} ${resource}`) {
      case "GET ":
        return reply(res, 200, appJson(app));
      case "PATCH ":
        return reply(res, 200, patchApp(app, obj()));
      case "GET config-vars":
        return reply(res, 200, { ...app.configVars });
      case "PATCH config-vars":
        return reply(res, 200, patchConfigVars(app, obj()));
      case "GET formation":
        return sendList(res, app.formation.map((f) => formationJson(app, f)), ["id", "type"], range);
      case "PATCH formation":
        return reply(res, 200, patchFormation(app, obj()));
      case "GET addons":
        return sendList(res, app.addons.map((a) => addonJson(app, a)), ["id", "name"], range);
      case "DELETE addons/:id": {
        const i = app.addons.findIndex((a) => a.name === parts[3] || a.id === parts[3]);
        if (i < 0) throw new ApiError(404, "not_found", "Couldn't find that add on.");
        const [gone] = app.addons.splice(i, 1);
        for (const v of gone.configVars) delete app.configVars[v];
        return reply(res, 200, { ...addonJson(app, gone), state: "deprovisioned" });
      }
      case "GET domains":
        return sendList(res, app.domains.map((d) => domainJson(app, d)), ["id", "hostname"], range);
      case "GET releases":
        return sendList(res, releases.releasesJson(app), ["id", "version"], range);
      case "GET slugs/:id": {
        const slug = releases.slugJson(app, parts[3], `http://127.0.0.1:${port}`);
        if (!slug) throw new ApiError(404, "not_found", "Couldn't find that slug.");
        return reply(res, 200, slug);
      }
      default:
        throw endpointNotFound();
    }
  }

  let port = 0;
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", async () => {
      const record: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", range: req.headers.range, accept: req.headers.accept, status: 0 };
      requests.push(record);
      try {
        let body: unknown;
        if (raw) {
          try {
            body = JSON.parse(raw);
          } catch {
            throw new ApiError(400, "bad_request", "Invalid JSON in the request body.");
          }
        }
        record.body = body;
        record.status = await route(req, res, body);
      } catch (err) {
        const e = err instanceof ApiError ? err : new ApiError(500, "internal_server_error", String(err));
        record.status = reply(res, e.status, { id: e.id, message: e.message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    app: (name) => apps.get(name),
    rateLimitNext(times, retryAfterSeconds) {
      for (let i = 0; i < times; i++) {
        injected.push({ status: 429, id: "rate_limit", message: "Your account reached the API rate limit\nPlease wait a few minutes before making new requests", retryAfter: retryAfterSeconds });
      }
    },
    failNext(times, status, id = "service_unavailable", message = "The service is temporarily unavailable.") {
      for (let i = 0; i < times; i++) injected.push({ status, id, message });
    },
    setRateLimitRemaining(tokens) {
      remaining = tokens;
    },
    releases,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function endpointNotFound(): ApiError {
  return new ApiError(
    404,
    "not_found",
    "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?",
  );
}
