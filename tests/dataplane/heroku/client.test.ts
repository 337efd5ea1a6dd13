// The Platform API client against the local Heroku API: headers, paging across
// several pages, 429 and 5xx backoff within bounds, and a clear error for every
// failure (401, 403, 404, 422, network), never showing the key.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer } from "node:http";
import { startHerokuApi, FakeHerokuApi } from "../../../rehearsal/servers/heroku-api";
import { freePort } from "../../../rehearsal/servers";
import { HerokuApiError, HerokuClient, HerokuClientOptions, parseRetryAfter } from "../../../dataplane/heroku/client";
import { API_KEY, LIMITED_KEY, PAGE_SIZE, mastodonApp, otherApp } from "./seed";

let api: FakeHerokuApi;
let waits: number[] = [];

/** A client whose sleeps are recorded (and skipped): the waits it chose are what we check. */
function client(extra: Partial<HerokuClientOptions> = {}): HerokuClient {
  waits = [];
  return new HerokuClient({ apiKey: API_KEY, baseUrl: api.url, sleep: async (ms) => void waits.push(ms), ...extra });
}

async function failure(p: Promise<unknown>): Promise<HerokuApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HerokuApiError);
  expect((err as Error).message).not.toContain(API_KEY);
  return err as HerokuApiError;
}

beforeAll(async () => {
  api = await startHerokuApi({ apiKey: API_KEY, limitedKeys: { [LIMITED_KEY]: ["someone-elses"] }, pageSize: PAGE_SIZE, apps: [mastodonApp(), otherApp()] });
});

afterAll(async () => {
  await api.stop();
});

