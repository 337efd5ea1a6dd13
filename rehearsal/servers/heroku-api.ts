// A local HTTP server that follows Heroku's documented Platform API (v3) for the parts
// ferry drives: apps (maintenance), config-vars, formation, add-ons (list, create,
// destroy), add-on attachments (an add-on shared between apps too) and domains. It
// keeps state, checks the Accept version and the API key, pages list endpoints with
// Range / 206 + Next-Range at a deliberately small page size, reports
// RateLimit-Remaining, and can be told to answer 429 (with Retry-After) or 5xx next,
// so the client, the CLI and the rehearsal meet the same behaviour as the real API. An
// add-on's credentials rotate as Heroku rotates them: a new password on the server, then
// every attachment's config var updated (rotateCredentials).
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { FakeReleases, FakeReleaseSeed } from "./heroku-releases";

export type { FakeReleaseSeed, FakeSlugSeed } from "./heroku-releases";

export interface FakeAppSeed {
  name: string;
  maintenance?: boolean;
  configVars?: Record<string, string>;
  formation?: Array<{ type: string; quantity: number; size?: string; command?: string }>;
  /**
   * Each add-on's config vars are attachment values: visible, but PATCH may not change them.
   * `alsoAttachedAs`: further attachments of the add-on, as Heroku Postgres is attached both
   * as DATABASE and as HEROKU_POSTGRESQL_<COLOR> (each gives the app NAME_URL, same value).
   */
  addons?: Array<{ name: string; service: string; plan: string; configVars?: Record<string, string>; alsoAttachedAs?: string[] }>;
  /**
   * Another app's add-ons attached to this one (an add-on shared between apps, as
   * `heroku addons:attach ADDON -a APP --as NAME` does): this app gets NAME_URL, and lists
   * the add-on among its add-ons, billed to its owner.
   */
  attachedFrom?: Array<{ app: string; addon: string; as: string }>;
  domains?: Array<{ hostname: string; kind?: "heroku" | "custom" }>;
  /** Releases, oldest first (versions 1, 2, ...), each with its slug tarball. */
  releases?: FakeReleaseSeed[];
  /** What `ferry init` reads besides the above (see the inventory block below). */
  inventory?: InventorySeed;
}

/**
 * Read-only inventory data for `ferry init`: add-on prices and log drains (releases and
 * slugs are `releases`, served by FakeReleases). Kept apart from the state the migration commands change.
 */
export interface InventorySeed {
  /** Add-on name -> its plan's price in cents a month (served as billed_price and on the plan). */
  addonPriceCents?: Record<string, number>;
  /** Add-ons answered with billed_price null (as older answers are), so a client must ask the plan. */
  withoutBilledPrice?: string[];
  /** Log drain URLs (they may carry credentials, as real ones do). */
  logDrains?: string[];
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

/**
 * An add-on attachment: it gives the app the add-on's config vars under its name, e.g.
 * DATABASE -> DATABASE_URL (https://devcenter.heroku.com/articles/platform-api-reference#add-on-attachment).
 * The app may not overwrite those vars (422); detaching removes them.
 */
export interface FakeAttachment {
  id: string;
  name: string;
  addonId: string;
}

export interface FakeAddon {
  id: string;
  name: string;
  service: Ref;
  plan: Ref;
  configVars: string[];
  /** The add-on's config, by suffix after the attachment name (`_URL` -> the URL). */
  values: Record<string, string>;
}

export interface FakeApp {
  id: string;
  name: string;
  maintenance: boolean;
  configVars: Record<string, string>;
  /** Config var names owned by add-on attachments. */
  attachmentVars: Set<string>;
  formation: FakeFormation[];
  /** The add-ons this app owns (is billed for); others' add-ons reach it by attachments. */
  addons: FakeAddon[];
  attachments: FakeAttachment[];
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
  /**
   * Rotate an add-on's credentials as Heroku does (`heroku pg:credentials:rotate`, `heroku
   * redis:credentials --reset`): `onServer` sets a new password on the store and returns the
   * add-on's new URL, then every attachment of the add-on carries it in its NAME_URL var. A
   * var the add-on no longer owns (DATABASE_URL once repointed) keeps what it holds.
   */
  rotateCredentials(app: string, addon: string, onServer: CredentialRotation): Promise<void>;
  stop(): Promise<void>;
}

/** Sets a new password on the store behind an add-on: its current URL in, the new URL out. */
export type CredentialRotation = (currentUrl: string) => Promise<string>;

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
    attachments: [],
    domains: [{ id: randomUUID(), hostname: `${seed.name}.herokuapp.com`, kind: "heroku", cname: null }],
  };
  for (const a of seed.addons ?? []) {
    const vars = a.configVars ?? {};
    // Heroku names an add-on's first attachment after its config var: DATABASE_URL -> DATABASE.
    const attachmentName = Object.keys(vars)[0]?.replace(/_URL$/, "") ?? a.name.toUpperCase().replace(/-/g, "_");
    const values = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k.slice(attachmentName.length), v]));
    const addon = { id: randomUUID(), name: a.name, service: { id: randomUUID(), name: a.service }, plan: { id: randomUUID(), name: a.plan }, configVars: Object.keys(vars), values };
    app.addons.push(addon);
    attach(app, addon, attachmentName);
    for (const name of a.alsoAttachedAs ?? []) attach(app, addon, name);
  }
  for (const d of seed.domains ?? []) {
    const kind = d.kind ?? "custom";
    app.domains.push({ id: randomUUID(), hostname: d.hostname, kind, cname: kind === "custom" ? `${d.hostname.replace(/\./g, "-")}.herokudns.com` : null });
  }
  return app;
}

