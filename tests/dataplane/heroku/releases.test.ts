// `ferry heroku release` and `ferry heroku slug` against the local Heroku API stand-in:
// releases paged newest first with Range, the current one found past pending and failed
// releases, the slug's blob fetched without Heroku credentials from its signed URL, the
// checksum checked, and a mismatch, an expired URL or bad flags refused in one line.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startHerokuApi, FakeHerokuApi } from "../../../rehearsal/servers/heroku-api";
import { freePort, tempDir, waitFor } from "../../../rehearsal/servers";
import { runFerry, FerryRun } from "../traffic/run-ferry";
import { buildSlug, BuiltSlug, procfileApp } from "../../bin/slugs";
import { API_KEY, PAGE_SIZE, mastodonApp } from "./seed";

let api: FakeHerokuApi;
let v2: BuiltSlug;
let v3: BuiltSlug;
const PROCESS_TYPES = { web: "node server.js", worker: "node worker.js", release: "node migrate.js" };

function heroku(args: string[]): Promise<FerryRun> {
  return runFerry(args, { HEROKU_API_KEY: API_KEY, HEROKU_API_URL: api.url });
}

function expectNothingSecret(r: FerryRun): void {
  expect(r.stdout + r.stderr).not.toContain(API_KEY);
  // The signed blob URL grants access to the code: never printed.
  expect(r.stdout + r.stderr).not.toMatch(/signature=/);
}

beforeAll(async () => {
  v2 = await buildSlug(procfileApp("web: node server.js\n"), "v2.tgz");
  v3 = await buildSlug({ ...procfileApp("web: node server.js\nworker: node worker.js\nrelease: node migrate.js\n"), "VERSION": "3" }, "v3.tgz");
  const pending = await buildSlug({ ...procfileApp("web: node server.js\n"), VERSION: "5" }, "v5.tgz");
  const many = Array.from({ length: 11 }, (_, i) => ({ slug: { file: v2.path, processTypes: { web: "node server.js" }, commit: `c${i + 1}` } }));
  api = await startHerokuApi({
    apiKey: API_KEY,
    pageSize: PAGE_SIZE,
    apps: [
      {
        ...mastodonApp(),
        releases: [
          { slug: null, description: "Initial release" },
          { slug: { file: v2.path, processTypes: { web: "node server.js" }, commit: "1111111" } },
          { slug: { file: v3.path, processTypes: PROCESS_TYPES, commit: "3333333" } },
          // A release phase that failed, then one still running: the dynos run v3.
          { slug: { file: pending.path, processTypes: PROCESS_TYPES, commit: "4444444" }, status: "failed" },
          { slug: { file: pending.path, processTypes: PROCESS_TYPES, commit: "5555555" }, status: "pending" },
        ],
      },
      { name: "many-releases", releases: many },
      { name: "bad-checksum", releases: [{ slug: { file: v2.path, processTypes: { web: "x" }, checksum: `SHA256:${"0".repeat(64)}` } }] },
      { name: "no-checksum", releases: [{ slug: { file: v2.path, processTypes: { web: "x" }, checksum: null } }] },
      { name: "fir-app", releases: [{ slug: null }] },
    ],
  });
});

afterAll(async () => {
  await api.stop();
});

beforeEach(() => {
  api.requests.length = 0;
  api.releases.blobTtlMs = 5 * 60_000;
});

