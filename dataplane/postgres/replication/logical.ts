// The logical strategy: the target is a separate, writable PostgreSQL (RDS can only
// be this) that subscribes to a publication on the source. Order: pre-data schema and
// the keys (see postdata.ts), publication, subscription (initial copy + streaming),
// then the rest of post-data once every table is in sync. Each step checks whether an
// earlier run already did it, so rerunning `replicate` after a failure is safe.
import { Client } from "pg";
import { sleep } from "../../cli/common";
import { quoteLiteral, withClient } from "../connection";
import { currentLsn, publishableTables, requirePrimarySource } from "../catalog";
import { lsnDiff } from "./lsn";
import { PUBLICATION, SUBSCRIPTION } from "../names";
import { splitPostData } from "./postdata";
import { applySchema, dumpSchema } from "./schema";
import { loadCutover, loadRecord, saveRecord } from "../state";
import { applyPrivileges, dumpPrivileges } from "../privileges";
import { FerryError } from "../../cli/common";
import { crashPoint } from "../cutover/crash-points";

export interface LogicalReplicateOptions {
  sourceUrl: string;
  targetUrl: string;
  /** Called while the initial copy runs. */
  onSync?: (ready: number, total: number) => void;
  /** Give up waiting for the initial sync after this long (default: no limit). */
  syncTimeoutMs?: number;
}

export interface LogicalReplicateResult {
  strategy: "logical";
  tables: number;
  /** Privileges the target could not take (a grant to a role it lacks). */
  warnings: string[];
  /** Steps this run performed (a rerun lists only what was left). */
  performed: string[];
  durationMs: number;
}

interface ReplicateProgress {
  preData?: boolean;
  keys?: boolean;
  postData?: boolean;
  /** The source's grants and revokes applied to the target's schema (privileges.ts). */
  privileges?: boolean;
}

const PROGRESS_KEY = "replicate:logical";

