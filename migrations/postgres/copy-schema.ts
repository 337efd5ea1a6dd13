// The schema half of the dump copy. pg_dump reads it inside the copy's exported
// snapshot (so schema and rows agree) into a schema-only custom-format archive,
// a few kilobytes in a private temp directory. pg_restore then applies the
// pre-data section before the rows, and the post-data section (indexes,
// constraints, triggers, materialized view data) after them with -j, which builds
// indexes in parallel and orders foreign keys after the keys they reference; the
// indexes already built during the copy (copy-indexes.ts) are left out of its list.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libpqArgs } from "./connection";
import { runTool } from "./tools";
import { EarlyIndex, withoutBuilt } from "./copy-indexes";

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
  const args = ["--dbname", conninfo, "--format=custom", "--schema-only", "--no-publications", "--no-subscriptions", "--file", file];
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  try {
    await runTool("pg_dump", args, env);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Settings for the restore sessions: index builds get memory; commits need not wait for fsync (a failed copy is redone). */
function restoreEnv(env: NodeJS.ProcessEnv, maintenanceWorkMem: string): NodeJS.ProcessEnv {
  const options = `-c maintenance_work_mem=${maintenanceWorkMem} -c synchronous_commit=off`;
  return { ...env, PGOPTIONS: [env.PGOPTIONS, options].filter(Boolean).join(" ") };
}

/**
 * Restore one section of the archive into `targetUrl`, without owners or grants (the
 * target's roles differ). pre-data runs as one transaction; post-data with `jobs`.
 */
export async function restoreSection(
  archive: SchemaArchive,
  targetUrl: string,
  section: "pre-data" | "post-data",
  opts: { jobs: number; maintenanceWorkMem: string; alreadyBuilt?: EarlyIndex[] },
): Promise<void> {
  const { conninfo, env } = libpqArgs(targetUrl);
  const args = ["--dbname", conninfo, `--section=${section}`, "--no-owner", "--no-privileges", "--exit-on-error"];
  if (opts.alreadyBuilt?.length) {
    const listFile = join(archive.dir, `${section}.list`);
    writeFileSync(listFile, withoutBuilt(await runTool("pg_restore", ["--list", archive.file], env), opts.alreadyBuilt));
    args.push(`--use-list=${listFile}`);
  }
  if (section === "pre-data") args.push("--single-transaction");
  else args.push(`--jobs=${Math.max(1, opts.jobs)}`);
  await runTool("pg_restore", [...args, archive.file], restoreEnv(env, opts.maintenanceWorkMem));
}
