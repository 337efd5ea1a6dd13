// The bad-input suite: every wrong configuration value, command line, URL, password,
// certificate, source or target ferry could be handed must end in one clear line and
// the right exit code, and must change nothing on either side. Real servers: a source
// PostgreSQL with data, its physical standby, a target with empty and non-empty
// databases, a TLS-only PostgreSQL and a TLS Redis on a private CA (RDS- and
// ElastiCache-like), Redis (plain, password, TLS on a self-signed certificate) and the
// fake Heroku API.
import { spawn } from "node:child_process";
import * as path from "node:path";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replicatePhysical, stopStandby } from "../../dataplane/postgres/replication/physical";
import { FakeHerokuApi, LocalPostgres, LocalRedis, makeCa, startHerokuApi, startPostgres, startRedis, tempDir } from "../../rehearsal/servers";
import { startSource } from "../dataplane/postgres/fixtures";
import { FerryRun, runFerry, standbyPath, standbyUrl, withDatabase } from "../dataplane/postgres/helpers";
import { seed } from "../dataplane/redis/helpers";
import { readStackConfig } from "../../policy/stack-file";
import { writeStackFile } from "../policy/stacks";
import { CLI_CASES, CliCase, World } from "./cli-cases";
import { CONFIG_CASES } from "./config-cases";
import { postgresFingerprint, redisFingerprint } from "./fingerprint";

const ROOT = path.join(__dirname, "..", "..");
const PASSWORDS = { target: "tgt-Pw-8c2d55e1", redis: "redis-Pw-71ab09f3", redisTls: "rtls-Pw-5e0c7d22", herokuKey: "heroku-Key-3b9e61aa", limited: "heroku-Limited-4410", pgTls: "pgtls-Pw-2f6a90c4" };

let source: LocalPostgres;
let target: LocalPostgres;
let standbyDir: string;
let redisSource: LocalRedis;
let redisTls: LocalRedis;
let redisTarget: LocalRedis;
let pgTls: LocalPostgres;
let redisCa: LocalRedis;
const TLS_HOSTNAME = "db.ferry-rds.test";
let heroku: FakeHerokuApi;
let world: World;
let secrets: string[];

async function seedRedis(server: LocalRedis): Promise<void> {
  const c = new Redis(server.url(), { tls: server.caCert ? { ca: server.caCert } : undefined });
  await seed(c, 20);
  c.disconnect();
}

beforeAll(async () => {
  // One private CA signs both managed stand-ins' certificates, which name only TLS_HOSTNAME.
  const ca = await makeCa(tempDir("bad-input-ca"));
  const wrongCa = await makeCa(tempDir("bad-input-wrong-ca"), "a CA that signed nothing here");
  const managed = { kind: "private-ca" as const, hostnames: [TLS_HOSTNAME], ca };
  [source, target, redisSource, redisTls, redisTarget, pgTls, redisCa] = await Promise.all([
    startSource(50),
    startPostgres({ password: PASSWORDS.target }),
    startRedis({ password: PASSWORDS.redis }),
    startRedis({ password: PASSWORDS.redisTls, tls: true, disableCommands: ["SYNC", "PSYNC"] }),
    startRedis(),
    startPostgres({ password: PASSWORDS.pgTls, tls: managed }),
    startRedis({ tls: managed }),
  ]);
  await target.query("CREATE DATABASE app");
  await target.query("CREATE DATABASE notempty");
  await target.query("CREATE TABLE already_here (id int PRIMARY KEY)", [], "notempty");
  await target.query("CREATE DATABASE fromstandby");
  await target.query("CREATE DATABASE conflict");
  await target.query("CREATE TABLE accounts (id bigint PRIMARY KEY, note text)", [], "conflict");
  await Promise.all([seedRedis(redisSource), seedRedis(redisTls)]);
  heroku = await startHerokuApi({
    apiKey: PASSWORDS.herokuKey,
    limitedKeys: { [PASSWORDS.limited]: ["someone-elses"] },
    apps: [
      { name: "mastodon-web", formation: [{ type: "web", quantity: 2 }], configVars: { DATABASE_URL: "postgres://u:dbvar@h/d" } },
      { name: "someone-elses", formation: [{ type: "web", quantity: 1 }] },
    ],
  });
  standbyDir = standbyPath();
  const standby = await standbyUrl(source);
  await replicatePhysical({ sourceUrl: source.url(), targetUrl: standby, standbyDir });
  const wrong = (url: string) => url.replace(/:[^:@/]+@/, ":wrong-password@");
  world = {
    source: source.url(),
    sourceWrongPassword: wrong(source.url()),
    target: withDatabase(target.url(), "app"),
    targetWrongPassword: wrong(withDatabase(target.url(), "app")),
    targetNotEmpty: withDatabase(target.url(), "notempty"),
    targetConflicting: withDatabase(target.url(), "conflict"),
    standby,
    targetForStandby: withDatabase(target.url(), "fromstandby"),
    redisSource: redisSource.url(),
    redisSourceWrongPassword: `redis://:wrong-password@127.0.0.1:${redisSource.port}/0`,
    redisTls: redisTls.url(),
    redisTlsAsPlain: redisTls.url().replace("rediss://", "redis://"),
    pgTls: pgTls.url(),
    tlsCaFile: ca.caFile,
    wrongCaFile: wrongCa.caFile,
    tlsHostname: TLS_HOSTNAME,
    redisCa: redisCa.url(),
    redisPlainAsTls: redisTarget.url().replace("redis://", "rediss://"),
    redisTarget: redisTarget.url(),
    herokuApi: heroku.url,
    herokuKey: PASSWORDS.herokuKey,
    herokuKeyWithoutAccess: PASSWORDS.limited,
    herokuApp: "mastodon-web",
  };
  secrets = [source.password, ...Object.values(PASSWORDS)];
}, 180_000);