/** Publication over every publishable table, through partition roots; updated when tables were added. */
async function ensurePublication(source: Client): Promise<boolean> {
  const tables = await publishableTables(source);
  if (!tables.length) throw new Error("the source database has no tables to replicate");
  const { rows } = await source.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [PUBLICATION]);
  if (rows.length) {
    await source.query(`ALTER PUBLICATION ${PUBLICATION} SET TABLE ${tables.join(", ")}`);
    return false;
  }
  await source.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${tables.join(", ")} WITH (publish_via_partition_root = true)`);
  return true;
}

export async function subscriptionExists(target: Client): Promise<boolean> {
  const { rows } = await target.query(
    "SELECT 1 FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    [SUBSCRIPTION],
  );
  return rows.length > 0;
}

/**
 * Session settings that keep the next statement out of the server's log and out of
 * pg_stat_activity (all superuser-only: https://www.postgresql.org/docs/15/runtime-config-logging.html,
 * https://www.postgresql.org/docs/15/runtime-config-statistics.html#GUC-TRACK-ACTIVITIES).
 */
const QUIET_SETTINGS: [string, string][] = [
  ["log_statement", "none"],
  ["log_min_duration_statement", "-1"],
  ["log_min_error_statement", "panic"],
  ["track_activities", "off"],
];

/**
 * Why the server would log the CREATE SUBSCRIPTION statement (and the password in it)
 * although ferry tried to turn logging off: `refused` are the settings this session could
 * not change, `current` their values. undefined when nothing would log it. A failing
 * statement (log_min_error_statement) and pg_stat_activity (track_activities) are not
 * refused over: the statement does not connect anywhere, and the session's next
 * statement replaces it in pg_stat_activity (docs/postgres.md, Secrets).
 */
export function statementLogging(refused: string[], current: Record<string, string>): string | undefined {
  if (refused.includes("log_statement") && ["ddl", "mod", "all"].includes(current.log_statement)) {
    return `log_statement = ${current.log_statement}`;
  }
  if (refused.includes("log_min_duration_statement") && Number(current.log_min_duration_statement) >= 0) {
    return `log_min_duration_statement = ${current.log_min_duration_statement}`;
  }
  return undefined;
}

/** In the open transaction: quiet settings set (SET LOCAL) where the role may; returns those it may not. */
async function quietTransaction(target: Client): Promise<string[]> {
  const refused: string[] = [];
  for (const [name, value] of QUIET_SETTINGS) {
    await target.query("SAVEPOINT ferry_quiet");
    try {
      await target.query(`SET LOCAL ${name} = ${quoteLiteral(value)}`);
      await target.query("RELEASE SAVEPOINT ferry_quiet");
    } catch (err) {
      await target.query("ROLLBACK TO SAVEPOINT ferry_quiet");
      if ((err as { code?: string }).code !== "42501") throw err;
      refused.push(name);
    }
  }
  return refused;
}

/**
 * CREATE SUBSCRIPTION ... CONNECTION carries the source password: PostgreSQL's apply
 * worker has no other way to authenticate (a passfile or client certificate would have
 * to live on the target server's disk, which RDS does not give; password_required = false
 * (16+) needs a superuser and a source that trusts the target without a password). So
 * the one statement that carries it is made as quiet as the server allows: in its own
 * transaction with statement logging, duration logging, error-statement logging and
 * activity tracking off, and with connect = false, so it returns at once instead of
 * waiting (visible) for the slot on the source. ferry then creates the slot itself,
 * enables the subscription and refreshes it, which copies every table (the documented
 * way to start a subscription made without connecting). Where the role may not turn
 * statement logging off and the server would log it, nothing is created: one line names
 * the setting. The password stays in pg_subscription.subconninfo (superusers only) until
 * the subscription is dropped (detach, rollback, cleanup).
 */
async function createSubscription(source: Client, target: Client, sourceUrl: string): Promise<void> {
  await target.query("BEGIN");
  try {
    const refused = await quietTransaction(target);
    if (refused.length) {
      const { rows } = await target.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name = ANY($1)", [refused]);
      const logged = statementLogging(refused, Object.fromEntries(rows.map((r) => [r.name, r.setting])));
      if (logged) {
        throw new FerryError(`the target would log CREATE SUBSCRIPTION with the source password in it (${logged}) and ferry's role may not turn that off for its session: set it to none/-1 for the subscription's role (ALTER ROLE ... SET, or the RDS parameter group) or run replicate as a role that may`, 1);
      }
    }
    await target.query(`CREATE SUBSCRIPTION ${SUBSCRIPTION} CONNECTION ${quoteLiteral(sourceUrl)} PUBLICATION ${PUBLICATION} WITH (connect = false, slot_name = ${SUBSCRIPTION})`);
    await target.query("COMMIT");
  } catch (err) {
    await target.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  await startSubscription(source, target);
}

/** The slot on the source (created here, as connect = false left it), the subscription enabled. */
async function startSubscription(source: Client, target: Client): Promise<void> {
  // Creating the slot waits for running transactions on the source: no timeout here.
  await source.query("SET statement_timeout = 0");
  await source.query(
    "SELECT pg_create_logical_replication_slot($1, 'pgoutput') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
    [SUBSCRIPTION],
  );
  await target.query(`ALTER SUBSCRIPTION ${SUBSCRIPTION} ENABLE`);
}

async function subscriptionEnabled(target: Client): Promise<boolean> {
  const { rows } = await target.query<{ on: boolean }>(
    "SELECT subenabled AS on FROM pg_subscription WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    [SUBSCRIPTION],
  );
  return rows[0]?.on ?? false;
}

/**
 * The subscription exists and runs; REFRESH PUBLICATION then takes in every table of the
 * publication it does not have yet (all of them on a new subscription) and copies it.
 */
async function ensureSubscription(source: Client, target: Client, sourceUrl: string): Promise<boolean> {
  const created = !(await subscriptionExists(target));
  if (created) await createSubscription(source, target, sourceUrl);
  else if (!(await subscriptionEnabled(target))) await startSubscription(source, target); // an earlier run stopped in between
  await target.query(`ALTER SUBSCRIPTION ${SUBSCRIPTION} REFRESH PUBLICATION WITH (copy_data = true)`);
  return created;
}

export interface TableSyncState {
  /** schema.table, quoted where needed */
  table: string;
  /** init, copying, copied, syncing, ready (pg_subscription_rel.srsubstate spelled out). */
  state: string;
}

const SYNC_STATES: Record<string, string> = { i: "init", d: "copying", f: "copied", s: "syncing", r: "ready" };

export async function tableStates(target: Client): Promise<TableSyncState[]> {
  const { rows } = await target.query<{ t: string; s: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS t, r.srsubstate AS s
    FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
    JOIN pg_class c ON c.oid = r.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE s.subname = $1 ORDER BY 1`, [SUBSCRIPTION]);
  return rows.map((r) => ({ table: r.t, state: SYNC_STATES[r.s] ?? r.s }));
}

/**
 * The source's publishable tables (what replicate publishes) the target's subscription
 * does not carry: created after replicate, or never added to the publication. Compared
 * by name, as both sides print it.
 */
