// The source database the rehearsal migrates: `mastodon`, owned by a `mastodon` role
// that is neither superuser nor replication (what Heroku hands an app). Its schema is the
// app's own, made by the app's migrations (`rails db:migrate`, as its release phase ran
// them on the live app: the release phase of the rehearsal is then a no-op until a new
// release). Filled with the generated sample, or with the user's own data from a pg_dump
// file or a live database, in which case the app writes to a small side schema next to
// their tables.
import { withClient } from "../dataplane/postgres/connection";
import { statSync } from "node:fs";
import { join } from "node:path";
import { libpqArgs } from "../dataplane/postgres/connection";
import { LocalPostgres, run, tempDir } from "./servers";
import { quoteSchema, SAMPLE_SCHEMA, SIDE_SCHEMA } from "./app-data";
import { countRows, planSample, seedSample, seedSampleToSize } from "./seed";

export const APP_DB = "mastodon";
export const APP_ROLE = "mastodon";

export interface SourceData {
  /** Schema the app reads and writes. */
  schema: string;
  accounts: number;
  rows: Record<string, number>;
  seed: string;
  dumpBytes?: number;
}

export async function createAppDatabase(pg: LocalPostgres, appPassword: string): Promise<void> {
  await withClient(pg.url(), async (c) => {
    await c.query(`CREATE ROLE ${APP_ROLE} LOGIN NOSUPERUSER NOREPLICATION NOCREATEROLE PASSWORD ${c.escapeLiteral(appPassword)}`);
    await c.query(`CREATE DATABASE ${APP_DB} OWNER ${APP_ROLE}`);
  });
}

/** pg_restore a custom-format dump as the superuser, then hand every object to the app role. */
async function restoreDump(pg: LocalPostgres, file: string): Promise<void> {
  const { conninfo, env } = libpqArgs(pg.url(APP_DB));
  await run("pg_restore", ["--dbname", conninfo, "--no-owner", "--no-privileges", "--jobs", "2", "--exit-on-error", file], { env });
  await withClient(pg.url(APP_DB), (c) =>
    c.query(`DO $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP
          EXECUTE format('ALTER SCHEMA %I OWNER TO ${APP_ROLE}', r.nspname);
        END LOOP;
        FOR r IN SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' AND c.relkind IN ('r','p','v','m','f')
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') LOOP
          EXECUTE format('ALTER TABLE %I.%I OWNER TO ${APP_ROLE}', r.nspname, r.relname);
        END LOOP;
      END $$`).then(() => c.query("ANALYZE")),
  );
}

/** pg_dump the user's database into a temp file; the password travels in PGPASSWORD only. */
async function dumpUserDatabase(url: string): Promise<string> {
  const file = join(tempDir("user-dump"), "source.dump");
  const { conninfo, env } = libpqArgs(url);
  await run("pg_dump", ["--dbname", conninfo, "--format", "custom", "--no-owner", "--no-privileges", "--file", file], { env });
  return file;
}

/**
 * The app's migrations against `databaseUrl` (the app's own role), run in the app's tree
 * as its release phase runs them; `schema` is the app's (APP_SCHEMA, its search path).
 */
export async function migrateApp(appDir: string, databaseUrl: string, schema: string): Promise<void> {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: appDir, RAILS_ENV: "production", BUNDLE_GEMFILE: join(appDir, "Gemfile"), DATABASE_URL: databaseUrl, APP_SCHEMA: schema };
  try {
    await run("bundle", ["exec", "rails", "db:migrate"], { cwd: appDir, env });
  } catch (err) {
    throw new Error(`the app's migrations failed on the source: ${(err as Error).message.split("\n").filter((l) => !/^\s*(\/|from )/.test(l)).slice(0, 3).join(" ")}`);
  }
}

/** A small side sample for the app when the user's data owns `public`. */
const SIDE_PLAN = { accounts: 500, followsPerAccount: 20, statuses: 10_000 };

export async function fillSource(
  pg: LocalPostgres,
  appPassword: string,
  opts: { sizeRows: number; sizeLabel: string; sourceDump?: string; sourceUrl?: string; appDir: string; /** Grow the sample to this database size instead (seed.ts seedSampleToSize). */ sizeBytes?: number },
): Promise<SourceData> {
  await createAppDatabase(pg, appPassword);
  const appUrl = pg.url(APP_DB, APP_ROLE, appPassword);
  if (!opts.sourceDump && !opts.sourceUrl) {
    await migrateApp(opts.appDir, appUrl, SAMPLE_SCHEMA);
    const rows = await withClient(appUrl, (c) => (opts.sizeBytes ? seedSampleToSize(c, SAMPLE_SCHEMA, opts.sizeBytes) : seedSample(c, SAMPLE_SCHEMA, planSample(opts.sizeRows))));
    return { schema: SAMPLE_SCHEMA, accounts: rows.accounts, rows, seed: `a generated sample (--size ${opts.sizeLabel})` };
  }
  const file = opts.sourceDump ?? (await dumpUserDatabase(opts.sourceUrl!));
  await restoreDump(pg, file);
  await withClient(appUrl, (c) => c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteSchema(SIDE_SCHEMA)}`));
  await migrateApp(opts.appDir, appUrl, SIDE_SCHEMA);
  const side = await withClient(appUrl, (c) => seedSample(c, SIDE_SCHEMA, SIDE_PLAN));
  const rows = await withClient(appUrl, async (c) => {
    const { rows: r } = await c.query(`SELECT coalesce(sum(n_live_tup), 0)::bigint AS n FROM pg_stat_user_tables WHERE schemaname <> $1`, [SIDE_SCHEMA]);
    return { "rows in your tables (estimate)": Number(r[0].n), ...Object.fromEntries(Object.entries(await countRows(c, SIDE_SCHEMA)).map(([k, v]) => [`rehearsal ${k}`, v])) };
  });
  return {
    schema: SIDE_SCHEMA,
    accounts: side.accounts,
    rows,
    seed: opts.sourceDump ? `your dump ${opts.sourceDump}` : "your database (pg_dump)",
    dumpBytes: statSync(file).size,
  };
}
