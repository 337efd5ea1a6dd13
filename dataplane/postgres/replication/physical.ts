// The physical strategy (a self-managed source that allows replication): on the target host,
// pg_basebackup -R streams a copy of the whole cluster into a standby data directory
// through a replication slot, and the standby keeps replaying the source's WAL until
// cutover promotes it. The password travels in PGPASSWORD, never in argv.
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, appendFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Client } from "pg";
import { asPostgres, postgresBinDir } from "../binaries";
import { isRoot, run, waitFor } from "../../cli/process";
import { FerryError } from "../../cli/common";
import { libpqArgs, withClient } from "../connection";
import { currentLsn, inRecovery, requirePrimarySource } from "../catalog";
import { lsnDiff } from "./lsn";
import { PHYSICAL_SLOT } from "../names";
import { toolTlsFailure } from "../tools";
import { pollUntil } from "../wait";
import { crashPoint } from "../cutover/crash-points";

export interface PhysicalReplicateOptions {
  sourceUrl: string;
  /** How to reach the standby once it runs: its port is taken from here. */
  targetUrl: string;
  standbyDir: string;
}

export interface PhysicalReplicateResult {
  strategy: "physical";
  standbyDir: string;
  port: number;
  slot: string;
  /** false when a rerun found the standby already made (it is started if needed). */
  created: boolean;
  durationMs: number;
}

/** Major version of this host's pg_basebackup (what the standby will run). */
export async function localBinaryMajor(): Promise<number> {
  const { stdout } = await run(join(postgresBinDir(), "pg_basebackup"), ["--version"]);
  const m = /(\d+)(?:\.\d+)?/.exec(stdout);
  if (!m) throw new Error(`cannot read pg_basebackup's version from: ${stdout.trim()}`);
  return Number(m[1]);
}

const isStandbyDir = (dir: string) => existsSync(join(dir, "PG_VERSION"));

/** Is a postmaster alive for this data directory? */
export function standbyRunning(dir: string): boolean {
  const pidFile = join(dir, "postmaster.pid");
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, "utf8").split("\n")[0]), 0);
    return true;
  } catch {
    return false;
  }
}

/** A fresh, empty directory owned by whoever will run the server. */
function prepareEmptyDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length) {
    throw new FerryError(`--standby-dir ${dir} is not empty and holds no PostgreSQL data directory`, 2);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (isRoot()) {
    const pw = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"));
    if (!pw) throw new FerryError("running as root but there is no postgres system user to own the standby", 1);
    const [, , uid, gid] = pw.split(":");
    chownSync(dir, Number(uid), Number(gid));
  }
}

/** A slot left by an earlier, failed attempt would make pg_basebackup -C fail; ours and idle, it goes. */
async function dropIdleSlot(source: Client): Promise<void> {
  await source.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active", [PHYSICAL_SLOT]);
}

/**
 * The standby listens on the target URL's port. Socket directories inherited from
 * the source that do not exist on this host are replaced by the standby's own dir.
 */
function configureStandby(dir: string, port: number): void {
  const conf = readFileSync(join(dir, "postgresql.conf"), "utf8") + readFileSync(join(dir, "postgresql.auto.conf"), "utf8");
  const sockets = [...conf.matchAll(/^\s*unix_socket_directories\s*=\s*'([^']*)'/gm)].pop()?.[1];
  const socketsMissing = sockets !== undefined && sockets.split(",").some((d) => d.trim() && !existsSync(d.trim()));
  const lines = [`port = ${port}`, "hot_standby = on"];
  if (socketsMissing) lines.push(`unix_socket_directories = '${dir}'`);
  appendFileSync(join(dir, "postgresql.auto.conf"), `# ferry standby\n${lines.join("\n")}\n`);
}

async function startStandby(dir: string, targetUrl: string): Promise<void> {
  if (!standbyRunning(dir)) {
    await run(...asPostgres(join(postgresBinDir(), "pg_ctl"), ["-D", dir, "-l", join(dir, "ferry-standby.log"), "-w", "-t", "120", "start"]));
  }
  await waitFor("the standby to accept connections", () => withClient(targetUrl, inRecovery).then(() => true), 60_000);
}

/** Stop the standby in `dir` if it runs (rollback, tests). */
export async function stopStandby(dir: string): Promise<void> {
  if (standbyRunning(dir)) await run(...asPostgres(join(postgresBinDir(), "pg_ctl"), ["-D", dir, "-m", "fast", "-w", "stop"]));
}

