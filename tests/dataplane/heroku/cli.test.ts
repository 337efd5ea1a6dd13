// `ferry heroku ...` end to end against the local Heroku API: every command, every
// error path with its exit code, and no secret (key or config value) in the output.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startHerokuApi, FakeHerokuApi } from "../../../rehearsal/servers/heroku-api";
import { freePort, run, tempDir } from "../../../rehearsal/servers";
import { runFerry, FerryRun } from "../traffic/run-ferry";
import { API_KEY, LIMITED_KEY, PAGE_SIZE, mastodonApp, otherApp } from "./seed";

let api: FakeHerokuApi;
const NEW_DB_URL = "postgres://ferry:rds-s3cret-pw@new-db.example:5432/mastodon";

function heroku(args: string[], env: NodeJS.ProcessEnv = {}): Promise<FerryRun> {
  return runFerry(args, { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, ...env });
}

/** Nothing a command prints may contain the key or a secret value. */
function expectNoSecrets(r: FerryRun): void {
  for (const secret of [API_KEY, "rds-s3cret-pw", "pgsecret", "redissecret"]) {
    expect(r.stdout + r.stderr).not.toContain(secret);
  }
}

beforeAll(async () => {
  api = await startHerokuApi({ apiKey: API_KEY, limitedKeys: { [LIMITED_KEY]: ["someone-elses"] }, pageSize: PAGE_SIZE, apps: [mastodonApp(), otherApp()] });
});

afterAll(async () => {
  await api.stop();
});

beforeEach(() => {
  api.requests.length = 0;
});