/** The config vars an attachment gives the app: its name followed by each of the add-on's suffixes. */
function attachmentVarsOf(addon: FakeAddon, attachment: FakeAttachment): Record<string, string> {
  return Object.fromEntries(Object.entries(addon.values).map(([suffix, v]) => [`${attachment.name}${suffix}`, v]));
}

/** Attach an add-on (this app's, or another's) to the app under `name`. */
function attach(app: FakeApp, addon: FakeAddon, name: string): FakeAttachment {
  const attachment = { id: randomUUID(), name, addonId: addon.id };
  app.attachments.push(attachment);
  for (const [k, v] of Object.entries(attachmentVarsOf(addon, attachment))) {
    app.configVars[k] = v;
    app.attachmentVars.add(k);
  }
  return attachment;
}

function detach(app: FakeApp, attachment: FakeAttachment, addon: FakeAddon): void {
  for (const k of Object.keys(attachmentVarsOf(addon, attachment))) {
    delete app.configVars[k];
    app.attachmentVars.delete(k);
  }
  app.attachments.splice(app.attachments.indexOf(attachment), 1);
}

/**
 * An attachment as the Platform API shows it: `addon.app` is the app that owns the add-on,
 * `app` the one it is attached to (https://devcenter.heroku.com/articles/platform-api-reference#add-on-attachment).
 */
function attachmentJson(app: FakeApp, a: FakeAttachment, owned: OwnedAddon) {
  return { id: a.id, name: a.name, addon: { id: owned.addon.id, name: owned.addon.name, app: appRef(owned.owner) }, app: appRef(app), namespace: null, created_at: CREATED, updated_at: CREATED, web_url: null };
}