export async function unreplicatedTables(source: Client, target: Client): Promise<string[]> {
  const subscribed = new Set((await tableStates(target)).map((s) => s.table));
  return (await publishableTables(source)).filter((t) => !subscribed.has(t));
}

/** Errors the subscription's workers hit so far (pg_stat_subscription_stats, PG 15+). */
async function subscriptionErrors(target: Client): Promise<number> {
  const { rows } = await target.query<{ n: string }>(
    "SELECT coalesce(sum(apply_error_count + sync_error_count), 0) AS n FROM pg_stat_subscription_stats WHERE subname = $1",
    [SUBSCRIPTION],
  ).catch(() => ({ rows: [{ n: "0" }] }));
  return Number(rows[0].n);
}

async function waitForSync(target: Client, opts: LogicalReplicateOptions): Promise<void> {
  const deadline = opts.syncTimeoutMs ? Date.now() + opts.syncTimeoutMs : Infinity;
  const errorsBefore = await subscriptionErrors(target);
  for (;;) {
    const states = await tableStates(target);
    const ready = states.filter((s) => s.state === "ready").length;
    opts.onSync?.(ready, states.length);
    if (states.length && ready === states.length) return;
    const errors = (await subscriptionErrors(target)) - errorsBefore;
    if (errors >= 3) throw new Error(`the subscription's workers failed ${errors} times during the initial copy: see the target's server log`);
    if (Date.now() > deadline) throw new Error(`initial sync not finished after ${opts.syncTimeoutMs} ms: ${ready}/${states.length} tables ready`);
    await sleep(200);
  }
}

/**
 * Tables created on the source after replicate made the target's schema: created on the
 * target (their pre- and post-data; they are empty there, so their indexes cost nothing)
 * before the publication and subscription take them in. DDL is never replicated.
 */
async function addNewTables(source: Client, opts: LogicalReplicateOptions, target: Client): Promise<string[]> {
  const onTarget = new Set(await publishableTables(target));
  const added = (await publishableTables(source)).filter((t) => !onTarget.has(t));
  if (!added.length) return [];
  await applySchema(opts.targetUrl, await dumpSchema(opts.sourceUrl, "pre-data", added));
  const post = await dumpSchema(opts.sourceUrl, "post-data", added);
  if (post.trim()) await applySchema(opts.targetUrl, post);
  return added;
}

/** The source's grants and revokes on the target's schema (DDL, which replication does not carry); warnings for roles it lacks. */
export async function copyPrivileges(sourceUrl: string, target: Client): Promise<string[]> {
  return applyPrivileges(target, await dumpPrivileges(sourceUrl));
}

/** Whether replicate copied the privileges (older runs did not: the cutover copies them before its fence). */
export async function privilegesCopied(target: Client): Promise<boolean> {
  return (await loadRecord<ReplicateProgress>(target, PROGRESS_KEY))?.privileges === true;
}

/** Note that the privileges were copied (by the cutover's gate, for a target replicated before they were). */
export async function notePrivilegesCopied(target: Client): Promise<void> {
  await saveRecord(target, PROGRESS_KEY, { ...((await loadRecord<ReplicateProgress>(target, PROGRESS_KEY)) ?? {}), privileges: true });
}

/**
 * A new subscription copies every table (copy_data): the target's tables must be empty.
 * After a rollback (the subscription dropped, the rows it had copied still there) they
 * are emptied, which is provably only ferry's doing: they were created by replicate, and
 * the cutover that could have let the app write into them never finished (else refused).
 */
async function emptyForNewSubscription(source: Client, target: Client): Promise<boolean> {
  if ((await loadCutover(target, "logical"))?.done) {
    throw new FerryError("the logical cutover finished: the target is the primary and may hold writes the source never saw; replicating into it again would overwrite them", 1);
  }
  const onTarget = new Set(await publishableTables(target));
  const tables = (await publishableTables(source)).filter((t) => onTarget.has(t));
  if (!tables.length) return false;
  const { rows } = await target.query<{ any: boolean }>(`SELECT ${tables.map((t) => `EXISTS (SELECT 1 FROM ${t})`).join(" OR ")} AS any`);
  if (!rows[0].any) return false;
  await target.query(`TRUNCATE ${tables.join(", ")}`);
  return true;
}