describe("ferry heroku maintenance", () => {
  test("on, then off, with the previous state for the way back", async () => {
    const on = await heroku(["--json", "heroku", "maintenance", "on", "--app", "famichiki"]);
    expect(on.code, on.stderr).toBe(0);
    expect(on.json()).toEqual({ app: "famichiki", maintenance: true, previous: false });
    expect(api.app("famichiki")!.maintenance).toBe(true);
    expect(api.requests.find((r) => r.method === "PATCH")!.body).toEqual({ maintenance: true });

    const off = await heroku(["heroku", "maintenance", "off", "--app", "famichiki"]);
    expect(off.stdout).toBe("famichiki: maintenance off (was on; undo: ferry heroku maintenance on --app famichiki)\n");
    expect(api.app("famichiki")!.maintenance).toBe(false);
  });

  test("the real binary, as the rehearsal runs it, waits out a 429 with Retry-After and succeeds", async () => {
    api.rateLimitNext(1, 1);
    const started = Date.now();
    const { stdout, stderr } = await run("node", ["bin/ferry.js", "heroku", "maintenance", "on", "--app", "famichiki"], {
      env: { ...process.env, HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(stdout).toBe("famichiki: maintenance on (was off; undo: ferry heroku maintenance off --app famichiki)\n");
    expect(stderr).toContain("ferry: heroku 429 rate_limit on GET /apps/famichiki; retrying in 1.0 s (attempt 2)");
    expect(api.app("famichiki")!.maintenance).toBe(true);
    await heroku(["heroku", "maintenance", "off", "--app", "famichiki"]);
  });

  test("anything but on|off is a bad input", async () => {
    const r = await heroku(["heroku", "maintenance", "yes", "--app", "famichiki"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ferry: maintenance takes "on" or "off", got "yes"\n');
    expect(api.requests).toEqual([]);
  });
});

describe("ferry heroku config", () => {
  test("set from argv and from an environment variable; values never printed; restore puts them back", async () => {
    const saved = join(tempDir("heroku-cfg"), "previous.json");
    const r = await heroku(
      ["--json", "heroku", "config", "set", "--app", "famichiki", "LOCAL_DOMAIN=social.famichiki.test", "WEB_CONCURRENCY=3", "--from-env", "NEW_DATABASE_URL=FERRY_NEW_DB", "--save-previous", saved],
      { FERRY_NEW_DB: NEW_DB_URL },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual({ app: "famichiki", added: ["WEB_CONCURRENCY", "NEW_DATABASE_URL"], changed: ["LOCAL_DOMAIN"], removed: [], unchanged: [], savedPrevious: saved });
    expectNoSecrets(r);
    expect(api.app("famichiki")!.configVars).toMatchObject({ LOCAL_DOMAIN: "social.famichiki.test", WEB_CONCURRENCY: "3", NEW_DATABASE_URL: NEW_DB_URL });
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(saved, "utf8"))).toEqual({ app: "famichiki", previous: { LOCAL_DOMAIN: "famichiki.test", WEB_CONCURRENCY: null, NEW_DATABASE_URL: null } });

    const back = await heroku(["--json", "heroku", "config", "restore", "--app", "famichiki", "--file", saved]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.json()).toMatchObject({ changed: ["LOCAL_DOMAIN"], removed: ["WEB_CONCURRENCY", "NEW_DATABASE_URL"] });
    expect(api.app("famichiki")!.configVars).toEqual({ RAILS_ENV: "production", LOCAL_DOMAIN: "famichiki.test", DATABASE_URL: expect.any(String), REDIS_URL: expect.any(String) });
  });

  test("unset sends null for each key", async () => {
    await heroku(["heroku", "config", "set", "--app", "famichiki", "OLD_FLAG=1"]);
    api.requests.length = 0;
    const r = await heroku(["heroku", "config", "unset", "--app", "famichiki", "OLD_FLAG", "NEVER_SET"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("famichiki: config removed OLD_FLAG; already as asked NEVER_SET\n");
    expect(api.requests.find((q) => q.method === "PATCH")!.body).toEqual({ OLD_FLAG: null, NEVER_SET: null });
    expect(api.app("famichiki")!.configVars).not.toHaveProperty("OLD_FLAG");
  });

  test("a secret-looking value in argv draws a warning that names the key, not the value", async () => {
    const r = await heroku(["heroku", "config", "set", "--app", "famichiki", "S3_SECRET=abc123xyz"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("ferry: warning: S3_SECRET given in argv where other users can read it; use --from-env KEY=ENV_VAR for secrets\n");
    expect(r.stdout).not.toContain("abc123xyz");
    await heroku(["heroku", "config", "unset", "--app", "famichiki", "S3_SECRET"]);
  });

  test("422: Heroku will not overwrite DATABASE_URL owned by the Postgres add-on (exit 2, value not shown)", async () => {
    const r = await heroku(["heroku", "config", "set", "--app", "famichiki", "--from-env", "DATABASE_URL=FERRY_NEW_DB"], { FERRY_NEW_DB: NEW_DB_URL });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: Heroku API 422 invalid_params on PATCH /apps/famichiki/config-vars (Heroku refused the request as invalid): Cannot overwrite attachment values DATABASE_URL.\n");
    expectNoSecrets(r);
  });

  test.each([
    [["set", "--app", "famichiki"], "ferry: config set: give KEY=VALUE words or --from-env KEY=ENV_VAR"],
    [["set", "--app", "famichiki", "NOVALUE"], `ferry: config set: expected KEY=VALUE, got a word without '=' ("NOVALUE")`],
    [["set", "--app", "famichiki", "1BAD=x"], 'ferry: config set: "1BAD" is not a config var name (letters, digits, _; not starting with a digit)'],
    [["set", "--app", "famichiki", "--from-env", "DATABASE_URL"], 'ferry: --from-env expects KEY=ENV_VAR, got "DATABASE_URL"'],
    [["set", "--app", "famichiki", "--from-env", "NEW_DATABASE_URL=FERRY_UNSET_VAR"], "ferry: --from-env NEW_DATABASE_URL=FERRY_UNSET_VAR: environment variable FERRY_UNSET_VAR is not set"],
    [["set", "--app", "famichiki", "A=1", "--from-env", "A=HOME"], "ferry: config set: A given both as KEY=VALUE and with --from-env"],
    [["set", "--app", "bad app!", "A=1"], 'ferry: --app must be a Heroku app name or id: "bad app!"'],
    [["unset", "--app", "famichiki", "has-dash"], 'ferry: config unset: "has-dash" is not a config var name (letters, digits, _; not starting with a digit)'],
  ])("bad input %j exits 2 before any request", async (args, message) => {
    const r = await heroku(["heroku", "config", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(message + "\n");
    expect(api.requests).toEqual([]);
  });

  test("restore refuses a file saved for another app", async () => {
    const file = join(tempDir("heroku-cfg"), "other.json");
    writeFileSync(file, JSON.stringify({ app: "someone-elses", previous: { A: null } }));
    const r = await heroku(["heroku", "config", "restore", "--app", "famichiki", "--file", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`ferry: --file ${file} was saved for app someone-elses, not famichiki\n`);
  });
});

describe("ferry heroku scale", () => {
  test("sets quantity and size in one PATCH and says how to undo", async () => {
    const r = await heroku(["--json", "heroku", "scale", "--app", "famichiki", "web=3:performance-m", "sidekiq=0"]);
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests.find((q) => q.method === "PATCH")!.body).toEqual({ updates: [{ type: "web", quantity: 3, size: "performance-m" }, { type: "sidekiq", quantity: 0 }] });
    expect(r.json()).toEqual({
      app: "famichiki",
      formation: [{ type: "web", quantity: 3, size: "performance-M" }, { type: "sidekiq", quantity: 0, size: "standard-1X" }],
      previous: expect.arrayContaining([{ type: "web", quantity: 2, size: "standard-2X" }, { type: "sidekiq", quantity: 1, size: "standard-1X" }]),
    });
    const undo = await heroku(["heroku", "scale", "--app", "famichiki", "web=2:standard-2X", "sidekiq=1"]);
    expect(undo.stdout).toMatch(/^famichiki: web=2:standard-2X sidekiq=1:standard-1X \(undo: ferry heroku scale --app famichiki (web=3:performance-M sidekiq=0:standard-1X|sidekiq=0:standard-1X web=3:performance-M)\)\n$/);
  });

  test("an unknown process type: Heroku's 404 (exit 2)", async () => {
    const r = await heroku(["heroku", "scale", "--app", "famichiki", "clock=1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: Heroku API 404 not_found on PATCH /apps/famichiki/formation (no such app or resource): Couldn't find that formation.\n");
  });

  test.each([
    [["web"], 'ferry: scale: expected TYPE=N[:SIZE] (e.g. web=2:standard-1X), got "web"'],
    [["web=-1"], 'ferry: scale: expected TYPE=N[:SIZE] (e.g. web=2:standard-1X), got "web=-1"'],
    [["web=two"], 'ferry: scale: expected TYPE=N[:SIZE] (e.g. web=2:standard-1X), got "web=two"'],
    [["web=1", "web=2"], "ferry: scale: web is given twice"],
  ])("bad input %j exits 2 before any request", async (words, message) => {
    const r = await heroku(["heroku", "scale", "--app", "famichiki", ...words]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(message + "\n");
    expect(api.requests).toEqual([]);
  });
});

describe("ferry heroku addons / domains", () => {
  test("addons lists every page, with the config vars each add-on owns", async () => {
    const r = await heroku(["--json", "heroku", "addons", "--app", "famichiki"]);
    expect(r.code, r.stderr).toBe(0);
    const { addons } = r.json<{ addons: Array<{ name: string; service: string; configVars: string[] }> }>();
    expect(addons).toHaveLength(5);
    expect(addons.find((a) => a.service === "heroku-postgresql")!.configVars).toEqual(["DATABASE_URL"]);
    expect(api.requests.map((q) => q.status)).toEqual([206, 206, 200]);
    expectNoSecrets(r);
  });

  test("domains lists every page with DNS targets (text output)", async () => {
    const r = await heroku(["heroku", "domains", "--app", "famichiki"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").sort();
    expect(lines).toEqual([
      "famichiki.herokuapp.com\theroku\t-\tsucceeded",
      "famichiki.test\tcustom\tfamichiki-test.herokudns.com\tsucceeded",
      "media.famichiki.test\tcustom\tmedia-famichiki-test.herokudns.com\tsucceeded",
      "www.famichiki.test\tcustom\twww-famichiki-test.herokudns.com\tsucceeded",
    ]);
  });

  test("the listing takes no verb: `addons destroy` is refused before any request", async () => {
    const r = await heroku(["heroku", "addons", "destroy", "--app", "famichiki"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ferry: too many arguments for 'addons'/);
    const old = await heroku(["heroku", "addons", "destroy", "--app", "famichiki", "--addon", "heroku-redis-1", "--confirm", "famichiki"]);
    expect(old.code).toBe(2);
    expect(old.stderr).toBe("ferry: unknown option '--addon'\n");
    expect(api.requests).toHaveLength(0);
  });

  test("destroy-addon needs --confirm to repeat the app name, then releases the add-on", async () => {
    const wrong = await heroku(["heroku", "destroy-addon", "--app", "famichiki", "--addon", "heroku-redis-1", "--confirm", "famichik"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^ferry: --confirm must repeat the app name "famichiki"/);
    expect(api.requests).toHaveLength(0);

    const before = api.app("famichiki")!.addons.length;
    const target = api.app("famichiki")!.addons[0].name;
    const r = await heroku(["--json", "heroku", "destroy-addon", "--app", "famichiki", "--addon", target, "--confirm", "famichiki"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ app: "famichiki", addon: target, state: "deprovisioned" });
    expect(api.app("famichiki")!.addons).toHaveLength(before - 1);
    expect(api.requests.map((q) => q.method)).toEqual(["DELETE"]);

    const again = await heroku(["heroku", "destroy-addon", "--app", "famichiki", "--addon", target, "--confirm", "famichiki"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/404/);
  });
});

describe("ferry heroku: key, base URL and API errors", () => {
  test("no HEROKU_API_KEY: exit 2, no request", async () => {
    const r = await heroku(["heroku", "addons", "--app", "famichiki"], { HEROKU_API_KEY: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: missing HEROKU_API_KEY: set it in the environment (ferry never takes the key as a flag)\n");
    expect(api.requests).toEqual([]);
  });

  test("a HEROKU_API_URL that is not a URL: exit 2", async () => {
    const r = await heroku(["heroku", "addons", "--app", "famichiki"], { HEROKU_API_URL: "api.heroku.com" });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ferry: HEROKU_API_URL is not an http(s) URL: "api.heroku.com"\n');
  });

  test.each([
    ["401", { HEROKU_API_KEY: "revoked-key" }, "famichiki", "ferry: Heroku API 401 unauthorized on GET /apps/famichiki/addons (the API key is missing, wrong or expired): Invalid credentials provided."],
    ["403", { HEROKU_API_KEY: LIMITED_KEY }, "famichiki", "ferry: Heroku API 403 forbidden on GET /apps/famichiki/addons (the API key's account may not do this to this app): You do not have access to the app famichiki."],
    ["404", {}, "no-such-app", "ferry: Heroku API 404 not_found on GET /apps/no-such-app/addons (no such app or resource): Couldn't find that app."],
  ])("%s: one line with Heroku's id and message, exit 2", async (_s, env, app, message) => {
    const r = await heroku(["heroku", "addons", "--app", app], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(message + "\n");
    expectNoSecrets(r);
  });

  test("Heroku unreachable: exit 1 with the reason", async () => {
    const port = await freePort();
    const r = await heroku(["--json", "heroku", "--max-attempts", "2", "maintenance", "on", "--app", "famichiki"], { HEROKU_API_URL: `http://127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ferry: cannot reach the Heroku API at http://127.0.0.1:${port} (GET /apps/famichiki): ECONNREFUSED\n`);
    // --json: the same failure as an object on stdout, for the caller that parses it.
    expect(JSON.parse(r.stdout)).toEqual({ error: `cannot reach the Heroku API at http://127.0.0.1:${port} (GET /apps/famichiki): ECONNREFUSED`, exitCode: 1 });
  });

  test("--max-attempts is checked", async () => {
    const r = await heroku(["heroku", "--max-attempts", "0", "addons", "--app", "famichiki"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toContain("--max-attempts must be a whole number 1-20");
  });
});
