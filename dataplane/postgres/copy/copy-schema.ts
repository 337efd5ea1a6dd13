// The schema half of the dump copy. pg_dump reads it inside the copy's exported
// snapshot (so schema and rows agree) into a custom-format archive of its pre-data
// and post-data sections (no table data), a few kilobytes in a private temp
// directory. pg_restore then applies the pre-data section before the rows, and the
// post-data section (indexes, constraints, triggers, materialized view refreshes)
// after them with -j, which builds indexes in parallel and orders foreign keys after
// the keys they reference; the indexes already built during the copy
// (copy-indexes.ts) are left out of its list. Last, the database's own settings.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { libpqArgs, quoteIdent, quoteLiteral } from "../connection";
import { runTool } from "../tools";
import { IndexEntry, onlyEntries, withoutBuilt } from "./copy-indexes";
import { CAPTURE_ROW_TRIGGER, CAPTURE_SCHEMA, CAPTURE_TRUNCATE_TRIGGER } from "../names";

export interface SchemaArchive {
  file: string;
  dir: string;
  remove(): void;
}

/** Dump the source's schema as seen by `snapshot` into a temporary archive. */
export async function dumpSchemaArchive(sourceUrl: string, snapshot: string | undefined): Promise<SchemaArchive> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-schema-"));
  const file = join(dir, "schema.dump");
  const { conninfo, env } = libpqArgs(sourceUrl);
  // The pre-data and post-data sections rather than --schema-only: --schema-only also drops the
  // "MATERIALIZED VIEW DATA" entries (REFRESH MATERIALIZED VIEW, post-data), which left every materialized
  // view unpopulated on the target. --no-blobs: large objects are refused or skipped (dump.ts), not created empty.
  // The capture strategy's change log and trigger functions stay on the source (its triggers: withoutCaptureTriggers).
  const args = ["--dbname", conninfo, "--format=custom", "--section=pre-data", "--section=post-data", "--no-blobs", "--no-publications", "--no-subscriptions", `--exclude-schema=${CAPTURE_SCHEMA}`, "--file", file];
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  try {
    await runTool("pg_dump", args, env);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const CAPTURE_TRIGGER_ENTRY = new RegExp(` TRIGGER \\S+ .*\\b(${CAPTURE_ROW_TRIGGER}|${CAPTURE_TRUNCATE_TRIGGER}) \\S+$`);

/**
 * A `pg_restore -l` listing without the capture strategy's triggers: they live on the
 * user tables (so pg_dump lists them) but call functions that stay on the source.
 */
export function withoutCaptureTriggers(list: string): string {
  return list.split("\n").filter((line) => !CAPTURE_TRIGGER_ENTRY.test(line)).join("\n");
}

/** Settings for the restore sessions: index builds get memory; commits need not wait for fsync (a failed copy is redone). */
function restoreEnv(env: NodeJS.ProcessEnv, maintenanceWorkMem: string): NodeJS.ProcessEnv {
  const options = `-c maintenance_work_mem=${maintenanceWorkMem} -c synchronous_commit=off`;
  return { ...env, PGOPTIONS: [env.PGOPTIONS, options].filter(Boolean).join(" ") };
}

/**
 * Restore one section of the archive into `targetUrl`, without owners or grants (the
 * target's roles differ). pre-data runs as one transaction; post-data with `jobs`,
 * minus the entries `alreadyBuilt`, after the `oneAtATime` entries (restored first,
 * without -j: see listLockUpgradingIndexes).
 */
export async function restoreSection(
  archive: SchemaArchive,
  targetUrl: string,
  section: "pre-data" | "post-data",
  opts: { jobs: number; maintenanceWorkMem: string; alreadyBuilt?: IndexEntry[]; oneAtATime?: IndexEntry[] },
): Promise<void> {
  const { conninfo, env } = libpqArgs(targetUrl);
  const args = ["--dbname", conninfo, `--section=${section}`, "--no-owner", "--no-privileges", "--exit-on-error"];
  const restoreEnvironment = restoreEnv(env, opts.maintenanceWorkMem);
  const skipped = [...(opts.alreadyBuilt ?? []), ...(opts.oneAtATime ?? [])];
  const filtered = skipped.length > 0 || section === "post-data";
  const listed = filtered ? await runTool("pg_restore", ["--list", archive.file], env) : "";
  const useList = (name: string, list: string) => {
    const file = join(archive.dir, `${section}.${name}.list`);
    writeFileSync(file, list);
    return `--use-list=${file}`;
  };
  if (opts.oneAtATime?.length) {
    await runTool("pg_restore", [...args, useList("first", onlyEntries(listed, opts.oneAtATime)), archive.file], restoreEnvironment);
  }
  const rest = [...args];
  if (filtered) rest.push(useList("rest", withoutCaptureTriggers(withoutBuilt(listed, skipped))));
  if (section === "pre-data") rest.push("--single-transaction");
  else rest.push(`--jobs=${Math.max(1, opts.jobs)}`);
  await runTool("pg_restore", [...rest, archive.file], restoreEnvironment);
}

/**
 * GUCs whose value is a list of names, each quoted on its own. pg_dump keeps the same
 * list (variable_is_guc_list_quote() in src/bin/pg_dump/dumputils.c); for the rest
 * the value is one literal.
 */
const LIST_QUOTED_SETTINGS = new Set(["local_preload_libraries", "search_path", "session_preload_libraries", "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories"]);

/**
 * Split a list setting as the server stores it (`"$user", public, "My ""Schema"""`)
 * into its elements, unquoted: what pg_dump's SplitGUCList does.
 */
export function splitSettingList(value: string): string[] {
  const items: string[] = [];
  let i = 0;
  const skipSpaces = () => {
    while (i < value.length && /\s/.test(value[i])) i++;
  };
  skipSpaces();
  if (i === value.length) return items;
  for (;;) {
    let item = "";
    if (value[i] === '"') {
      for (i++; i < value.length; i++) {
        if (value[i] === '"') {
          if (value[i + 1] !== '"') break;
          i++;
        }
        item += value[i];
      }
      i++;
    } else {
      while (i < value.length && value[i] !== "," && !/\s/.test(value[i])) item += value[i++];
    }
    items.push(item);
    skipSpaces();
    if (value[i] !== ",") return items;
    i++;
    skipSpaces();
  }
}

/** `ALTER DATABASE db SET name TO value` for one `name=value` entry of pg_db_role_setting, quoted as pg_dump quotes it. */
export function alterDatabaseSetting(database: string, entry: string): string {
  const at = entry.indexOf("=");
  const name = entry.slice(0, at);
  const value = entry.slice(at + 1);
  const values = LIST_QUOTED_SETTINGS.has(name.toLowerCase()) ? splitSettingList(value) : [value];
  return `ALTER DATABASE ${quoteIdent(database)} SET ${quoteIdent(name)} TO ${values.map(quoteLiteral).join(", ")}`;
}

/**
 * Settings never copied: ferry's own (`ferry.fence`, the cutover's fence record, see
 * cutover/fence.ts) and default_transaction_read_only, the fence's switch: during a cutover the
 * source is read-only on purpose, and the target is where the app writes next.
 */
export function settingsToCopy(entries: string[]): string[] {
  const name = (entry: string) => entry.slice(0, entry.indexOf("=")).toLowerCase();
  return entries.filter((e) => !name(e).startsWith("ferry.") && name(e) !== "default_transaction_read_only");
}

/**
 * The source database's own settings (`ALTER DATABASE ... SET`, e.g. a search_path
 * reaching a second schema), set on the target database. pg_dump only writes them
 * with --create, which would also CREATE the database. Run last, so that a setting
 * such as default_transaction_read_only does not reach the copy's own sessions.
 * Returns a warning per setting the target refuses (e.g. a superuser-only one).
 */
export async function copyDatabaseSettings(source: Client, target: Client): Promise<string[]> {
  const { rows } = await source.query<{ entry: string }>(`
    SELECT pg_catalog.unnest(setconfig) AS entry FROM pg_catalog.pg_db_role_setting
    WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`);
  const { rows: db } = await target.query<{ name: string }>("SELECT pg_catalog.current_database() AS name");
  const warnings: string[] = [];
  for (const entry of settingsToCopy(rows.map((r) => r.entry))) {
    try {
      await target.query(alterDatabaseSetting(db[0].name, entry));
    } catch (err) {
      // The name only: a custom setting's value may be a secret.
      warnings.push(`database setting ${entry.slice(0, entry.indexOf("="))} was not copied: ${(err as Error).message}; set it on the target with ALTER DATABASE ... SET`);
    }
  }
  return warnings;
}
