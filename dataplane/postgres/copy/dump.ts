// The dump copy: what a maintenance window on Heroku Postgres allows (no
// replication role there). One exported snapshot on the source; the pre-data
// schema; rows streamed COPY-to-COPY over `jobs` connection pairs, biggest jobs
// first, big tables cut into ctid ranges, each table's indexes built by `jobs` more
// connections as soon as its rows are in; then the rest of post-data (foreign keys,
// triggers, ...) in parallel; then sequences; then ANALYZE so the app's first
// queries get good plans.
import os from "node:os";
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { connect, describeUrl, qualified, withClient } from "../connection";
import { countLargeObjects, DUMP_SEARCH_PATH, listTables, serverVersion, TableInfo, userRelations } from "../copy-catalog";
import { planChunks, CopyChunk } from "./copy-plan";
import { defaultJobs, runPool } from "../copy-pool";
import { copyDatabaseSettings, dumpSchemaArchive, restoreSection } from "./copy-schema";
import { connectInSnapshot, exportSnapshot, SharedSnapshot } from "../copy-snapshot";
import { copyChunk } from "./copy-stream";
import { EarlyIndex, IndexBuilder, listEarlyIndexes, listLockUpgradingIndexes } from "./copy-indexes";
import { syncSequences } from "../sequences";
import { applyPrivileges, archivePrivileges } from "../privileges";

export interface DumpProgress {
  tablesDone: number;
  tablesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface DumpCopyOptions {
  sourceUrl: string;
  targetUrl: string;
  /** Connection pairs copying rows, and pg_restore jobs building indexes. */
  jobs?: number;
  onProgress?: (p: DumpProgress) => void;
  /** Tables bigger than this (heap bytes) are cut into ctid ranges. Default 128 MiB. */
  splitBytes?: number;
  /** Large objects are never copied: "fail" (default) refuses to start, "skip" copies the rest and warns. */
  largeObjects?: "fail" | "skip";
  /** ANALYZE the target's tables at the end (default true). */
  analyze?: boolean;
  /** maintenance_work_mem for the index builds (default "256MB"). */
  maintenanceWorkMem?: string;
  /** Build a table's indexes as soon as its rows are in, during the rest of the copy (default true). */
  overlapIndexes?: boolean;
  /**
   * Called once the schema is restored into the (empty) target, before any row: what is
   * there now is the copy's, and the caller records it (see target.ts).
   */
  onSchemaRestored?: () => Promise<void>;
  /**
   * Called with the copy's exported snapshot before anything is read in it: the capture
   * strategy records the snapshot's pg_current_snapshot() there, which says which logged
   * changes the copy already holds.
   */
  onSnapshot?: (snapshot: SharedSnapshot) => Promise<void>;
}

export interface DumpCopyResult {
  tables: number;
  rows: number;
  /** COPY bytes streamed from source to target. */
  bytes: number;
  durationMs: number;
  phases: { name: string; ms: number }[];
  sequences: number;
  /** Indexes and key constraints built during the data phase, as their tables finished. */
  indexesBuiltEarly: number;
  warnings: string[];
}

const DEFAULT_SPLIT_BYTES = 128 * 1024 * 1024;
const PROGRESS_EVERY_MS = 200;

/** Copy every user table, the schema and the sequences from source to an empty target. */
export async function copyByDump(opts: DumpCopyOptions): Promise<DumpCopyResult> {
  const started = Date.now();
  const jobs = Math.max(1, opts.jobs ?? defaultJobs(os.cpus().length));
  const phases: { name: string; ms: number }[] = [];
  const warnings: string[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      phases.push({ name, ms: Date.now() - t0 });
    }
  };