afterAll(async () => {
  await stopStandby(standbyDir).catch(() => undefined);
  await heroku?.stop();
  // Every server this file started: left running, each run of the file leaked seven.
  await Promise.all([source, target, pgTls, redisSource, redisTls, redisTarget, redisCa].map((s) => s?.stop()));
});

/** Everything a failed command could have changed, on every side. */
async function sides(): Promise<Record<string, string[]>> {
  const app = heroku.app("mastodon-web")!;
  return {
    source: await postgresFingerprint(source.url()),
    target: await postgresFingerprint(target.url()),
    redisSource: await redisFingerprint(redisSource.url()),
    redisTls: await redisFingerprint(redisTls.url(), { ca: redisTls.caCert! }),
    redisTarget: await redisFingerprint(redisTarget.url()),
    // node-postgres's own reading of the URL: no-verify is TLS without verification.
    pgTls: await postgresFingerprint(`${pgTls.url()}?sslmode=no-verify`),
    heroku: [JSON.stringify({ m: app.maintenance, c: app.configVars, f: app.formation.map((f) => [f.type, f.quantity, f.size]) })],
  };
}

/** The last line a command printed on stderr (Node may print warnings before ferry's line). */
const lastLine = (stderr: string) => stderr.trimEnd().split("\n").pop() ?? "";

function plan(stackFile: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "policy/plan.ts", "--stack", "test", "--dir", path.dirname(stackFile)], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/** Run `work` over `items`, at most `limit` at a time (two shared cores: a few processes at once). */
async function pooled<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

describe("bad configuration values", () => {
  it("the table has at least 30 cases in all", () => {
    expect(CONFIG_CASES.length + CLI_CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CONFIG_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const file = writeStackFile(c.config);
    let message = "";
    try {
      readStackConfig(file);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toMatch(c.error);
  });

  // The same refusals through the CLI a user runs: one line, exit code 2.
  const sample = [CONFIG_CASES[0], CONFIG_CASES.find((c) => c.name.startsWith("traffic above"))!, CONFIG_CASES.find((c) => c.name.startsWith("app cut over"))!];
  it.each(sample.map((c) => [c.name, c] as const))("npm run plan: %s", async (_name, c) => {
    const run = await plan(writeStackFile(c.config));
    expect(run.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    expect(run.stderr.trimEnd().replace(/^ferry plan: /, "")).toMatch(c.error);
    expect(run.code).toBe(c.exit);
  }, 60_000);
});

/** What differs between two captures of the sides: names the relations, keys or settings that changed. */
function changes(before: Record<string, string[]>, after: Record<string, string[]>): Record<string, { appeared: string[]; vanished: string[] }> {
  const diff = Object.keys(before).map((side) => [side, {
    appeared: after[side].filter((line) => !before[side].includes(line)),
    vanished: before[side].filter((line) => !after[side].includes(line)),
  }] as const);
  return Object.fromEntries(diff.filter(([, d]) => d.appeared.length + d.vanished.length > 0));
}

/** One bad input's whole expectation: its line, its exit code, no secret echoed. */
function expectRefused(c: CliCase, run: FerryRun): void {
  expect(lastLine(run.stderr)).toMatch(c.error);
  expect(run.code).toBe(c.exit);
  for (const secret of secrets) expect(run.stdout + run.stderr).not.toContain(secret);
}

describe("bad command lines, URLs, passwords, certificates and sides", () => {
  let before: Record<string, string[]>;
  let runs: Map<string, FerryRun>;

  beforeAll(async () => {
    before = await sides();
    const results = await pooled(CLI_CASES, 3, (c) => runFerry(c.args(world), c.env?.(world) ?? {}));
    runs = new Map(CLI_CASES.map((c, i) => [c.name, results[i]]));
  }, 300_000);

  it.each(CLI_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expectRefused(c, runs.get(c.name)!);
  });

  it("changed nothing on either side", async () => {
    expect(changes(before, await sides())).toEqual({});
  });

  it("leaves the source primary writable", async () => {
    await source.query("BEGIN; INSERT INTO accounts (id, email) VALUES (-1, 'probe@example.com'); ROLLBACK;");
    const [{ ro }] = await source.query<{ ro: string }>("SELECT current_setting('default_transaction_read_only') AS ro");
    expect(ro).toBe("off");
  });
});
