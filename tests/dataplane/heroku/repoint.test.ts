// `ferry heroku repoint`: DATABASE_URL belongs to the Heroku Postgres attachment, which
// Heroku refuses (422) to overwrite. Against the local Platform API stand-in: the var is
// moved without touching the add-on, the rollback gives it back, and nothing secret is printed.
import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { startHerokuApi, FakeHerokuApi } from "../../../rehearsal/servers/heroku-api";
import { runFerry, FerryRun } from "../traffic/run-ferry";
import { API_KEY, PAGE_SIZE, mastodonApp } from "./seed";

const OLD_DB_URL = "postgres://u:pgsecret@ec2.example:5432/d1";
const NEW_DB_URL = "postgres://ferry:rds-s3cret-pw@new-db.example:5432/mastodon";
let api: FakeHerokuApi;

function heroku(args: string[], env: NodeJS.ProcessEnv = {}): Promise<FerryRun> {
  return runFerry(args, { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url, FERRY_TARGET_URL: NEW_DB_URL, FERRY_SOURCE_URL: OLD_DB_URL, ...env });
}

function expectNoSecrets(r: FerryRun): void {
  for (const secret of [API_KEY, "rds-s3cret-pw", "pgsecret"]) expect(r.stdout + r.stderr).not.toContain(secret);
}

const attachmentNames = () => api.app("famichiki")!.attachments.map((a) => a.name).sort();
const addonNames = () => api.app("famichiki")!.addons.map((a) => a.name).sort();
/** Everything repoint can change on the app: its vars, its attachments (ids included), its add-ons. */
function appState() {
  const app = api.app("famichiki")!;
  return structuredClone({ configVars: app.configVars, attachmentVars: [...app.attachmentVars].sort(), attachments: app.attachments, addons: app.addons });
}

beforeEach(async () => {
  await api?.stop();
  api = await startHerokuApi({ apiKey: API_KEY, pageSize: PAGE_SIZE, apps: [mastodonApp()] });
});

afterAll(async () => {
  await api.stop();
});