  const targetVersion = await timed("check target", () => withClient(opts.targetUrl, assertEmptyTarget(opts.targetUrl)));
  const snapshot = await exportSnapshot(opts.sourceUrl, "ferry-copy");
  let removeArchive: () => void = () => undefined;
  const result: DumpCopyResult = { tables: 0, rows: 0, bytes: 0, durationMs: 0, phases, sequences: 0, indexesBuiltEarly: 0, warnings };
  try {
    await opts.onSnapshot?.(snapshot);
    const { tables, sourceVersion, blockSize, earlyIndexes, lockUpgrading } = await timed("snapshot", () => readSource(snapshot, opts, warnings));
    const archive = await timed("dump schema", () => dumpSchemaArchive(opts.sourceUrl, snapshot.id));
    removeArchive = archive.remove;
    const restoreOpts = { jobs, maintenanceWorkMem: opts.maintenanceWorkMem ?? "256MB" };
    await timed("pre-data", () => restoreSection(archive, opts.targetUrl, "pre-data", restoreOpts));
    await opts.onSchemaRestored?.();

    const chunks = planChunks(tables, {
      splitBytes: opts.splitBytes ?? DEFAULT_SPLIT_BYTES,
      maxPartsPerTable: jobs * 4,
      blockSize,
      canSplitByCtid: sourceVersion >= 140000,
      sameMajorVersion: Math.floor(sourceVersion / 10000) === Math.floor(targetVersion / 10000),
    });
    const builder = opts.overlapIndexes === false ? undefined : new IndexBuilder(opts.targetUrl, jobs, restoreOpts.maintenanceWorkMem);
    const indexesOf = (oid: number) => earlyIndexes.filter((i) => i.tableOid === oid);
    let built: EarlyIndex[] = [];
    try {
      const copied = await timed("data", () => copyRows(chunks, snapshot, opts, jobs, (oid) => builder?.add(indexesOf(oid))));
      // Rows are in: the snapshot (and the ACCESS SHARE locks it holds) can go.
      await snapshot.release();
      built = await timed("indexes", async () => (builder ? builder.finish() : []));
      result.rows = copied.rows;
      result.bytes = copied.bytes;
      result.indexesBuiltEarly = built.length;
    } finally {
      await builder?.finish().catch(() => undefined);
    }

    await timed("post-data", () => restoreSection(archive, opts.targetUrl, "post-data", { ...restoreOpts, alreadyBuilt: built, oneAtATime: lockUpgrading }));
    const sequences = await timed("sequences", () =>
      withClient(opts.sourceUrl, (s) => withClient(opts.targetUrl, (t) => syncSequences(s, t))).then((synced) => synced.length),
    );
    // Grants and revokes (extension members' too) after the rows: a REVOKE from the owner cannot stop the copy.
    await timed("privileges", async () =>
      warnings.push(...(await withClient(opts.targetUrl, async (t) => applyPrivileges(t, await archivePrivileges(archive))))),
    );
    if (opts.analyze !== false) await timed("analyze", () => analyzeTables(opts.targetUrl, tables, jobs));
    await timed("database settings", async () =>
      warnings.push(...(await withClient(opts.sourceUrl, (s) => withClient(opts.targetUrl, (t) => copyDatabaseSettings(s, t))))),
    );
    return { ...result, tables: tables.filter((t) => t.kind === "r").length, durationMs: Date.now() - started, sequences };
  } finally {
    await snapshot.release();
    removeArchive();
  }
}

/** Refuse a target that already has user relations: the copy would collide with or silently merge into them. */
export function assertEmptyTarget(targetUrl: string) {
  return async (c: Client): Promise<number> => {
    const { count, examples } = await userRelations(c);
    if (count > 0) {
      throw new FerryError(
        `target ${describeUrl(targetUrl)} is not empty: it has ${count} user relation(s) (${examples.join(", ")}${count > examples.length ? ", ..." : ""}); the dump copy needs an empty database`,
      );
    }
    return serverVersion(c);
  };
}

/** In the snapshot: lock the tables against DDL, refuse or warn on large objects, read tables and sizes. */
async function readSource(snapshot: SharedSnapshot, opts: DumpCopyOptions, warnings: string[]) {
  const c = snapshot.client;
  // Names read here (index definitions, types) come out fully qualified, as pg_dump's do.
  await c.query(DUMP_SEARCH_PATH);
  if (!snapshot.id) throw new FerryError(`source ${describeUrl(opts.sourceUrl)} cannot export a snapshot (pg_export_snapshot failed): parallel workers would read different data`);
  const tables = await listTables(c);
  if (tables.length) {
    // ACCESS SHARE blocks TRUNCATE, ALTER and VACUUM FULL (which would move rows between ctid ranges) until the rows are read.
    await c.query("SET LOCAL lock_timeout = '30s'");
    await c.query(`LOCK TABLE ${tables.map((t) => `ONLY ${qualified(t.schema, t.name)}`).join(", ")} IN ACCESS SHARE MODE`);
  }
  const largeObjects = await countLargeObjects(c);
  if (largeObjects > 0) {
    const what = `source ${describeUrl(opts.sourceUrl)} has ${largeObjects} large object(s) (pg_largeobject), which ferry does not copy`;
    if (opts.largeObjects !== "skip") throw new FerryError(`${what}: move them to bytea columns first, or copy with large objects skipped`);
    warnings.push(`${what}: skipped`);
  }
  const sourceVersion = await serverVersion(c);
  const blockSize = Number((await c.query<{ b: string }>("SELECT current_setting('block_size') AS b")).rows[0].b);
  const earlyIndexes = opts.overlapIndexes === false ? [] : await listEarlyIndexes(c, tables);
  const lockUpgrading = await listLockUpgradingIndexes(c, tables);
  return { tables, sourceVersion, blockSize, earlyIndexes, lockUpgrading };
}