describe("ferry heroku release", () => {
  test("pages releases newest first with Range and reports the latest succeeded release with a slug", async () => {
    const r = await heroku(["--json", "heroku", "release", "--app", "famichiki"]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json<Record<string, unknown>>();
    expect(out).toMatchObject({ app: "famichiki", version: 3, stack: "heroku-24", processTypes: PROCESS_TYPES, commit: "3333333", checksum: v3.checksum, size: v3.size });
    expect(out.slugId).toMatch(/^[0-9a-f-]{36}$/);
    const ranges = api.requests.filter((q) => q.path === "/apps/famichiki/releases").map((q) => q.range);
    // Page 1 holds v5 (pending) and v4 (failed); the client follows Next-Range to v3 and stops there.
    expect(ranges).toEqual(["version ..; max=200, order=desc", "version ]4..; max=200, order=desc"]);
    expect(api.requests.map((q) => q.path)).toContain(`/apps/famichiki/slugs/${out.slugId}`);
    expectNothingSecret(r);
  });

  test("versions order as numbers: v11 is newer than v9", async () => {
    const r = await heroku(["--json", "heroku", "release", "--app", "many-releases"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ version: 11, commit: "c11" });
  });

  test("human output: one line per process type", async () => {
    const r = await heroku(["heroku", "release", "--app", "famichiki"]);
    expect(r.stdout).toMatch(/^famichiki v3: slug [0-9a-f-]{36}, stack heroku-24, commit 3333333\n  web: node server\.js\n  worker: node worker\.js\n  release: node migrate\.js\n$/);
  });

  test("a deploy on Heroku is what the next read reports (deploy in sync)", async () => {
    const { version } = api.releases.deploy("many-releases", { slug: { file: v3.path, processTypes: PROCESS_TYPES, commit: "c12" } });
    const r = await heroku(["--json", "heroku", "release", "--app", "many-releases"]);
    expect(r.json()).toMatchObject({ version, commit: "c12", processTypes: PROCESS_TYPES });
  });

  test("an app with no slug release (nothing deployed, or a Fir app): exit 2, one line saying what to do", async () => {
    const r = await heroku(["heroku", "release", "--app", "fir-app"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("ferry: Heroku app fir-app has no succeeded release with a slug: nothing deployed yet, or a newer-generation (Fir) app built into an image; give ferry:target.compute an image instead\n");
  });
});

describe("ferry heroku slug", () => {
  test("downloads the current release's slug from its signed URL, without the API key, and verifies it", async () => {
    const out = join(tempDir("slug-dl"), "current.tgz");
    const r = await heroku(["--json", "heroku", "slug", "--app", "famichiki", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ app: "famichiki", stack: "heroku-24", file: out, bytes: v3.size, checksum: v3.checksum });
    expect(readFileSync(out)).toEqual(readFileSync(v3.path));
    const blob = api.releases.blobRequests.at(-1)!;
    expect(blob).toMatchObject({ status: 200, authorization: false });
    expectNothingSecret(r);
  });

  test("--slug picks a given slug; the human line says it was verified", async () => {
    const release = (await heroku(["--json", "heroku", "release", "--app", "famichiki"])).json<{ slugId: string }>();
    const out = join(tempDir("slug-dl"), "pinned.tgz");
    const r = await heroku(["heroku", "slug", "--app", "famichiki", "--slug", release.slugId, "--out", out]);
    expect(r.stdout).toBe(`famichiki: slug ${release.slugId} (heroku-24) written to ${out}, ${v3.size} bytes, ${v3.checksum} verified\n`);
  });

  test("a checksum mismatch is refused in one line and nothing is written", async () => {
    const dir = tempDir("slug-dl");
    const out = join(dir, "bad.tgz");
    const r = await heroku(["heroku", "slug", "--app", "bad-checksum", "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ferry: slug [0-9a-f-]{36}: checksum mismatch \\(Heroku says SHA256:0{64}, the ${v2.size} bytes downloaded are ${v2.checksum}\\); refused, ${out} not written\\n$`));
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  test("a slug without a checksum is refused before any download", async () => {
    const before = api.releases.blobRequests.length;
    const r = await heroku(["heroku", "slug", "--app", "no-checksum", "--out", join(tempDir("slug-dl"), "x.tgz")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reports no SHA256 checksum \(null\); refusing a copy that cannot be verified\n$/);
    expect(api.releases.blobRequests.length).toBe(before);
  });

  test("an expired blob URL: one line naming the host, not the signed URL", async () => {
    api.releases.blobTtlMs = -1000;
    const r = await heroku(["heroku", "slug", "--app", "famichiki", "--out", join(tempDir("slug-dl"), "x.tgz")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: slug [0-9a-f-]{36}: 127\.0\.0\.1:\d+ answered 403 \(the signed URL has expired: ask Heroku for the slug again\)\n$/);
    expectNothingSecret(r);
  });

  test("the blob store refuses a request carrying an Authorization header, as S3 does", async () => {
    const slug = (await (await fetch(`${api.url}/apps/famichiki/slugs/${(await heroku(["--json", "heroku", "release", "--app", "famichiki"])).json<{ slugId: string }>().slugId}`, {
      headers: { Accept: "application/vnd.heroku+json; version=3", Authorization: `Bearer ${API_KEY}` },
    })).json()) as { blob: { url: string } };
    const res = await fetch(slug.blob.url, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Only one auth mechanism allowed");
  });

  test("bad flags: one line naming the flag, exit 2", async () => {
    const badSlug = await heroku(["heroku", "slug", "--app", "famichiki", "--slug", "latest", "--out", join(tempDir("slug-dl"), "x.tgz")]);
    expect([badSlug.code, badSlug.stderr]).toEqual([2, 'ferry: --slug must be a slug id (a UUID): "latest"\n']);
    const badOut = await heroku(["heroku", "slug", "--app", "famichiki", "--out", "/nonexistent-dir/x.tgz"]);
    expect([badOut.code, badOut.stderr]).toEqual([2, "ferry: --out /nonexistent-dir/x.tgz: directory /nonexistent-dir does not exist or is not writable\n"]);
    const noOut = await heroku(["heroku", "slug", "--app", "famichiki"]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain("--out");
  });
});

describe("a deploy on Heroku, fetched and started as the ECS task does", () => {
  test("ferry heroku slug then bin/slug-run: the new release's web process answers on PORT", async () => {
    const slug = await buildSlug({ ...procfileApp("web: node server.js\n"), VERSION: "6" }, "v6.tgz");
    api.releases.deploy("famichiki", { slug: { file: slug.path, processTypes: { web: "node server.js" }, commit: "6666666" } });
    const release = (await heroku(["--json", "heroku", "release", "--app", "famichiki"])).json<{ version: number; commit: string }>();
    expect(release).toMatchObject({ version: 6, commit: "6666666" });
    const out = join(tempDir("slug-dl"), "slug.tgz");
    expect((await heroku(["heroku", "slug", "--app", "famichiki", "--out", out])).code).toBe(0);
    const port = await freePort();
    const child = spawn("sh", [resolve(__dirname, "../../../bin/slug-run"), out, "web"], {
      env: { PATH: process.env.PATH, APP_DIR: join(tempDir("slug-app"), "app"), PORT: String(port) },
      detached: true,
      stdio: "ignore",
    });
    try {
      let seen: Record<string, unknown> = {};
      await waitFor("the fetched slug's web process", async () => {
        seen = (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as Record<string, unknown>;
        return true;
      });
      expect(seen).toMatchObject({ port: String(port), dyno: "web.1", fromProfileD: "yes" });
    } finally {
      process.kill(-child.pid!, "SIGKILL");
    }
  });
});
