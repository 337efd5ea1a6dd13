// Catalog facts the preflight, replication and cutover steps decide on: who we are
// connected as, replication capacity, tables logical replication cannot handle,
// login roles, WAL position. (Table and sequence listings live in copy-catalog.ts.)
import { Client } from "pg";
import { CAPTURE_SCHEMA, STATE_SCHEMA } from "./names";

/** User relations: not system schemas, not ferry's bookkeeping or change log, not extension members. */
export const USER_RELATION = `
  n.nspname NOT IN ('pg_catalog', 'information_schema', '${STATE_SCHEMA}', '${CAPTURE_SCHEMA}')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

export interface Privileges {
  user: string;
  superuser: boolean;
  /** Member of rds_superuser (Amazon RDS's stand-in for superuser). */
  rdsSuperuser: boolean;
  replication: boolean;
  createRole: boolean;
}

export async function privileges(c: Client): Promise<Privileges> {
  const { rows } = await c.query<{ user: string; rolsuper: boolean; rolreplication: boolean; rolcreaterole: boolean; rds: boolean }>(`
    SELECT r.rolname AS user, r.rolsuper, r.rolreplication, r.rolcreaterole,
           EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'rds_superuser' AND pg_has_role(r.oid, g.oid, 'member')) AS rds
    FROM pg_roles r WHERE r.rolname = current_user`);
  const r = rows[0];
  return { user: r.user, superuser: r.rolsuper, rdsSuperuser: r.rds, replication: r.rolreplication, createRole: r.rolcreaterole };
}

export interface ReplicationCapacity {
  walLevel: string;
  maxWalSenders: number;
  walSendersInUse: number;
  maxReplicationSlots: number;
  slotsInUse: number;
}

export async function replicationCapacity(c: Client): Promise<ReplicationCapacity> {
  const { rows } = await c.query<{ wal_level: string; senders: string; senders_used: string; slots: string; slots_used: string }>(`
    SELECT current_setting('wal_level') AS wal_level,
           current_setting('max_wal_senders') AS senders,
           (SELECT count(*) FROM pg_stat_replication) AS senders_used,
           current_setting('max_replication_slots') AS slots,
           (SELECT count(*) FROM pg_replication_slots) AS slots_used`);
  const r = rows[0];
  return {
    walLevel: r.wal_level,
    maxWalSenders: Number(r.senders),
    walSendersInUse: Number(r.senders_used),
    maxReplicationSlots: Number(r.slots),
    slotsInUse: Number(r.slots_used),
  };
}

/** `schema.table` names of the user relations matching `condition` (over pg_class c, pg_namespace n), sorted. */
async function relationNames(c: Client, condition: string): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${condition}
    ORDER BY 1`);
  return rows.map((r) => r.name);
}

/**
 * Tables (and partitions) whose UPDATE/DELETE would fail on a publisher: no replica
 * identity (REPLICA IDENTITY NOTHING, or DEFAULT without a primary key, or USING
 * INDEX on a dropped index).
 */
export async function tablesWithoutReplicaIdentity(c: Client): Promise<string[]> {
  return relationNames(c, `c.relkind = 'r' AND c.relpersistence = 'p' AND ${USER_RELATION}
      AND (c.relreplident = 'n'
        OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
        OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))`);
}

/** Unlogged tables: neither WAL-streamed to a standby nor published. */
export async function unloggedTables(c: Client): Promise<string[]> {
  return relationNames(c, `c.relkind IN ('r', 'p') AND c.relpersistence = 'u' AND ${USER_RELATION}`);
}

/**
 * Published tables: every permanent user table that is not a partition (a
 * partitioned root carries its partitions with publish_via_partition_root).
 */
export async function publishableTables(c: Client): Promise<string[]> {
  return relationNames(c, `c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p' AND ${USER_RELATION}`);
}

export async function installedExtensions(c: Client): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>("SELECT extname AS name FROM pg_extension ORDER BY 1");
  return rows.map((r) => r.name);
}

export async function availableExtensions(c: Client): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>("SELECT name FROM pg_available_extensions ORDER BY 1");
  return rows.map((r) => r.name);
}

/** Bytes to move: this database, or every database of the cluster (physical copies them all). */
export async function dataSize(c: Client, wholeCluster: boolean): Promise<number> {
  const sql = wholeCluster
    ? "SELECT sum(pg_database_size(oid))::int8 AS n FROM pg_database WHERE datallowconn"
    : "SELECT pg_database_size(current_database())::int8 AS n";
  const { rows } = await c.query<{ n: string }>(sql);
  return Number(rows[0].n);
}

/**
 * The WAL insert position: every commit that returned (even asynchronously) lies
 * before it. (pg_current_wal_lsn() is the write position, which can be behind
 * asynchronous commits still in the WAL buffers.)
 */
export async function currentLsn(c: Client): Promise<string> {
  const { rows } = await c.query<{ lsn: string }>("SELECT pg_current_wal_insert_lsn()::text AS lsn");
  return rows[0].lsn;
}

export async function inRecovery(c: Client): Promise<boolean> {
  const { rows } = await c.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
  return rows[0].r;
}

export const STANDBY_SOURCE = "the source is a standby (in recovery), not a primary: point --source at the primary";

/**
 * Refuse a standby as the source before anything is written anywhere: a standby can't
 * publish, be fenced or hand over, and the copy would fail half-way.
 */
export async function requirePrimarySource(source: Client): Promise<void> {
  if (await inRecovery(source)) throw new Error(STANDBY_SOURCE);
}