describe("ferry heroku repoint", () => {
  test("the stand-in refuses to overwrite an attachment's var, as Heroku does (422)", async () => {
    const r = await heroku(["heroku", "config", "set", "--app", "famichiki", "--from-env", "DATABASE_URL=FERRY_TARGET_URL"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ferry: .*422.*Cannot overwrite attachment values DATABASE_URL/);
    expect(api.app("famichiki")!.configVars.DATABASE_URL).toBe(OLD_DB_URL);
  });

  test("moves the attachment aside, sets the var, and keeps the add-on attached", async () => {
    const addonsBefore = addonNames();
    const r = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ action: "moved", app: "famichiki", configVar: "DATABASE_URL", addon: "postgresql-shaped-12345", parkedAs: "FERRY_SOURCE_DATABASE" });
    const app = api.app("famichiki")!;
    expect(app.configVars.DATABASE_URL).toBe(NEW_DB_URL);
    expect(app.configVars.FERRY_SOURCE_DATABASE_URL).toBe(OLD_DB_URL);
    expect(attachmentNames()).toContain("FERRY_SOURCE_DATABASE");
    expect(attachmentNames()).not.toContain("DATABASE");
    // The source is sacred: no add-on destroyed, the database still reachable from the app.
    expect(addonNames()).toEqual(addonsBefore);
    expect(api.requests.filter((q) => q.method === "DELETE").map((q) => q.path)).toEqual([expect.stringMatching(/^\/addon-attachments\/[0-9a-f-]{36}$/)]);
    expectNoSecrets(r);
  });

  test("running it again changes nothing more: the var already holds the value, the add-on stays parked", async () => {
    const args = ["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"];
    expect((await heroku(args)).code).toBe(0);
    const after = appState();
    const seen = api.requests.length;
    const again = await heroku(args);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    // No attachment is made or removed; the only write sets the var to the value it holds.
    expect(JSON.parse(again.stdout)).toEqual({ action: "set", app: "famichiki", configVar: "DATABASE_URL" });
    const writes = api.requests.slice(seen).filter((q) => q.method !== "GET");
    expect(writes.map((q) => [q.method, q.path, q.body])).toEqual([["PATCH", "/apps/famichiki/config-vars", { DATABASE_URL: NEW_DB_URL }]]);
    expect(appState()).toEqual(after);
  });

  test.each([
    ["--restore", ["--restore"]],
    ["repointing back to the source URL", ["--from-env", "FERRY_SOURCE_URL"]],
    ["the cutover's delete step (back to the add-on)", ["--to-addon", "postgresql-shaped-12345"]],
  ])("the way back through %s: the add-on owns DATABASE_URL again", async (_, back) => {
    await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"]);
    const r = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", ...back]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ action: "restored", attachedAs: "DATABASE", addon: "postgresql-shaped-12345" });
    const app = api.app("famichiki")!;
    expect(app.configVars.DATABASE_URL).toBe(OLD_DB_URL);
    expect(app.attachmentVars.has("DATABASE_URL")).toBe(true);
    expect("FERRY_SOURCE_DATABASE_URL" in app.configVars).toBe(false);
    expect(attachmentNames()).toEqual(["DATABASE", "PAPERTRAIL_ROUND_2", "REDIS", "SCHEDULER_FLAT_1", "SENDGRID_SHARP_3"]);
    // With nothing parked the restore is a no-op (safe as a Pulumi delete step).
    const twice = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--restore"]);
    expect(JSON.parse(twice.stdout)).toEqual({ action: "nothing-to-restore", app: "famichiki", configVar: "DATABASE_URL" });
  });

  test("a var no add-on owns is simply set", async () => {
    const r = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_REPLICA_URL", "--from-env", "FERRY_TARGET_URL"]);
    expect(JSON.parse(r.stdout)).toEqual({ action: "set", app: "famichiki", configVar: "DATABASE_REPLICA_URL" });
  });

  test("bad input: one line naming the flag, exit 2", async () => {
    const both = await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL", "--restore"]);
    expect([both.code, both.stderr.trim()]).toEqual([2, "ferry: repoint: give exactly one of --from-env ENV_VAR, --to-addon ADDON or --restore"]);
    const none = await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL"]);
    expect([none.code, none.stderr.trim()]).toEqual([2, "ferry: repoint: give exactly one of --from-env ENV_VAR, --to-addon ADDON or --restore"]);
    const notAttached = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--to-addon", "postgresql-other-1"]);
    expect([notAttached.code, notAttached.stderr.trim()]).toEqual([2, "ferry: Heroku add-on postgresql-other-1 is not attached to app famichiki: check ferry:source's app and addon (heroku addons -a famichiki)"]);
    expect(JSON.parse(notAttached.stdout)).toMatchObject({ side: "source", exitCode: 2 });
    const badVar = await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE-URL", "--restore"]);
    expect([badVar.code, badVar.stderr.trim()]).toEqual([2, 'ferry: --var: "DATABASE-URL" is not a config var name (letters, digits, _)']);
    const unset = await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "NOPE"]);
    expect([unset.code, unset.stderr.trim()]).toEqual([2, "ferry: --from-env DATABASE_URL=NOPE: environment variable NOPE is not set"]);
  });

  describe("back to the add-on after Heroku rotated its credentials (--to-addon, the cutover's delete step)", () => {
    const ROTATED_DB_URL = "postgres://u:pgsecret-rotated@ec2.example:5432/d1";
    const rotate = () => api.rotateCredentials("famichiki", "postgresql-shaped-12345", async () => ROTATED_DB_URL);

    test("the var gets the add-on's value as it is now; a URL copied before the rotation would have put the stale one back", async () => {
      await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"]);
      await rotate();
      expect(api.app("famichiki")!.configVars.DATABASE_URL).toBe(NEW_DB_URL);
      const before = appState();

      // The old way back, with the copy kept from before the rotation: the stale URL, and the add-on left parked.
      const stale = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_SOURCE_URL"]);
      expect(JSON.parse(stale.stdout)).toEqual({ action: "set", app: "famichiki", configVar: "DATABASE_URL" });
      expect(api.app("famichiki")!.configVars.DATABASE_URL).toBe(OLD_DB_URL);
      expect(attachmentNames()).toContain("FERRY_SOURCE_DATABASE");
      await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--from-env", "FERRY_TARGET_URL"]);
      expect(appState().configVars).toEqual(before.configVars);

      const r = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--to-addon", "postgresql-shaped-12345"]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toMatchObject({ action: "restored", attachedAs: "DATABASE", addon: "postgresql-shaped-12345" });
      const app = api.app("famichiki")!;
      expect(app.configVars.DATABASE_URL).toBe(ROTATED_DB_URL);
      expect(app.attachmentVars.has("DATABASE_URL")).toBe(true);
      expect(attachmentNames()).not.toContain("FERRY_SOURCE_DATABASE");
      for (const run of [stale, r]) expect(run.stdout + run.stderr).not.toMatch(/pgsecret|rds-s3cret-pw/);
    });

    test("a var the add-on already owns is left as it is (a delete step run twice)", async () => {
      const before = appState();
      const r = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_URL", "--to-addon", "postgresql-shaped-12345"]);
      expect(JSON.parse(r.stdout)).toEqual({ action: "nothing-to-restore", app: "famichiki", configVar: "DATABASE_URL" });
      expect(appState()).toEqual(before);
      expect(api.requests.filter((q) => q.method !== "GET")).toEqual([]);
    });

    test("a var the add-on does not own (set by hand) gets the URL the add-on's own attachment holds now", async () => {
      await heroku(["heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_REPLICA_URL", "--from-env", "FERRY_TARGET_URL"]);
      await rotate();
      const r = await heroku(["--json", "heroku", "repoint", "--app", "famichiki", "--var", "DATABASE_REPLICA_URL", "--to-addon", "postgresql-shaped-12345"]);
      expect(JSON.parse(r.stdout)).toEqual({ action: "set", app: "famichiki", configVar: "DATABASE_REPLICA_URL" });
      expect(api.app("famichiki")!.configVars.DATABASE_REPLICA_URL).toBe(ROTATED_DB_URL);
      expect(r.stdout + r.stderr).not.toContain("pgsecret");
    });
  });
});
