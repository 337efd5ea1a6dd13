// The DATABASE_URL the app gets for RDS works for libpq and node-postgres alike (issue 23,
// item 12): Rails (libpq) and Mastodon's streaming server (node-postgres, which reads
// `sslmode=require` as verify-full against Node's own CA store, where the RDS roots are
// not) must both connect with the URL exactly as the program hands it over. Checked with a
// real node-postgres Client and real psql against PostgreSQL serving TLS from a private CA
// (the RDS CA stand-in), installed where every task has the RDS bundle.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Client } from "pg";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { plain, providerRules, resourcesOf, stackConfig, upTo, withFlags } from "../program/harness";
import { LocalPostgres, startPostgres } from "../../rehearsal/servers";
import { installRdsBundle } from "../../rehearsal/stack/rds-bundle";
import { RDS_CA_IN_TASK } from "../../components/target/app/rds-ca";
import { withoutPooler } from "./pooler-config";

let pg: LocalPostgres;
let removeBundle: () => void;

beforeAll(async () => {
  pg = await startPostgres({ password: randomBytes(12).toString("hex"), tls: { kind: "private-ca", hostnames: ["localhost"], required: true } });
  removeBundle = installRdsBundle(pg.tls!.caFile, `database-url-${randomBytes(4).toString("hex")}`, RDS_CA_IN_TASK);
}, 120_000);

afterAll(async () => {
  removeBundle?.();
  await pg?.stop("immediate");
});

/** The app's DATABASE_URL at cutover, as the program writes it into the app's config secret. */
async function programDatabaseUrl(stack: "staging" | "prod"): Promise<string> {
  const name = `dburl${stack === "staging" ? 1 : 2}`;
  const config = parseConfig(withFlags(withoutPooler(stackConfig(stack)), upTo("cutover")));
  buildFerry(config, { name, transformations: [providerRules(config, name)] });
  const version = (await resourcesOf(name)).find((r) => r.type === "aws:secretsmanager/secretVersion:SecretVersion" && r.name === `${name}-app-config`)!;
  return (JSON.parse(String(plain(version.inputs.secretString))) as { DATABASE_URL: string }).DATABASE_URL;
}

/** The same URL, aimed at the local server: only user, password, host, port and database change; every parameter stays as handed over. */
function onLocalServer(url: string): string {
  const u = new URL(url);
  const local = new URL(pg.url("postgres"));
  u.username = local.username;
  u.password = local.password;
  u.hostname = "localhost";
  u.port = local.port;
  u.pathname = "/postgres";
  return u.toString();
}

const SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

async function nodePostgres(url: string): Promise<boolean> {
  // As Mastodon's streaming server does: the URL alone, no ssl object.
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ ssl: boolean }>(SSL_IN_USE)).rows[0].ssl;
  } finally {
    await client.end();
  }
}

async function libpq(url: string): Promise<string> {
  const { stdout } = await promisify(execFile)("psql", [url, "-Atc", SSL_IN_USE], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  return stdout.trim();
}

describe.each(["staging", "prod"] as const)("%s: the DATABASE_URL the app gets at cutover", (stack) => {
  test("node-postgres and libpq both connect with it, verifying RDS's certificate against the bundle in the task", async () => {
    const url = onLocalServer(await programDatabaseUrl(stack));
    expect(new URL(url).searchParams.get("sslrootcert")).toBe(RDS_CA_IN_TASK);
    expect(await nodePostgres(url)).toBe(true);
    expect(await libpq(url)).toBe("t");
  }, 120_000);
});

describe("what goes wrong without it", () => {
  test("sslmode=require alone: node-postgres verifies anyway and has no RDS root to verify against", async () => {
    const url = onLocalServer("postgres://app:x@db.example:5432/app?sslmode=require");
    await expect(nodePostgres(url)).rejects.toThrow(/self[- ]signed certificate|unable to (get|verify)/);
    // libpq connects (require does not verify): the two disagree, which is the defect.
    expect(await libpq(url)).toBe("t");
  }, 60_000);
});