describe("HerokuClient", () => {
  test("sends the v3 Accept header and the key as a Bearer token", async () => {
    api.requests.length = 0;
    const app = await client().getApp("famichiki");
    expect(app).toMatchObject({ name: "famichiki", maintenance: false });
    expect(api.requests[0]).toMatchObject({ method: "GET", path: "/apps/famichiki", accept: "application/vnd.heroku+json; version=3", status: 200 });
  });

  test("follows 206 + Next-Range across several pages and returns every item once", async () => {
    api.requests.length = 0;
    const addons = await client().listAddons("famichiki");
    expect(addons.map((a) => a.name).sort()).toEqual(mastodonApp().addons!.map((a) => a.name).sort());
    const pages = api.requests.filter((r) => r.path === "/apps/famichiki/addons");
    expect(pages.map((r) => r.status)).toEqual([206, 206, 200]); // 5 add-ons, 2 per page
    expect(pages[0].range).toBe("id ..; max=200");
    expect(pages[1].range).toMatch(/^id \][0-9a-f-]{36}\.\.; max=200$/);
    expect(new Set(addons.map((a) => a.id)).size).toBe(5);
  });

  test("domains and formation page the same way", async () => {
    const domains = await client().listDomains("famichiki");
    expect(domains.map((d) => d.hostname).sort()).toEqual(["famichiki.herokuapp.com", "famichiki.test", "media.famichiki.test", "www.famichiki.test"]);
    const formation = await client().listFormation("famichiki");
    expect(formation.map((f) => `${f.type}=${f.quantity}:${f.size}`).sort()).toEqual(["sidekiq=1:standard-1X", "streaming=1:standard-1X", "web=2:standard-2X"]);
  });

  test("429 with Retry-After: waits as told, then succeeds", async () => {
    api.rateLimitNext(2, 3);
    const c = client();
    const app = await c.setMaintenance("famichiki", true);
    expect(app.maintenance).toBe(true);
    expect(waits.slice(0, 2)).toEqual([3000, 3000]);
    expect(api.app("famichiki")!.maintenance).toBe(true);
    await c.setMaintenance("famichiki", false);
  });

  test("429 without Retry-After backs off exponentially", async () => {
    api.rateLimitNext(3);
    await client({ baseBackoffMs: 100 }).getConfigVars("famichiki");
    expect(waits).toEqual([100, 200, 400]);
  });

  test("a success reporting RateLimit-Remaining: 0 spaces out the next request", async () => {
    api.setRateLimitRemaining(1);
    const c = client();
    await c.getApp("famichiki");
    expect(c.rateLimitRemaining).toBe(0);
    expect(waits).toEqual([]);
    await c.getApp("famichiki");
    expect(waits).toEqual([1000]);
    expect(c.rateLimitRemaining).toBeGreaterThan(0);
  });

  test("the backoff is bounded: too many 429s fail with the status and Heroku's message", async () => {
    api.rateLimitNext(3);
    const err = await failure(client({ maxAttempts: 3, baseBackoffMs: 10 }).getApp("famichiki"));
    expect(err.status).toBe(429);
    expect(err.message).toBe("Heroku API 429 rate_limit on GET /apps/famichiki after 3 attempts (rate limit reached): Your account reached the API rate limit Please wait a few minutes before making new requests");
  });

  test("a Retry-After longer than the client will wait fails at once instead of hanging", async () => {
    api.rateLimitNext(1, 3600);
    const err = await failure(client({ maxRetryWaitMs: 60_000 }).getApp("famichiki"));
    expect(err.message).toBe("Heroku API 429 on GET /apps/famichiki: asked to wait 3600 s, more than the 60 s this client waits; try again later");
    expect(waits).toEqual([]);
  });

  test("503 is retried, then succeeds", async () => {
    api.failNext(1, 503);
    expect(await client({ baseBackoffMs: 5 }).getApp("famichiki")).toMatchObject({ name: "famichiki" });
    expect(waits).toEqual([5]);
  });

  test.each([
    ["401 wrong key", { apiKey: "wrong" }, "famichiki", 401, "unauthorized", "Heroku API 401 unauthorized on GET /apps/famichiki (the API key is missing, wrong or expired): Invalid credentials provided."],
    ["403 no access", { apiKey: LIMITED_KEY }, "famichiki", 403, "forbidden", "Heroku API 403 forbidden on GET /apps/famichiki (the API key's account may not do this to this app): You do not have access to the app famichiki."],
    ["404 no app", {}, "no-such-app", 404, "not_found", "Heroku API 404 not_found on GET /apps/no-such-app (no such app or resource): Couldn't find that app."],
  ])("%s: status, Heroku's id and message", async (_name, extra, app, status, id, message) => {
    const err = await failure(client(extra).getApp(app));
    expect({ status: err.status, id: err.errorId, message: err.message }).toEqual({ status, id, message });
    expect(waits).toEqual([]); // nothing to retry: the request as given cannot succeed
  });

  test("422: Heroku's reason is shown (attachment vars cannot be overwritten)", async () => {
    const err = await failure(client().updateConfigVars("famichiki", { DATABASE_URL: "postgres://new" }));
    expect(err.status).toBe(422);
    expect(err.errorId).toBe("invalid_params");
    expect(err.message).toBe("Heroku API 422 invalid_params on PATCH /apps/famichiki/config-vars (Heroku refused the request as invalid): Cannot overwrite attachment values DATABASE_URL.");
  });

  test("a formation update is all or nothing: one bad size changes nothing", async () => {
    const err = await failure(client().updateFormation("famichiki", [{ type: "web", quantity: 5 }, { type: "sidekiq", size: "huge" }]));
    expect(err.status).toBe(422);
    expect(api.app("famichiki")!.formation.find((f) => f.type === "web")!.quantity).toBe(2);
  });

  test("nothing listening: a network error after bounded retries", async () => {
    const port = await freePort();
    const err = await failure(client({ baseUrl: `http://127.0.0.1:${port}`, maxAttempts: 3, baseBackoffMs: 1 }).getApp("famichiki"));
    expect(err.status).toBe(0);
    expect(err.errorId).toBe("network_error");
    expect(err.message).toBe(`cannot reach the Heroku API at http://127.0.0.1:${port} (GET /apps/famichiki): ECONNREFUSED`);
    expect(waits).toEqual([1, 2]);
  });

  test("a non-JSON error page (a proxy in the way) is reported with its text", async () => {
    const port = await freePort();
    const proxy = createServer((_req, res) => {
      res.writeHead(404, { "content-type": "text/html" });
      res.end("<html><body>Not Here</body></html>");
    });
    await new Promise<void>((r) => proxy.listen(port, "127.0.0.1", r));
    try {
      const err = await failure(client({ baseUrl: `http://127.0.0.1:${port}` }).getApp("famichiki"));
      expect(err.message).toBe("Heroku API 404 unknown_error on GET /apps/famichiki (no such app or resource): <html><body>Not Here</body></html>");
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  test("Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("7")).toBe(7000);
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    expect(parseRetryAfter(inTenSeconds)).toBeGreaterThan(8000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("the local Heroku API itself", () => {
  test("refuses a request without the v3 Accept header, like Heroku", async () => {
    const res = await fetch(`${api.url}/apps/famichiki`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { id: string }).id).toBe("missing_version");
  });

  test("416 for a Range on a field the endpoint does not sort by", async () => {
    const res = await fetch(`${api.url}/apps/famichiki/addons`, {
      headers: { authorization: `Bearer ${API_KEY}`, accept: "application/vnd.heroku+json; version=3", range: "plan ..; max=2" },
    });
    expect(res.status).toBe(416);
    expect(res.headers.get("ratelimit-remaining")).toMatch(/^\d+$/);
  });

  test("descending ranges page from the other end", async () => {
    const headers = { authorization: `Bearer ${API_KEY}`, accept: "application/vnd.heroku+json; version=3" };
    const first = await fetch(`${api.url}/apps/famichiki/domains`, { headers: { ...headers, range: "hostname ..; max=2, order=desc" } });
    expect(first.status).toBe(206);
    expect(((await first.json()) as Array<{ hostname: string }>).map((d) => d.hostname)).toEqual(["www.famichiki.test", "media.famichiki.test"]);
    const next = first.headers.get("next-range")!;
    expect(next).toBe("hostname ]media.famichiki.test..; max=2, order=desc");
    const second = await fetch(`${api.url}/apps/famichiki/domains`, { headers: { ...headers, range: next } });
    expect(second.status).toBe(200);
    expect(((await second.json()) as Array<{ hostname: string }>).map((d) => d.hostname)).toEqual(["famichiki.test", "famichiki.herokuapp.com"]);
  });
});
