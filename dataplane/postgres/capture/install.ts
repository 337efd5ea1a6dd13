// The capture strategy's objects on the source: a change log and plpgsql trigger
// functions in ferry's own schema, a row trigger and a TRUNCATE trigger on every user
// table. All that Heroku Postgres allows its database owner (no superuser, no
// REPLICATION, no event triggers). Install and remove are each one transaction: a
// failure part-way (a lock not granted, a killed ferry) leaves the source as it was.
import { Client } from "pg";
import { FerryError } from "../../cli/common";
import { crashPoint } from "../cutover/crash-points";
import { qualified, quoteIdent, quoteLiteral } from "../connection";
import { countLargeObjects, serverVersion, TableInfo, withDumpSearchPath } from "../copy-catalog";
import { USER_RELATION } from "../catalog";
import { CAPTURE_ROW_TRIGGER, CAPTURE_SCHEMA, CAPTURE_TRUNCATE_TRIGGER } from "../names";

/** The marker comment that makes the schema provably ferry's (install refuses one without it). */
const MARKER = "ferry change capture: ferry pg rollback --strategy capture removes it";
export const CAPTURE_LOG = `${CAPTURE_SCHEMA}.log`;

/**
 * `xid` is the writing transaction's id (xid8: never wraps), which pg_visible_in_snapshot
 * tests against a pg_current_snapshot() reading: that, not `id`, gives commit order.
 * `old` is the old row's identity (its primary key, or the whole row where there is
 * none), `new` the new row; TG_RELID names the table (DDL during capture is refused, so
 * the oid keeps naming it). Rows are `json`, not `jsonb`: to_json keeps a json column's
 * text as it is (duplicate keys, whitespace), where jsonb would normalize it and the
 * target would differ from the source. A key is built as jsonb (one text per key value).
 */
const LOG_TABLE = `
CREATE TABLE ${CAPTURE_LOG} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  at timestamptz NOT NULL DEFAULT now(),
  rel oid NOT NULL,
  op "char" NOT NULL,
  old json,
  new json);
CREATE INDEX log_xid ON ${CAPTURE_LOG} (xid)`;

/**
 * SECURITY DEFINER: the app's roles write the tables, ferry's role (the owner) alone
 * may write the log, so no other role can forge a change. The primary key's column names
 * come as the trigger's arguments; none means the whole old row is the identity.
 */
const ROW_FUNCTION = `
CREATE FUNCTION ${CAPTURE_SCHEMA}.capture_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  o jsonb;
  kb jsonb;
  k json;
  c text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${CAPTURE_LOG} (rel, op, new) VALUES (TG_RELID, 'I', to_json(NEW));
    RETURN NULL;
  END IF;
  IF TG_NARGS = 0 THEN
    k := to_json(OLD);
  ELSE
    o := to_jsonb(OLD);
    kb := '{}';
    FOREACH c IN ARRAY TG_ARGV LOOP
      kb := kb || jsonb_build_object(c, o -> c);
    END LOOP;
    k := kb::json;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO ${CAPTURE_LOG} (rel, op, old, new) VALUES (TG_RELID, 'U', k, to_json(NEW));
  ELSE
    INSERT INTO ${CAPTURE_LOG} (rel, op, old) VALUES (TG_RELID, 'D', k);
  END IF;
  RETURN NULL;
END $f$`;

const TRUNCATE_FUNCTION = `
CREATE FUNCTION ${CAPTURE_SCHEMA}.capture_truncate() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  INSERT INTO ${CAPTURE_LOG} (rel, op) VALUES (TG_RELID, 'T');
  RETURN NULL;
END $f$`;

/**
 * The tables capture watches: every ordinary table and leaf partition. A partitioned
 * root holds no rows; its leaves do, and an UPDATE that moves a row between leaves fires
 * a DELETE on one and an INSERT on the other (the PostgreSQL manual, "Overview of Trigger
 * Behavior"). The copy moves leaves too, and the target gets the same partitions from the
 * schema dump, so changes are applied leaf by leaf. Unlogged tables are captured like the
 * rest: triggers do not depend on WAL, and the dump copy creates them unlogged on the target.
 */