/** An add-on and the app it belongs to. */
interface OwnedAddon {
  addon: FakeAddon;
  owner: FakeApp;
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

function addonJson(app: FakeApp, a: FakeAddon) {
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
  // Release versions are numbers: 10 comes after 9, not between 1 and 2.
  const compare = (a: string, b: string) => {
    const [x, y] = /^\d+$/.test(a) && /^\d+$/.test(b) ? [Number(a), Number(b)] : [a, b];
    return x < y ? -1 : x > y ? 1 : 0;
  };
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
  const inventory = inventoryEndpoints(opts.apps ?? [], (key, name) => appFor(key, name));

  const findApp = (nameOrId: string) => apps.get(nameOrId) ?? [...apps.values()].find((a) => a.id === nameOrId);
  /** Add-on names are global on Heroku: an add-on is found by id or name whichever app owns it. */
  const findAddon = (idOrName: string): OwnedAddon | undefined => {
    for (const owner of apps.values()) {
      const addon = owner.addons.find((a) => a.id === idOrName || a.name === idOrName);
      if (addon) return { addon, owner };
    }
    return undefined;
  };
  const addonOf = (attachment: FakeAttachment): OwnedAddon => findAddon(attachment.addonId)!;
  /**
   * GET /apps/{app}/addons lists the add-ons attached to the app, its own and those it
   * shares with the app that owns them, each with that app as `app`
   * (https://devcenter.heroku.com/articles/platform-api-reference#add-on-list-by-app; the
   * Heroku CLI's `heroku addons -a APP` prints such an add-on as "billed to" its owner).
   */
  const addonsReaching = (app: FakeApp): OwnedAddon[] => {
    const foreign = app.attachments.map(addonOf).filter((o) => o.owner !== app);
    return [...app.addons.map((addon) => ({ addon, owner: app })), ...foreign.filter((o, i) => foreign.findIndex((x) => x.addon === o.addon) === i)];
  };
  for (const seed of opts.apps ?? []) {
    for (const shared of seed.attachedFrom ?? []) {
      const owned = findAddon(shared.addon);
      if (!owned || owned.owner.name !== shared.app) throw new Error(`seed: ${seed.name} attaches ${shared.addon}, which is not an add-on of ${shared.app}`);
      attach(apps.get(seed.name)!, owned.addon, shared.as);
    }
  }

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

  /**
   * POST /addon-attachments {addon, app, name} attaches an add-on under a name (its vars
   * appear as NAME_URL...); DELETE /addon-attachments/{id} detaches it (they disappear).
   * A name already used by an attachment, or whose vars the app already sets, is a 422.
   */
  function attachments(method: string, parts: string[], key: string, body: unknown, res: ServerResponse): number {
    if (method === "POST" && parts.length === 1) {
      const b = (body ?? {}) as Record<string, unknown>;
      const app = appFor(key, String(b.app ?? ""));
      // `addon` is the add-on's id or globally unique name: another app's may be attached too.
      const owned = findAddon(String(b.addon ?? ""));
      if (!owned) throw new ApiError(404, "not_found", "Couldn't find that add on.");
      appFor(key, owned.owner.name);
      const { addon } = owned;
      const name = String(b.name ?? "");
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new ApiError(422, "invalid_params", "Name must start with a letter and contain only uppercase letters, digits and underscores.");
      if (app.attachments.some((a) => a.name === name)) throw new ApiError(422, "invalid_params", `Name ${name} is already used by another attachment.`);
      const taken = Object.keys(addon.values).map((suffix) => `${name}${suffix}`).filter((k) => k in app.configVars);
      if (taken.length) throw new ApiError(422, "invalid_params", `Config var ${taken.join(", ")} is already set on ${app.name}.`);
      return reply(res, 201, attachmentJson(app, attach(app, addon, name), owned));
    }
    if (method === "DELETE" && parts.length === 2) {
      for (const app of apps.values()) {
        const attachment = app.attachments.find((a) => a.id === parts[1]);
        if (!attachment) continue;
        appFor(key, app.name);
        const owned = addonOf(attachment);
        const json = attachmentJson(app, attachment, owned);
        detach(app, attachment, owned.addon);
        return reply(res, 200, json);
      }
      throw new ApiError(404, "not_found", "Couldn't find that add on attachment.");
    }
    throw endpointNotFound();
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
    if (parts[0] === "addon-attachments") return attachments(req.method ?? "GET", parts, key, body, res);
    const inventoryAnswer = inventory.route(req.method ?? "GET", parts, key);
    if (inventoryAnswer) return inventoryAnswer.list ? sendList(res, inventoryAnswer.list.items, inventoryAnswer.list.fields, req.headers.range) : reply(res, 200, inventoryAnswer.body);
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
        return sendList(res, addonsReaching(app).map(({ addon, owner }) => ({ ...addonJson(owner, addon), billed_price: inventory.billedPrice(owner.name, addon.name) })), ["id", "name"], range);
      case "POST addons": {
        // Add-on Create (https://devcenter.heroku.com/articles/platform-api-reference#add-on-create):
        // `plan` (name or id) is required; 201 with the add-on, whose name Heroku generates
        // from the service (e.g. scheduler-flat-12345) unless `name` is given.
        const b = obj();
        const plan = typeof b.plan === "string" ? b.plan : typeof (b.plan as { name?: unknown } | undefined)?.name === "string" ? String((b.plan as { name: string }).name) : undefined;
        if (!plan || !/^[a-z0-9-]+:[a-z0-9-]+$/.test(plan)) throw new ApiError(422, "invalid_params", "Couldn't find that add-on plan.");
        const service = plan.split(":")[0];
        const name = typeof b.name === "string" ? b.name : `${service}-${randomUUID().slice(0, 5)}-${Math.floor(10000 + Math.random() * 89999)}`;
        if (app.addons.some((a) => a.name === name)) throw new ApiError(422, "invalid_params", "Name is already taken.");
        const addon = { id: randomUUID(), name, service: { id: randomUUID(), name: service }, plan: { id: randomUUID(), name: plan }, configVars: [], values: {} };
        app.addons.push(addon);
        return reply(res, 201, addonJson(app, addon));
      }
      case "DELETE addons/:id": {
        const i = app.addons.findIndex((a) => a.name === parts[3] || a.id === parts[3]);
        if (i < 0) throw new ApiError(404, "not_found", "Couldn't find that add on.");
        const [gone] = app.addons.splice(i, 1);
        // Destroying an add-on removes its attachments from every app it was shared with.
        for (const other of apps.values()) {
          for (const a of other.attachments.filter((x) => x.addonId === gone.id)) detach(other, a, gone);
        }
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
      case "GET addon-attachments":
        return sendList(res, app.attachments.map((a) => attachmentJson(app, a, addonOf(a))), ["id", "name"], range);
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
    async rotateCredentials(appName, addonName, onServer) {
      const app = apps.get(appName);
      const addon = app?.addons.find((a) => a.name === addonName);
      if (!app || !addon?.values._URL) throw new Error(`no add-on ${addonName} with a URL on app ${appName} to rotate`);
      addon.values._URL = await onServer(addon.values._URL);
      // Every attachment, on every app the add-on is shared with.
      for (const attached of apps.values()) {
        for (const attachment of attached.attachments.filter((a) => a.addonId === addon.id)) Object.assign(attached.configVars, attachmentVarsOf(addon, attachment));
      }
    },
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

// ---- inventory endpoints (ferry init) ------------------------------------------
// Read-only endpoints `ferry init` uses, in the Platform API's documented shapes
// (https://devcenter.heroku.com/articles/platform-api-reference): dyno sizes with
// their cost, add-on plans with their price and log drains. Releases and slugs are
// FakeReleases' (heroku-releases.ts), shared with `ferry heroku release|slug`.

/** Heroku's dyno sizes and list prices a month (https://www.heroku.com/pricing); eco is a shared pool, so no per-dyno cost. */
const DYNO_SIZE_TABLE: Array<{ name: string; memory: number; compute: number; dedicated: boolean; cents: number | null }> = [
  { name: "eco", memory: 0.5, compute: 1, dedicated: false, cents: null },
  { name: "basic", memory: 0.5, compute: 1, dedicated: false, cents: 700 },
  { name: "standard-1X", memory: 0.5, compute: 1, dedicated: false, cents: 2500 },
  { name: "standard-2X", memory: 1, compute: 2, dedicated: false, cents: 5000 },
  { name: "performance-M", memory: 2.5, compute: 11, dedicated: true, cents: 25000 },
  { name: "performance-L", memory: 14, compute: 46, dedicated: true, cents: 50000 },
];

interface InventoryAnswer {
  body?: unknown;
  list?: { items: Record<string, unknown>[]; fields: string[] };
}

function inventoryEndpoints(seeds: FakeAppSeed[], appFor: (key: string, name: string) => FakeApp) {
  const ids = new Map<string, string>();
  const stableId = (what: string) => ids.get(what) ?? (ids.set(what, randomUUID()), ids.get(what)!);
  const seedOf = (app: string) => seeds.find((s) => s.name === app);
  const priceOf = (app: string, addon: string) => seedOf(app)?.inventory?.addonPriceCents?.[addon];

  const dynoSizes = () => DYNO_SIZE_TABLE.map((d) => ({
    id: stableId(`size:${d.name}`), name: d.name, architecture: "amd64", memory: d.memory, compute: d.compute, dedicated: d.dedicated,
    private_space_only: false, precise_dyno_units: d.compute, cost: d.cents === null ? null : { cents: d.cents, unit: "monthly" },
    generation: { id: stableId("generation:cedar"), name: "cedar" },
  }));

  function plan(service: string, planName: string) {
    for (const s of seeds) {
      for (const a of s.addons ?? []) {
        if (a.service === service && (a.plan === planName || a.plan === `${service}:${planName}`)) {
          const cents = priceOf(s.name, a.name);
          if (cents === undefined) break;
          return { id: stableId(`plan:${a.plan}`), name: a.plan, price: { cents, unit: "month", contract: false, metered: false }, state: "public" };
        }
      }
    }
    throw new ApiError(404, "not_found", "Couldn't find that plan.");
  }

  const drains = (app: FakeApp) => (seedOf(app.name)?.inventory?.logDrains ?? []).map((url, i) => ({
    id: stableId(`drain:${app.name}:${i}`), url, token: `d.${stableId(`token:${app.name}:${i}`)}`, addon: null, created_at: CREATED, updated_at: CREATED,
  }));

  return {
    billedPrice(app: string, addon: string) {
      const cents = priceOf(app, addon);
      if (seedOf(app)?.inventory?.withoutBilledPrice?.includes(addon)) return null;
      return cents === undefined ? null : { cents, contract: false, unit: "month" };
    },
    route(method: string, parts: string[], key: string): InventoryAnswer | undefined {
      if (method !== "GET") return undefined;
      if (parts.length === 1 && parts[0] === "dyno-sizes") return { list: { items: dynoSizes(), fields: ["id", "name"] } };
      if (parts.length === 4 && parts[0] === "addon-services" && parts[2] === "plans") return { body: plan(parts[1], parts[3]) };
      if (parts[0] !== "apps" || parts.length < 3) return undefined;
      const resource = parts[2];
      if (resource !== "log-drains") return undefined;
      const app = appFor(key, parts[1]);
      if (resource === "log-drains" && parts.length === 3) return { list: { items: drains(app), fields: ["id", "url", "token"] } };
      throw endpointNotFound();
    },
  };
}
