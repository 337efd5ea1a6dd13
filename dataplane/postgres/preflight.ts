// Everything that makes a migration fail halfway, checked before anything is touched:
// a source that is a standby, wal_level, privileges, the cutover's fence (every role that
// can write within its reach), replication capacity, versions, tables without a replica
// identity, extensions missing on the target, large objects, unlogged tables and
// free disk. Each check says what is wrong and how to fix it.
import { statfsSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Client } from "pg";
import { withClient } from "./connection";
import { formatBytes } from "../cli/common";
import {
  Privileges, STANDBY_SOURCE, availableExtensions, dataSize, inRecovery, installedExtensions, privileges, replicationCapacity,
  tablesWithoutReplicaIdentity, unloggedTables,
} from "./catalog";
import { countLargeObjects, serverVersion } from "./copy-catalog";
import { PHYSICAL_SLOT, Strategy, SUBSCRIPTION } from "./names";
import { localBinaryMajor } from "./replication/physical";
import { databasesToFence } from "./cutover/fence";
import { FenceOptions, fencePlanFor } from "./cutover/fence-plan";

export interface PreflightCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** Set when --fix-replica-identity changed the source to pass this check. */
  fixed?: string[];
}

export interface PreflightReport {
  ok: boolean;
  strategy: Strategy;
  checks: PreflightCheck[];
}

export interface PreflightOptions extends Omit<FenceOptions, "serverVersion"> {
  sourceUrl: string;
  /** Not needed for physical (the standby does not exist yet). */
  targetUrl?: string;
  strategy: Strategy;
  fixReplicaIdentity?: boolean;
  /** physical: where the standby will live (its free disk is checked). */
  standbyDir?: string;
  /** Free disk must be at least data size times this (default 1.5: room for WAL and indexes). */
  diskHeadroom?: number;
}

/** Replication connections a strategy needs: the stream, plus logical's table-sync workers. */
const SENDERS_NEEDED: Record<Strategy, number> = { physical: 1, logical: 3, dump: 0, capture: 0 };

const check = (name: string, ok: boolean, detail: string): PreflightCheck => ({ name, ok, detail });

const major = (versionNum: number) => Math.floor(versionNum / 10000);

/** Why `strategy` cannot go from a source of version `source` to `target`, or undefined. */
export function versionProblem(strategy: Strategy, source: number, target: number): string | undefined {
  if (strategy === "physical" && major(source) !== major(target)) {
    return `physical replication needs the same major version: source ${major(source)}, target binaries ${major(target)}`;
  }
  if (strategy === "logical" && (major(source) < 10 || major(target) < 10)) {
    return `logical replication needs PostgreSQL 10 or newer on both sides (source ${major(source)}, target ${major(target)})`;
  }
  if (strategy !== "physical" && major(target) < major(source)) {
    return `target ${major(target)} is older than source ${major(source)}: its schema may not load`;
  }
  return undefined;
}

function walLevelCheck(strategy: Strategy, walLevel: string): PreflightCheck {
  if (strategy === "dump" || strategy === "capture") return check("wal_level", true, `${walLevel} (not used by ${strategy})`);
  const needed = strategy === "logical" ? ["logical"] : ["replica", "logical"];
  return needed.includes(walLevel)
    ? check("wal_level", true, walLevel)
    : check("wal_level", false, `wal_level is ${walLevel}; ${strategy} needs ${needed.join(" or ")} (set it in postgresql.conf and restart; RDS: rds.logical_replication=1)`);
}

function sourcePrivilegeCheck(strategy: Strategy, p: Privileges): PreflightCheck {
  const admin = p.superuser || p.rdsSuperuser;
  // capture needs only to own the tables: ferry pg replicate refuses, naming it, one it does not own.
  if (strategy === "dump" || strategy === "capture") return check("source privileges", true, `${p.user}${admin ? " (superuser)" : ""}`);
  if (!(admin || p.replication)) {
    return check("source privileges", false, `${p.user} has neither superuser, rds_superuser nor REPLICATION: ${strategy} replication needs one (ALTER ROLE ${p.user} REPLICATION)`);
  }
  return check("source privileges", true, `${p.user}: ${[admin && "superuser", p.replication && "replication", p.createRole && "createrole"].filter(Boolean).join(", ")}`);
}