export const capturedTables = (tables: TableInfo[]) => tables.filter((t) => t.kind === "r");

/** Whether ferry's capture schema is on the source, and ferry's. */
export async function captureInstalled(source: Client): Promise<boolean> {
  const { rows } = await source.query<{ doc: string | null }>(
    "SELECT obj_description(oid, 'pg_namespace') AS doc FROM pg_namespace WHERE nspname = $1", [CAPTURE_SCHEMA]);
  if (!rows.length) return false;
  if (rows[0].doc !== MARKER) throw new FerryError(`schema ${CAPTURE_SCHEMA} exists on the source and is not ferry's: rename or drop it, then rerun`, 1);
  return true;
}

/**
 * What capture cannot carry, refused in one line naming the object, before anything is
 * installed. Large objects change without a row trigger; a table ferry's role does not
 * own cannot take a trigger; an anti-wraparound VACUUM blocks CREATE TRIGGER, and the
 * app's queries queue behind it.
 */
export async function refuseUncapturable(source: Client, tables: TableInfo[]): Promise<void> {
  if ((await serverVersion(source)) < 130000) throw new FerryError("the capture strategy needs PostgreSQL 13 or later on the source (pg_current_xact_id, pg_visible_in_snapshot)", 2);
  const largeObjects = await countLargeObjects(source);
  if (largeObjects > 0) {
    throw new FerryError(`the source has ${largeObjects} large object(s) (pg_largeobject): no trigger sees their writes, so capture cannot carry them; move them to bytea columns first`, 1);
  }
  const { rows: foreign } = await source.query<{ t: string; owner: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS t, pg_get_userbyid(c.relowner) AS owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = ANY($1::oid[]) AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1 LIMIT 1`,
  [capturedTables(tables).map((t) => t.oid)]);
  if (foreign.length) {
    throw new FerryError(`table ${foreign[0].t} is owned by role ${foreign[0].owner}, not by ferry's role: capture cannot put a trigger on it; connect as the database owner`, 1);
  }
  const { rows: vacuum } = await source.query<{ q: string }>(
    "SELECT query AS q FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%(to prevent wraparound)%' AND backend_type = 'autovacuum worker' LIMIT 1");
  if (vacuum.length) {
    throw new FerryError(`an anti-wraparound VACUUM is running on the source (${vacuum[0].q}): installing triggers would wait behind it and block the app's queries; rerun when it has finished`, 1);
  }
}

const triggerSql = (t: TableInfo) => [
  `CREATE TRIGGER ${CAPTURE_ROW_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON ${qualified(t.schema, t.name)} FOR EACH ROW ` +
    `EXECUTE FUNCTION ${CAPTURE_SCHEMA}.capture_row(${t.primaryKey.map((c) => quoteLiteral(c.name)).join(", ")})`,
  `CREATE TRIGGER ${CAPTURE_TRUNCATE_TRIGGER} AFTER TRUNCATE ON ${qualified(t.schema, t.name)} FOR EACH STATEMENT EXECUTE FUNCTION ${CAPTURE_SCHEMA}.capture_truncate()`,
];

export interface InstallOptions {
  /** How long CREATE TRIGGER waits for a table's lock before the whole install is undone (default 5 s). */
  lockTimeoutMs?: number;
}

/**
 * Install the log, the functions and the triggers in one transaction. CREATE TRIGGER
 * waits for the table's writers to finish, so once this commits every later write is
 * logged and every earlier one is committed: a snapshot taken after it sees exactly the
 * writes the log lacks. The lock timeout bounds how long the app's writers queue behind
 * a table's lock; when it strikes, nothing stays.
 */
