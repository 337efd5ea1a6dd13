// `ferry init --heroku-app` against the local Heroku API stand-in (paged lists at a
// page size of 2, add-ons with prices, dyno sizes, releases and slugs, log drains):
// the stack file it writes validates, passes the policy pack at every stage, holds
// no secret, and `npm run plan` prices it; bad input writes nothing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeAppSeed, FakeHerokuApi, FakeReleaseSeed, LocalPostgres, startHerokuApi, startPostgres } from "../../../rehearsal/servers";
import { buildSlug, BuiltSlug, procfileApp } from "../../bin/slugs";
import { readStackConfig } from "../../../policy/stack-file";
import { HerokuClient } from "../../../dataplane/heroku/client";
import type { Release } from "../../../dataplane/heroku/types";
import { runFerry } from "../traffic/run-ferry";
import { judgeStackFile } from "./judge";
import { IDLE_BY_DESIGN } from "../../policy/pack";

const KEY = "heroku-init-key-0123456789";
const LIMITED = "heroku-init-limited-key";
const ROOT = join(__dirname, "..", "..", "..");
const DRAIN = "syslog+tls://logs.papertrail.example:12345?token=drain-secret-777";

const webApp = (): FakeAppSeed => ({
  name: "masto-web",
  configVars: { RAILS_ENV: "production", SECRET_KEY_BASE: "skb-secret-value-123" },
  formation: [
    { type: "web", quantity: 2, size: "standard-2X", command: "bundle exec puma -C config/puma.rb" },
    { type: "worker", quantity: 1, size: "standard-1X", command: "bundle exec sidekiq" },
    { type: "release", quantity: 0, size: "standard-1X", command: "bundle exec rails db:migrate" },
  ],
  addons: [
    { name: "postgresql-curved-12345", service: "heroku-postgresql", plan: "heroku-postgresql:standard-0", configVars: { DATABASE_URL: "postgres://u:pg-secret-pw@ec2.example:5432/d1" } },
    { name: "redis-rigid-67890", service: "heroku-redis", plan: "heroku-redis:premium-0", configVars: { REDIS_URL: "rediss://:redis-secret-pw@ec2.example:6380" } },
    { name: "scheduler-shallow-1", service: "scheduler", plan: "scheduler:standard" },
  ],
  domains: [{ hostname: "social.example.com" }, { hostname: "www.social.example.com" }],
  inventory: {
    // Postgres bills through billed_price; Redis's price only on its plan (older add-on answers).
    addonPriceCents: { "postgresql-curved-12345": 5000, "redis-rigid-67890": 1500, "scheduler-shallow-1": 0 },
    withoutBilledPrice: ["redis-rigid-67890"],
    logDrains: [DRAIN],
  },
  releases: releases(4),
});

/** `older` releases whose slugs Heroku already destroyed, then the current one with its slug. */
function releases(older: number): FakeReleaseSeed[] {
  const gone = Array.from({ length: older }, (): FakeReleaseSeed => ({ slug: null }));
  return [...gone, { slug: { file: slug.path, processTypes: { web: "bundle exec puma -C config/puma.rb", worker: "bundle exec sidekiq", release: "bundle exec rails db:migrate" } } }];
}

const streamingApp = (): FakeAppSeed => ({
  name: "masto-streaming",
  formation: [{ type: "web", quantity: 1, size: "standard-1X", command: "node ./streaming" }],
  domains: [{ hostname: "streaming.social.example.com" }],
  // No slug: a "Fir" app; process types come from the formation.
});

let api: FakeHerokuApi;
let slug: BuiltSlug;
const env = () => ({ HEROKU_API_KEY: KEY, HEROKU_API_URL: api.url });
const dir = () => mkdtempSync(join(tmpdir(), "ferry-init-heroku-"));

beforeAll(async () => {
  slug = await buildSlug(procfileApp("web: bundle exec puma -C config/puma.rb\n"));
  api = await startHerokuApi({ apiKey: KEY, limitedKeys: { [LIMITED]: ["masto-web"] }, pageSize: 2, apps: [webApp(), streamingApp()] });
});

afterAll(async () => {
  await api?.stop();
});