/**
 * The cutover fences every role that can write; one it cannot reach (a superuser when
 * ferry's role is not, another credential without CREATEROLE, PostgreSQL 16 roles
 * without ADMIN OPTION) would go on writing after the snapshot: refused here already.
 */
async function fenceCheck(c: Client, opts: PreflightOptions): Promise<PreflightCheck> {
  const plan = await fencePlanFor(c, await databasesToFence(c, opts.strategy === "physical"), opts);
  if (plan.problem) return check("fence", false, plan.problem);
  const left = plan.unfenced.length ? `; left to the operator (writers stopped): ${plan.unfenced.join(", ")}` : "";
  return check("fence", true, `${plan.roles.length} role(s) the cutover makes read-only${left}`);
}

/** Free senders and slots, not counting ferry's own (a rerun reuses them). */
async function capacityCheck(c: Client, strategy: Strategy): Promise<PreflightCheck> {
  const cap = await replicationCapacity(c);
  const needed = SENDERS_NEEDED[strategy];
  if (needed === 0) return check("replication capacity", true, "not used by dump");
  const { rows } = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_replication_slots WHERE slot_name IN ($1, $2)", [SUBSCRIPTION, PHYSICAL_SLOT]);
  const freeSlots = cap.maxReplicationSlots - cap.slotsInUse + Number(rows[0].n);
  const freeSenders = cap.maxWalSenders - cap.walSendersInUse;
  const problems: string[] = [];
  if (freeSenders < needed) problems.push(`max_wal_senders=${cap.maxWalSenders} with ${cap.walSendersInUse} in use; need ${needed} free`);
  if (freeSlots < needed) problems.push(`max_replication_slots=${cap.maxReplicationSlots} with ${cap.slotsInUse} in use; need ${needed} free`);
  return problems.length
    ? check("replication capacity", false, problems.join("; ") + " (raise them in postgresql.conf and restart)")
    : check("replication capacity", true, `${freeSenders} senders and ${freeSlots} slots free`);
}

async function replicaIdentityCheck(c: Client, fix: boolean): Promise<PreflightCheck> {
  const missing = await tablesWithoutReplicaIdentity(c);
  if (!missing.length) return check("replica identity", true, "every table has one");
  if (!fix) {
    return check("replica identity", false, `${missing.length} table(s) without primary key or replica identity, UPDATE/DELETE on them would fail once published: ${missing.join(", ")} (add a primary key, or rerun with --fix-replica-identity to set REPLICA IDENTITY FULL)`);
  }
  for (const name of missing) await c.query(`ALTER TABLE ${name} REPLICA IDENTITY FULL`);
  return { ...check("replica identity", true, `set REPLICA IDENTITY FULL on ${missing.join(", ")}`), fixed: missing };
}

async function extensionCheck(source: Client, target: Client): Promise<PreflightCheck> {
  const available = new Set(await availableExtensions(target));
  const missing = (await installedExtensions(source)).filter((e) => !available.has(e));
  return missing.length
    ? check("extensions", false, `not available on the target: ${missing.join(", ")} (install them there first)`)
    : check("extensions", true, "all available on the target");
}

async function largeObjectCheck(c: Client, strategy: Strategy): Promise<PreflightCheck> {
  const n = await countLargeObjects(c);
  if (n === 0 || strategy === "physical") return check("large objects", true, n ? `${n} (copied by physical replication)` : "none");
  return check("large objects", false, `${n} large object(s): ${strategy} does not copy them (move them into bytea columns, or use physical)`);
}

async function unloggedCheck(c: Client, strategy: Strategy): Promise<PreflightCheck> {
  const tables = await unloggedTables(c);
  if (!tables.length) return check("unlogged tables", true, "none");
  if (strategy === "dump" || strategy === "capture") return check("unlogged tables", true, `${tables.join(", ")} (copied by ${strategy}${strategy === "capture" ? ", their changes captured by trigger" : ""})`);
  return check("unlogged tables", false, `${tables.join(", ")}: not replicated by ${strategy} replication (ALTER TABLE ... SET LOGGED, or use dump)`);
}