export async function installCapture(source: Client, tables: TableInfo[], opts: InstallOptions = {}): Promise<void> {
  await source.query("BEGIN");
  try {
    await source.query(`SET LOCAL lock_timeout = ${Math.max(1, opts.lockTimeoutMs ?? 5000)}`);
    await source.query(`CREATE SCHEMA ${CAPTURE_SCHEMA}`);
    await source.query(`COMMENT ON SCHEMA ${CAPTURE_SCHEMA} IS ${quoteLiteral(MARKER)}`);
    await source.query(LOG_TABLE);
    await source.query(ROW_FUNCTION);
    await source.query(TRUNCATE_FUNCTION);
    crashPoint("capture:log-created");
    for (const t of capturedTables(tables)) {
      for (const sql of triggerSql(t)) await source.query(sql);
      crashPoint("capture:trigger-created");
    }
    await source.query("COMMIT");
  } catch (err) {
    await source.query("ROLLBACK").catch(() => undefined);
    if ((err as { code?: string }).code === "55P03") {
      throw new FerryError(`installing the capture triggers gave up waiting for a table's lock (a long transaction holds it): nothing was installed; rerun when it has ended (${(err as Error).message})`, 1);
    }
    throw err;
  }
}

/**
 * Remove every trigger, function, table and the schema capture installed, in one
 * transaction; without CASCADE, so an object someone built on ferry's makes it fail
 * (naming it) instead of vanishing. Returns what was dropped.
 */
export async function removeCapture(source: Client): Promise<string[]> {
  if (!(await captureInstalled(source))) return [];
  const dropped: string[] = [];
  await source.query("BEGIN");
  try {
    const { rows } = await source.query<{ t: string; tg: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS t, g.tgname AS tg
      FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_proc p ON p.oid = g.tgfoid WHERE p.pronamespace = $1::regnamespace ORDER BY 1, 2`, [CAPTURE_SCHEMA]);
    for (const r of rows) {
      await source.query(`DROP TRIGGER ${quoteIdent(r.tg)} ON ${r.t}`);
      crashPoint("capture:trigger-dropped");
    }
    dropped.push(`${rows.length} capture trigger(s)`);
    await source.query(`DROP FUNCTION ${CAPTURE_SCHEMA}.capture_row(), ${CAPTURE_SCHEMA}.capture_truncate()`);
    await source.query(`DROP TABLE ${CAPTURE_LOG}`);
    await source.query(`DROP SCHEMA ${CAPTURE_SCHEMA}`);
    await source.query("COMMIT");
    dropped.push(`schema ${CAPTURE_SCHEMA} (change log, trigger functions)`);
    return dropped;
  } catch (err) {
    await source.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/**
 * A hash of the source's user schema (tables, columns, constraints, indexes, triggers
 * other than ferry's), recorded at install: Heroku allows no event trigger, so this is
 * how the apply loop and the cutover gate see DDL made during capture (a new table has
 * no trigger, a new column is unknown to the target).
 */
export async function schemaHash(source: Client): Promise<string> {
  const { rows } = await withDumpSearchPath(source, () => source.query<{ h: string }>(`
    WITH rel AS (
      SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relkind, c.relpersistence
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'f') AND ${USER_RELATION}),
    facts AS (
      SELECT 'table ' || name || ' ' || relkind::text || relpersistence::text AS f FROM rel
      UNION ALL SELECT 'column ' || r.name || ' ' || a.attnum || ' ' || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || a.attgenerated::text
        FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid WHERE a.attnum > 0 AND NOT a.attisdropped
      UNION ALL SELECT 'constraint ' || r.name || ' ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
        FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
      UNION ALL SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM rel r JOIN pg_index i ON i.indrelid = r.oid
      UNION ALL SELECT 'trigger ' || pg_get_triggerdef(g.oid) FROM rel r JOIN pg_trigger g ON g.tgrelid = r.oid
        WHERE NOT g.tgisinternal AND g.tgname NOT IN ('${CAPTURE_ROW_TRIGGER}', '${CAPTURE_TRUNCATE_TRIGGER}'))
    SELECT md5(coalesce(string_agg(f, E'\\n' ORDER BY f), '')) AS h FROM facts`));
  return rows[0].h;
}