export async function replicatePhysical(opts: PhysicalReplicateOptions): Promise<PhysicalReplicateResult> {
  const started = Date.now();
  const dir = resolve(opts.standbyDir);
  const port = Number(new URL(opts.targetUrl).port || 5432);
  let created = false;
  if (!isStandbyDir(dir)) {
    await withClient(opts.sourceUrl, requirePrimarySource);
    prepareEmptyDir(dir);
    await withClient(opts.sourceUrl, dropIdleSlot);
    const { conninfo, env } = libpqArgs(opts.sourceUrl);
    const args = [
      "--dbname", conninfo, "--pgdata", dir, "--write-recovery-conf", "--wal-method=stream",
      "--create-slot", "--slot", PHYSICAL_SLOT, "--checkpoint=fast", "--no-sync",
    ];
    await run(...asPostgres(join(postgresBinDir(), "pg_basebackup"), args), { env }).catch((err: Error) => {
      throw toolTlsFailure("pg_basebackup", args, env, err.message) ?? err;
    });
    configureStandby(dir, port);
    created = true;
  } else if (!existsSync(join(dir, "standby.signal"))) {
    throw new FerryError(`--standby-dir ${dir} holds a data directory that is not a standby (already promoted?)`, 1);
  }
  await startStandby(dir, opts.targetUrl);
  return { strategy: "physical", standbyDir: dir, port, slot: PHYSICAL_SLOT, created, durationMs: Date.now() - started };
}

export interface PhysicalLag {
  bytes: number;
  seconds: number | null;
  state: string | null;
}

/** How far the standby's replay is behind the source's current WAL position. */
export async function physicalLag(source: Client, standby: Client): Promise<PhysicalLag> {
  const lsn = await currentLsn(source);
  const { rows } = await standby.query<{ replay: string | null }>("SELECT pg_last_wal_replay_lsn()::text AS replay");
  const { rows: rep } = await source.query<{ state: string; seconds: number | null }>(`
    SELECT r.state, extract(epoch FROM r.replay_lag)::float8 AS seconds
    FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid
    WHERE s.slot_name = $1`, [PHYSICAL_SLOT]);
  const replay = rows[0].replay;
  return { bytes: replay ? lsnDiff(lsn, replay) : Number.MAX_SAFE_INTEGER, seconds: rep[0]?.seconds ?? null, state: rep[0]?.state ?? null };
}

/** Wait until the standby has replayed everything up to `lsn`. */
export async function waitForReplay(standbyUrl: string, lsn: string, timeoutMs: number): Promise<void> {
  await withClient(standbyUrl, (c) =>
    pollUntil(async () => {
      const { rows } = await c.query<{ done: boolean }>("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", [lsn]);
      return rows[0].done;
    }, timeoutMs, () => `the standby did not replay up to ${lsn} within ${timeoutMs / 1000} s`, 5),
  );
}

/**
 * A promoted standby no longer streams, but `pg_basebackup -R` left the source's
 * connection, password included, as primary_conninfo in postgresql.auto.conf: ALTER
 * SYSTEM RESET rewrites that file without it (and without the slot name), and a reload
 * applies it. Superuser-only: for another role, the line to print says what to remove.
 * Idempotent. https://www.postgresql.org/docs/15/sql-altersystem.html
 */
export async function forgetPrimary(c: Client): Promise<string> {
  try {
    await c.query("ALTER SYSTEM RESET primary_conninfo");
    await c.query("ALTER SYSTEM RESET primary_slot_name");
    await c.query("SELECT pg_reload_conf()");
    return "primary_conninfo (with the source's password) removed from postgresql.auto.conf";
  } catch (err) {
    if ((err as { code?: string }).code !== "42501") throw err;
    return "primary_conninfo still holds the source's password: ferry's role is not a superuser; remove primary_conninfo from the promoted server's postgresql.auto.conf";
  }
}

/** Promote the standby and return once it accepts writes. */
export async function promote(standbyUrl: string): Promise<void> {
  await withClient(standbyUrl, async (c) => {
    if (!(await inRecovery(c))) return;
    const { rows } = await c.query<{ ok: boolean }>("SELECT pg_promote(true, 60) AS ok");
    if (!rows[0].ok) throw new Error("pg_promote did not finish within 60 s");
    crashPoint("promote:promoted");
  });
}