/** The nearest existing directory at or above `path` (what statfs can measure). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  while (!existsSync(p)) p = dirname(p);
  return p;
}

function isLocalHost(url: string): boolean {
  const host = new URL(url).hostname;
  return ["127.0.0.1", "localhost", "::1", "[::1]", ""].includes(host);
}

/** Where the target's data will live on this machine, if we can tell. */
async function localTargetDir(opts: PreflightOptions, target?: Client): Promise<string | undefined> {
  if (opts.strategy === "physical") return opts.standbyDir;
  if (!target || !opts.targetUrl || !isLocalHost(opts.targetUrl)) return undefined;
  try {
    const { rows } = await target.query<{ d: string }>("SHOW data_directory");
    return rows[0].d;
  } catch {
    return undefined; // only superusers may read data_directory
  }
}

async function diskCheck(source: Client, opts: PreflightOptions, target?: Client): Promise<PreflightCheck> {
  const size = await dataSize(source, opts.strategy === "physical");
  const headroom = opts.diskHeadroom ?? 1.5;
  const dir = await localTargetDir(opts, target);
  if (!dir) {
    return check("free disk", true, `source holds ${formatBytes(size)}; the target's disk is not visible from here (RDS: check FreeStorageSpace is above ${formatBytes(size * headroom)})`);
  }
  const fs = statfsSync(existingAncestor(dir));
  const free = Number(fs.bavail) * Number(fs.bsize);
  return free >= size * headroom
    ? check("free disk", true, `${formatBytes(free)} free for ${formatBytes(size)} of data`)
    : check("free disk", false, `${formatBytes(free)} free at ${dir}, need ${formatBytes(size * headroom)} (${formatBytes(size)} of data x ${headroom})`);
}

async function targetPrivilegeCheck(target: Client, strategy: Strategy): Promise<PreflightCheck> {
  const p = await privileges(target);
  if (strategy === "logical" && !(p.superuser || p.rdsSuperuser)) {
    const { rows } = await target.query<{ ok: boolean }>(
      "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_create_subscription' AND pg_has_role(current_user, oid, 'member')) AS ok",
    );
    if (!rows[0].ok) return check("target privileges", false, `${p.user} cannot CREATE SUBSCRIPTION on the target: needs superuser, rds_superuser or pg_create_subscription`);
  }
  const { rows } = await target.query<{ ok: boolean }>("SELECT has_database_privilege(current_database(), 'CREATE') AS ok");
  if (!rows[0].ok) return check("target privileges", false, `${p.user} cannot create schemas in the target database (GRANT CREATE ON DATABASE)`);
  return check("target privileges", true, p.user);
}

/** Run every check for `strategy`; the report is ok only when all pass. */
export async function preflight(opts: PreflightOptions): Promise<PreflightReport> {
  const checks = await withClient(opts.sourceUrl, async (source) => {
    const sourceVersion = await serverVersion(source);
    const cap = await replicationCapacity(source);
    const recovering = await inRecovery(source);
    const list: PreflightCheck[] = [check("source is a primary", !recovering, recovering ? STANDBY_SOURCE : "not in recovery")];
    list.push(walLevelCheck(opts.strategy, cap.walLevel), sourcePrivilegeCheck(opts.strategy, await privileges(source)));
    list.push(await fenceCheck(source, opts));
    list.push(await capacityCheck(source, opts.strategy));
    if (opts.strategy === "logical") list.push(await replicaIdentityCheck(source, opts.fixReplicaIdentity ?? false));
    list.push(await largeObjectCheck(source, opts.strategy));
    list.push(await unloggedCheck(source, opts.strategy));
    if (opts.strategy === "physical") {
      const problem = versionProblem("physical", sourceVersion, (await localBinaryMajor()) * 10000);
      list.push(check("versions", !problem, problem ?? `source ${sourceVersion}, same major as this host's pg_basebackup`));
      list.push(await diskCheck(source, opts));
      return list;
    }
    if (!opts.targetUrl) throw new Error("missing target URL");
    await withClient(opts.targetUrl, async (target) => {
      const targetVersion = await serverVersion(target);
      const problem = versionProblem(opts.strategy, sourceVersion, targetVersion);
      list.push(check("versions", !problem, problem ?? `source ${sourceVersion}, target ${targetVersion}`));
      list.push(await targetPrivilegeCheck(target, opts.strategy));
      list.push(await extensionCheck(source, target));
      list.push(await diskCheck(source, opts, target));
    });
    return list;
  });
  return { ok: checks.every((c) => c.ok), strategy: opts.strategy, checks };
}