describe("ferry init --heroku-app", () => {
  it("writes a stack that validates, passes the policy pack, holds no secret, and that npm run plan prices", async () => {
    const project = dir();
    const run = await runFerry(["init", "--heroku-app", "masto-web", "--heroku-app", "masto-streaming", "--stack", "moved", "--dir", project], env());
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const stackFile = join(project, "Pulumi.moved.yaml");
    const text = readFileSync(stackFile, "utf8");
    const inventoryText = readFileSync(join(project, "ferry-inventory.moved.json"), "utf8");

    const config = readStackConfig(stackFile);
    expect(config.source).toMatchObject({
      kind: "heroku",
      apps: [
        { name: "masto-web", processes: { web: 2, worker: 1 }, hostnames: ["social.example.com", "www.social.example.com"] },
        { name: "masto-streaming", processes: { web: 1 }, hostnames: ["streaming.social.example.com"] },
      ],
      postgres: { app: "masto-web", addon: "postgresql-curved-12345", configVar: "DATABASE_URL" },
      redis: { app: "masto-web", addon: "redis-rigid-67890", configVar: "REDIS_URL", sidekiq: true },
    });
    // Process types from the slug (the release entry is not a process; the slug's Procfile
    // gives each command); the second app's web gets its own name and, without a slug
    // (a Fir app), runs an image the user names, with the formation's command.
    expect(config.target.compute.processes).toEqual({
      web: expect.objectContaining({ from: { app: "masto-web", type: "web" }, size: "standard-2X", count: 2, port: 3000 }),
      worker: expect.objectContaining({ from: { app: "masto-web", type: "worker" }, size: "standard-1X", count: 1 }),
      "streaming-web": expect.objectContaining({ from: { app: "masto-streaming", type: "web" }, image: "registry.example.com/your-app:todo", command: "node ./streaming", count: 1, port: 3000 }),
    });
    expect(config.target.compute.processes.web.image).toBeUndefined();
    expect(text).toMatch(/image: registry\.example\.com\/your-app:todo  # TODO: the app's OCI image/);
    expect(config.target.compute.processes.release).toBeUndefined();
    expect(config.target.cloudflare.hostnames.map((h) => `${h.name}>${h.process}`)).toEqual([
      "social.example.com>web", "www.social.example.com>web", "streaming.social.example.com>streaming-web",
    ]);
    expect(config.target.postgres.instanceClass).toBe("db.t4g.medium");

    // What was read and what is left to decide, in the file.
    expect(text).toMatch(/# What was read:\n#   masto-web \(region us\): release 0 × standard-1X, web 2 × standard-2X, worker 1 × standard-1X; process types from the slug: web, worker, release/);
    expect(text).toMatch(/masto-streaming .*process types from the formation: web/);
    expect(text).toMatch(/log drains: logs\.papertrail\.example:12345/);
    expect(text).toMatch(/config var names: DATABASE_URL, RAILS_ENV, REDIS_URL, SECRET_KEY_BASE/);
    expect(text).toMatch(/zoneId: '?0{32}'?  # TODO: the Cloudflare zone id/);
    expect(text).toMatch(/accountId: '?0{32}'?  # TODO: your Cloudflare account id/);
    expect(text).toMatch(/social\.example\.com \(CNAME social-example-com\.herokudns\.com\)/);
    // No secret anywhere: not in the files, not on stdout.
    for (const secret of ["pg-secret-pw", "redis-secret-pw", "skb-secret-value-123", "drain-secret-777", KEY]) {
      expect(text).not.toContain(secret);
      expect(inventoryText).not.toContain(secret);
      expect(run.stdout).not.toContain(secret);
    }
    expect(run.stdout).toMatch(/pulumi config set --secret ferry:sourceDatabaseUrl "\$\(heroku config:get DATABASE_URL -a masto-web\)"/);
    // The database (at a host that does not resolve) could not be read: said, with nothing secret, and the storage left to decide.
    const unread = JSON.parse(inventoryText).postgres;
    expect(unread).toEqual({ found: false, reason: expect.stringMatching(/^postgresql-curved-12345 \(DATABASE_URL of masto-web\): .*ec2\.example/) });
    expect(text).toMatch(/^# +postgres size: not read \(postgresql-curved-12345/m);
    expect(text).toMatch(/ferry:target\.postgres\.storageGb: ferry init could not read the database's size/);
    expect(config.source).toMatchObject({ postgres: { strategy: "dump" } });
    expect(text).toMatch(/^# +ferry:source\.postgres\.strategy: dump drafted, as the size was not read: above 1 GB \(heroku pg:info\) use capture/m);

    // Prices from the API: dyno sizes' cost and add-on prices (billed_price or the plan).
    const inventory = JSON.parse(inventoryText);
    expect(inventory.apps[0].formation.map((f: { monthlyCentsEach: number }) => f.monthlyCentsEach)).toEqual([2500, 5000, 2500]);
    const addonCents = Object.fromEntries(inventory.apps[0].addons.map((a: { name: string; monthlyCents: number }) => [a.name, a.monthlyCents]));
    expect(addonCents).toEqual({ "postgresql-curved-12345": 5000, "redis-rigid-67890": 1500, "scheduler-shallow-1": 0 });
    expect(api.requests.some((r) => r.path === "/addon-services/heroku-redis/plans/heroku-redis%3Apremium-0" && r.status === 200)).toBe(true);
    // Releases newest first by version; the current one (with its slug) is on the first page,
    // so the read stops there instead of paging through the app's whole history.
    const releaseReads = api.requests.filter((r) => r.path === "/apps/masto-web/releases");
    expect(releaseReads.map((r) => r.range)).toEqual(["version ..; max=200, order=desc"]);

    // The pipeline's view: the policy pack at every stage.
    const judged = await judgeStackFile(stackFile, "moved");
    expect(judged.violations).toEqual([]);
    expect(judged.idle).toEqual(IDLE_BY_DESIGN);

    // npm run plan on what init wrote: Heroku today = 2 × $50 + $25 + $25 dynos + $50 + $15 + $0 add-ons = $215.
    const plan = spawnSync(process.execPath, ["--import", "tsx", "policy/plan.ts", "--stack", "moved", "--dir", project], { cwd: ROOT, encoding: "utf8", timeout: 150_000 });
    expect(plan.stderr).toBe("");
    expect(plan.stdout).toMatch(/\| provision \| \$215\.00 \| \$[\d,.]+ \| \*\*\$[\d,.]+\*\* \| both sides bill \|/);
    expect(plan.stdout).toMatch(/\| decommission \| \$0\.00 \|/);
    expect(plan.stdout).toMatch(/read by `ferry init` on \d{4}-\d{2}-\d{2}/);
  }, 240_000);

  it("refuses an app the key cannot read with one line, and writes nothing", async () => {
    const project = dir();
    const run = await runFerry(["init", "--heroku-app", "masto-web", "--heroku-app", "masto-streaming", "--stack", "s", "--dir", project], { ...env(), HEROKU_API_KEY: LIMITED });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^ferry: cannot read app masto-streaming: Heroku API 403 forbidden .*\n$/);
    expect(existsSync(join(project, "Pulumi.s.yaml"))).toBe(false);
    expect(existsSync(join(project, "ferry-inventory.s.json"))).toBe(false);
  });

  it("refuses an existing stack file unless --force, before reading anything", async () => {
    const project = dir();
    const file = join(project, "Pulumi.s.yaml");
    writeFileSync(file, "config: {}\n# mine\n");
    const before = api.requests.length;
    const run = await runFerry(["init", "--heroku-app", "masto-web", "--stack", "s", "--dir", project], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`ferry: ${file} already exists; pass --force to overwrite it\n`);
    expect(readFileSync(file, "utf8")).toBe("config: {}\n# mine\n");
    expect(api.requests.length).toBe(before);
    // One app with its own domains is a whole stack too.
    const forced = await runFerry(["init", "--heroku-app", "masto-web", "--stack", "s", "--dir", project, "--force"], env());
    expect(forced.stderr).toBe("");
    expect(readStackConfig(file).source.kind).toBe("heroku");
  });

  it.each([
    [["--stack", "s"], /^ferry: give either --heroku-app \(one or more\) or --box user@host\[:port\]\n$/],
    [["--heroku-app", "Bad_Name", "--stack", "s"], /^ferry: --heroku-app must be a Heroku app name: "Bad_Name"\n$/],
    [["--heroku-app", "masto-web", "--stack", "s", "--region", "mars-1"], /^ferry: --region must be an AWS region such as us-east-1: "mars-1"\n$/],
  ])("bad flags %j: one line, exit 2", async (args, message) => {
    const project = dir();
    const run = await runFerry(["init", ...args, "--dir", project], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(existsSync(join(project, "Pulumi.s.yaml"))).toBe(false);
  });

  it("pages releases newest first by version number (10 after 9), the current one carrying the slug", async () => {
    const longLived = await startHerokuApi({ apiKey: KEY, pageSize: 2, apps: [{ ...webApp(), releases: releases(11) }] });
    try {
      const client = new HerokuClient({ apiKey: KEY, baseUrl: longLived.url });
      const listed = await client.list<Release>("/apps/masto-web/releases", "version", "desc");
      expect(listed.map((r) => r.version)).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      const current = await client.currentRelease("masto-web");
      expect(current.version).toBe(12);
      expect(current.slug).not.toBeNull();
    } finally {
      await longLived.stop();
    }
  });

  it("an app with no custom domain: one line saying why, nothing written", async () => {
    const bare = await startHerokuApi({ apiKey: KEY, apps: [{ name: "bare-app", formation: [{ type: "web", quantity: 1 }] }] });
    try {
      const project = dir();
      const run = await runFerry(["init", "--heroku-app", "bare-app", "--stack", "s", "--dir", project], { HEROKU_API_KEY: KEY, HEROKU_API_URL: bare.url });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^ferry: none of bare-app has a custom domain served by a web process: .*heroku domains:add\)\n$/);
      expect(existsSync(join(project, "Pulumi.s.yaml"))).toBe(false);
    } finally {
      await bare.stop();
    }
  });

  it("needs HEROKU_API_KEY from the environment", async () => {
    const run = await runFerry(["init", "--heroku-app", "masto-web", "--stack", "s", "--dir", dir()], { HEROKU_API_KEY: undefined, HEROKU_API_URL: api.url });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^ferry: missing HEROKU_API_KEY/);
  });
});

describe("ferry init --heroku-app reads the database's size from the database", () => {
  let pg: LocalPostgres;
  let sized: FakeHerokuApi;

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.query("CREATE DATABASE masto");
    const app = webApp();
    app.addons = app.addons!.map((a) => (a.service === "heroku-postgresql" ? { ...a, configVars: { DATABASE_URL: pg.url("masto") } } : a));
    sized = await startHerokuApi({ apiKey: KEY, apps: [app] });
  }, 120_000);

  afterAll(async () => {
    await sized?.stop();
    await pg?.stop();
  });

  const project = dir();
  const initOnce = async () => {
    const run = await runFerry(["init", "--heroku-app", "masto-web", "--stack", "sized", "--dir", project, "--force"], { HEROKU_API_KEY: KEY, HEROKU_API_URL: sized.url });
    expect(run.stderr).toBe("");
    expect(run.stdout).not.toContain(pg.password);
    const inventory = readFileSync(join(project, "ferry-inventory.sized.json"), "utf8");
    const stack = readFileSync(join(project, "Pulumi.sized.yaml"), "utf8");
    for (const text of [inventory, stack]) expect(text).not.toContain(pg.password);
    return { postgres: JSON.parse(inventory).postgres, stack };
  };
  const databaseBytes = async () => Number((await pg.query<{ b: string }>("SELECT pg_database_size(current_database()) AS b", [], "masto"))[0].b);

  it("records pg_database_size and what a copy moves; a table of known size grows the record by its size", async () => {
    const before = await initOnce();
    expect(before.postgres).toMatchObject({ found: true, value: { app: "masto-web", addon: "postgresql-curved-12345", copiedBytes: 0 } });
    // The catalogs alone: what the server reports, give or take a page written since.
    expect(Math.abs(before.postgres.value.databaseBytes - (await databaseBytes()))).toBeLessThanOrEqual(64 * 1024);

    // 4000 rows of 1000 bytes each (stored inline, below the TOAST threshold), with a key;
    // vacuumed now, so autovacuum does not add its maps between the two reads.
    await pg.query("CREATE TABLE media AS SELECT g AS id, repeat('x', 1000) AS blob FROM generate_series(1, 4000) g", [], "masto");
    await pg.query("ALTER TABLE media ADD PRIMARY KEY (id)", [], "masto");
    await pg.query("VACUUM ANALYZE media", [], "masto");
    const added = Number((await pg.query<{ b: string }>("SELECT pg_table_size('media') + pg_indexes_size('media') AS b", [], "masto"))[0].b);
    expect(added).toBeGreaterThan(4000 * 1000);

    const after = await initOnce();
    expect(after.postgres.value.copiedBytes - before.postgres.value.copiedBytes).toBe(added);
    expect(after.postgres.value.databaseBytes - before.postgres.value.databaseBytes).toBeGreaterThanOrEqual(added);
    expect(Math.abs(after.postgres.value.databaseBytes - (await databaseBytes()))).toBeLessThanOrEqual(64 * 1024);
    // The stack file says what was read, and sizes the target from it (twice the size, at least RDS's 20 GB).
    expect(after.stack).toMatch(/^# +postgres size \(postgresql-curved-12345, read from the database\): 0\.\d\d GB, of which a copy moves 0\.00 GB/m);
    expect(readStackConfig(join(project, "Pulumi.sized.yaml")).target.postgres.storageGb).toBe(20);
    // A database this small is dumped inside the window: the draft says so, and why.
    expect(readStackConfig(join(project, "Pulumi.sized.yaml")).source).toMatchObject({ postgres: { strategy: "dump" } });
    expect(after.stack).toMatch(/^# +ferry:source\.postgres\.strategy: dump proposed \(a copy moves 0\.00 GB\): up to 1 GB /m);
    expect(after.stack).not.toMatch(/could not read the database's size/);
  }, 120_000);
});