export async function replicateLogical(opts: LogicalReplicateOptions): Promise<LogicalReplicateResult> {
  const started = Date.now();
  const performed: string[] = [];
  return withClient(opts.sourceUrl, async (source) => {
    await requirePrimarySource(source);
    return withClient(opts.targetUrl, async (target) => {
      const progress = (await loadRecord<ReplicateProgress>(target, PROGRESS_KEY)) ?? {};
      const save = () => saveRecord(target, PROGRESS_KEY, progress);
      const postData = progress.postData ? undefined : splitPostData(await dumpSchema(opts.sourceUrl, "post-data"));
      if (!progress.preData) {
        await applySchema(opts.targetUrl, await dumpSchema(opts.sourceUrl, "pre-data"));
        progress.preData = true;
        await save();
        performed.push("pre-data schema");
      }
      if (!progress.keys && postData) {
        if (postData.keys) await applySchema(opts.targetUrl, postData.keys);
        progress.keys = true;
        await save();
        performed.push("primary keys");
      }
      if (progress.preData) {
        const added = await addNewTables(source, opts, target);
        if (added.length) performed.push(`new table(s) created on the target: ${added.join(", ")}`);
        if (added.length) progress.privileges = false; // their grants too
      }
      const warnings: string[] = [];
      if (!progress.privileges) {
        warnings.push(...(await copyPrivileges(opts.sourceUrl, target)));
        progress.privileges = true;
        await save();
        performed.push("privileges");
      }
      if (await ensurePublication(source)) performed.push("publication");
      if (!(await subscriptionExists(target)) && (await emptyForNewSubscription(source, target))) {
        performed.push("rows of the earlier subscription removed (the new one copies every table from empty)");
      }
      if (await ensureSubscription(source, target, opts.sourceUrl)) performed.push("subscription");
      await waitForSync(target, opts);
      if (!progress.postData && postData) {
        if (postData.rest) await applySchema(opts.targetUrl, postData.rest);
        progress.postData = true;
        await save();
        performed.push("post-data schema");
      }
      const tables = (await tableStates(target)).length;
      return { strategy: "logical" as const, tables, warnings, performed, durationMs: Date.now() - started };
    });
  });
}

export interface LogicalLag {
  bytes: number;
  seconds: number | null;
  /** The slot's consumer is connected. */
  active: boolean;
}

/** Lag of the subscription's slot on the source: WAL not yet confirmed by the target. */
export async function logicalLag(source: Client): Promise<LogicalLag | null> {
  const { rows } = await source.query<{ confirmed: string | null; active: boolean; seconds: number | null }>(`
    SELECT s.confirmed_flush_lsn::text AS confirmed, s.active,
           (SELECT extract(epoch FROM coalesce(r.replay_lag, r.flush_lag))::float8 FROM pg_stat_replication r WHERE r.pid = s.active_pid) AS seconds
    FROM pg_replication_slots s WHERE s.slot_name = $1`, [SUBSCRIPTION]);
  if (!rows.length) return null;
  const lsn = await currentLsn(source);
  const r = rows[0];
  return { bytes: r.confirmed ? lsnDiff(lsn, r.confirmed) : Number.MAX_SAFE_INTEGER, seconds: r.seconds, active: r.active };
}

/** Has the target confirmed everything up to `lsn`? (the slot's confirmed_flush_lsn) */
export async function confirmedUpTo(source: Client, lsn: string): Promise<boolean> {
  const { rows } = await source.query<{ ok: boolean | null }>(
    "SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1",
    [SUBSCRIPTION, lsn],
  );
  if (!rows.length) throw new Error(`replication slot ${SUBSCRIPTION} is gone from the source`);
  return rows[0].ok === true;
}

/** Stop and remove the subscription; DROP SUBSCRIPTION also drops its slot on the source. */
export async function dropSubscription(target: Client): Promise<boolean> {
  if (!(await subscriptionExists(target))) return false;
  await target.query(`ALTER SUBSCRIPTION ${SUBSCRIPTION} DISABLE`);
  crashPoint("subscription:disabled");
  try {
    await target.query(`DROP SUBSCRIPTION ${SUBSCRIPTION}`);
    crashPoint("subscription:dropped");
  } catch (err) {
    // The source is unreachable: keep the target's side clean and leave the slot to `ferry pg cleanup`.
    await target.query(`ALTER SUBSCRIPTION ${SUBSCRIPTION} SET (slot_name = NONE)`);
    await target.query(`DROP SUBSCRIPTION ${SUBSCRIPTION}`);
    throw new Error(`subscription dropped, but its slot on the source was not (${(err as Error).message.split("\n")[0]}): run ferry pg cleanup`);
  }
  return true;
}

export async function dropPublication(source: Client): Promise<boolean> {
  const { rowCount } = await source.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [PUBLICATION]);
  if (!rowCount) return false;
  await source.query(`DROP PUBLICATION ${PUBLICATION}`);
  return true;
}
