// The source Postgres's final backup: a custom-format pg_dump (what Heroku's own
// pg:backups makes, restorable with pg_restore anywhere), taken from the fenced source,
// which only reads. ferry's own schema (the fence record) and the replication objects
// are left out: a restore gives back the app's data, not a fenced or publishing copy.
// Restore goes into an empty database only, with the target's own owners and grants.
import { join } from "node:path";
import { FerryError } from "../cli/common";
import { describeUrl, libpqArgs, withClient } from "../postgres/connection";
import { STATE_SCHEMA } from "../postgres/names";
import { runTool } from "../postgres/tools";
import { BackupObject, StoredBackup, downloadVerified, inTempDir, uploadVerified } from "./bucket";

export async function dumpPostgres(sourceUrl: string, file: string): Promise<void> {
  const { conninfo, env } = libpqArgs(sourceUrl);
  await runTool("pg_dump", ["--dbname", conninfo, "--format=custom", `--exclude-schema=${STATE_SCHEMA}`, "--no-publications", "--no-subscriptions", "--file", file], env);
}

/** Tables, views and sequences outside the system schemas and ferry's own. */
async function userRelations(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const r = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace
        WHERE k.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\\_%'`,
      [STATE_SCHEMA],
    );
    return Number(r.rows[0].n);
  });
}

/** Dump the source into `o`, checksummed and read back. */
export function backupPostgres(sourceUrl: string, o: BackupObject): Promise<StoredBackup> {
  return inTempDir("ferry-pg-backup-", async (dir) => {
    const file = join(dir, "postgres.dump");
    await dumpPostgres(sourceUrl, file);
    return uploadVerified(file, o);
  });
}

/**
 * Restore `o` into the empty database at `targetUrl`: the checksum first (a damaged
 * object changes nothing), then pg_restore in one transaction, so a failure leaves the
 * database as empty as it was.
 */
export async function restorePostgres(o: BackupObject, targetUrl: string): Promise<StoredBackup & { relations: number }> {
  const existing = await userRelations(targetUrl);
  if (existing > 0) throw new FerryError(`--target ${describeUrl(targetUrl)}: already holds ${existing} table(s), view(s) or sequence(s): restore into an empty database`, 1, "target");
  return inTempDir("ferry-pg-restore-", async (dir) => {
    const file = join(dir, "postgres.dump");
    const stored = await downloadVerified(o, file);
    const { conninfo, env } = libpqArgs(targetUrl);
    await runTool("pg_restore", ["--dbname", conninfo, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", file], env);
    return { ...stored, relations: await userRelations(targetUrl) };
  });
}