interface CopyWorker {
  source: Client;
  target: Client;
}

/** Run the COPY jobs over `jobs` connection pairs, reporting progress. */
async function copyRows(chunks: CopyChunk[], snapshot: SharedSnapshot, opts: DumpCopyOptions, jobs: number, onTableDone: (oid: number) => void) {
  const tablesTotal = new Set(chunks.map((c) => c.table.oid)).size;
  const partsLeft = new Map<number, number>();
  for (const c of chunks) partsLeft.set(c.table.oid, (partsLeft.get(c.table.oid) ?? 0) + 1);
  const bytesTotal = chunks.reduce((sum, c) => sum + c.estimatedBytes, 0);
  let tablesDone = 0;
  let bytesDoneEstimate = 0;
  let rows = 0;
  let bytes = 0;
  let lastReport = 0;
  const report = (force: boolean, inFlight = 0) => {
    if (!opts.onProgress || (!force && Date.now() - lastReport < PROGRESS_EVERY_MS)) return;
    lastReport = Date.now();
    opts.onProgress({ tablesDone, tablesTotal, bytesDone: Math.min(bytesTotal, bytesDoneEstimate + inFlight), bytesTotal });
  };
  let inFlight = 0;
  report(true);
  await runPool<CopyWorker, CopyChunk>(
    chunks,
    jobs,
    async () => {
      const source = await connectInSnapshot(opts.sourceUrl, snapshot, "ferry-copy");
      // Row-level security must not filter rows silently: with it off, a policy that would hide rows is an error instead.
      await source.query("SET row_security = off");
      await source.query(DUMP_SEARCH_PATH);
      const target = await connect(opts.targetUrl, { application_name: "ferry-copy" });
      target.on("error", () => undefined);
      // As pg_restore loads data: domain and check constraints evaluated by COPY resolve nothing through the target's search_path.
      await target.query(DUMP_SEARCH_PATH);
      // A copy that dies is started again from an empty target, so its commits need not wait for the disk.
      await target.query("SET synchronous_commit = off");
      return { source, target };
    },
    async (w, chunk) => {
      let streamed = 0;
      const n = await copyChunk(w.source, w.target, chunk, (b) => {
        streamed += b;
        bytes += b;
        inFlight += b;
        report(false, Math.min(inFlight, bytesTotal));
      });
      inFlight -= streamed;
      rows += n;
      bytesDoneEstimate += chunk.estimatedBytes;
      const left = partsLeft.get(chunk.table.oid)! - 1;
      partsLeft.set(chunk.table.oid, left);
      if (left === 0) {
        tablesDone++;
        onTableDone(chunk.table.oid);
      }
      report(true);
    },
    async (w) => {
      await w.source.end().catch(() => undefined);
      await w.target.end().catch(() => undefined);
    },
  );
  return { rows, bytes };
}

/** ANALYZE each table on its own connection slot, so statistics exist before the app's first query. */
async function analyzeTables(targetUrl: string, tables: TableInfo[], jobs: number): Promise<void> {
  const ordered = [...tables].sort((a, b) => b.totalBytes - a.totalBytes);
  await runPool<Client, TableInfo>(
    ordered,
    jobs,
    async () => {
      const c = await connect(targetUrl, { application_name: "ferry-analyze" });
      // ANALYZE evaluates expression indexes and statistics: under pg_dump's search_path, as they were built.
      await c.query(DUMP_SEARCH_PATH);
      return c;
    },
    async (c, t) => {
      await c.query(`ANALYZE ${qualified(t.schema, t.name)}`);
    },
    (c) => c.end().catch(() => undefined),
  );
}
