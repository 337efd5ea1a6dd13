// Schema copy through pg_dump's sections: "pre-data" (types, tables, sequences,
// functions) goes first so rows have somewhere to land; "post-data" (indexes,
// constraints, triggers) goes after, so indexes are built once over all the data
// instead of being maintained row by row.
import { libpqArgs } from "../connection";
import { runTool } from "../tools";

export type SchemaSection = "pre-data" | "post-data";

/**
 * The SQL of one schema section of the database at `url`, without owners or grants to unknown roles.
 * `--section` alone, not with --schema-only, which also drops post-data's REFRESH MATERIALIZED VIEW
 * entries (materialized views would stay unpopulated on the target); --no-blobs keeps large objects out.
 */
export async function dumpSchema(url: string, section: SchemaSection, tables?: string[]): Promise<string> {
  const { conninfo, env } = libpqArgs(url);
  // `tables` as SQL names them (`public.x`, `"My".t`): quoted parts are literal in pg_dump's patterns.
  const only = (tables ?? []).map((t) => `--table=${t}`);
  return runTool("pg_dump", ["--dbname", conninfo, `--section=${section}`, "--no-blobs", "--no-owner", "--no-privileges", "--no-publications", "--no-subscriptions", ...only], env);
}

/** Apply schema SQL to the database at `url` in one transaction, stopping at the first error. */
export async function applySchema(url: string, sql: string): Promise<void> {
  const { conninfo, env } = libpqArgs(url);
  await runTool("psql", ["--dbname", conninfo, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction", "--file", "-"], env, sql);
}
