// A Heroku-like source for the capture strategy's tests: TLS on a self-signed
// certificate with plain connections refused, and ferry's role a plain database owner
// (NOSUPERUSER NOREPLICATION), as Heroku Postgres grants. The target is an ordinary
// cluster whose superuser stands in for RDS's rds_superuser.
import { Client } from "pg";
import { afterAll, beforeAll } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { LocalPostgres, startPostgres } from "../../../../rehearsal/servers";
import { ROLE_PASSWORD, createTestSchema, seedRows } from "../fixtures";
import { withDatabase } from "../helpers";

export const OWNER = "heroku_owner";

export function useHerokuLikePair(): { readonly source: LocalPostgres; readonly target: LocalPostgres } {
  let pair: [LocalPostgres, LocalPostgres] | undefined;
  beforeAll(async () => {
    pair = await Promise.all([startPostgres({ tls: { kind: "self-signed" } }), startPostgres()]);
    await pair[0].query(`CREATE ROLE ${OWNER} LOGIN NOSUPERUSER NOREPLICATION NOCREATEROLE NOCREATEDB PASSWORD '${ROLE_PASSWORD}'`);
  }, 180_000);
  afterAll(async () => {
    await Promise.all((pair ?? []).map((c) => c.stop("immediate")));
  }, 180_000);
  const started = () => pair ?? (() => { throw new Error("the clusters start in beforeAll"); })();
  return {
    get source() { return started()[0]; },
    get target() { return started()[1]; },
  };
}

/** Database `db` on both: the source owned by OWNER with the test schema and `rows` rows a table, reached with sslmode=require as on Heroku (`app`: the same for a plain node-postgres client). */
export async function ownedPair(source: LocalPostgres, target: LocalPostgres, db: string, rows = 100) {
  await source.query(`CREATE DATABASE ${db} OWNER ${OWNER}`);
  await target.query(`CREATE DATABASE ${db}`);
  const src = `${source.url(db, OWNER, ROLE_PASSWORD)}?sslmode=require`;
  await createTestSchema(src);
  await seedRows(src, rows);
  const tgt = withDatabase(target.url(), db);
  // The app's own connection, as a libpq client makes it: TLS without verifying the self-signed certificate.
  const app = `${src}&uselibpqcompat=true`;
  return { src, tgt, app, env: { FERRY_SOURCE_URL: src, FERRY_TARGET_URL: tgt } };
}

/**
 * Every object in the database a capture could add or leave: schemas, relations, functions,
 * triggers, comments on schemas, with their definitions. Equal before install and after remove.
 */
export async function catalogSnapshot(url: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ o: string }>(`
      SELECT 'schema ' || nspname || ' ' || coalesce(obj_description(oid, 'pg_namespace'), '') AS o FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'
      UNION ALL SELECT 'relation ' || c.oid::regclass::text || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      UNION ALL SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal
      UNION ALL SELECT 'type ' || t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`);
    return rows.map((r) => r.o);
  });
}

/** Every row of every test table, as text, sorted: two databases are equal row by row when these are. */
export async function allRows(url: string): Promise<Record<string, string[]>> {
  return withClient(url, async (c) => {
    const out: Record<string, string[]> = {};
    for (const t of ["accounts", "orders", "events_old", "events_recent", "events_default", "audit_log", "invoices"]) {
      out[t] = (await c.query<{ r: string }>(`SELECT x::text AS r FROM ONLY public.${t} x ORDER BY 1`)).rows.map((r) => r.r);
    }
    return out;
  });
}

/**
 * One mixed write transaction on the test schema: inserts, updates (one moves an event
 * between partitions), deletes (one cascading to invoices), and the keyless audit_log
 * updated and deleted. `n` varies what it touches.
 */
export async function mixedWrite(c: Client, n: number): Promise<void> {
  await c.query("BEGIN");
  const { rows } = await c.query<{ id: string }>(
    "INSERT INTO accounts (email, balance, profile) VALUES ($1, $2, jsonb_build_object('w', $3::int)) RETURNING id", [`w${n}-${Math.random()}@x.test`, n % 97, n]);
  await c.query("INSERT INTO orders (account_id, qty, unit_price) VALUES ($1, $2, 1.25)", [rows[0].id, 1 + (n % 4)]);
  await c.query("INSERT INTO invoices (account_id, amount) VALUES ($1, $2)", [rows[0].id, n]);
  await c.query("UPDATE accounts SET visits = visits + 1, mood = 'happy' WHERE id = (SELECT id FROM accounts ORDER BY id LIMIT 1 OFFSET $1)", [n % 50]);
  await c.query("INSERT INTO events (occurred_at, kind, payload) VALUES (now() - ($1::int * interval '400 days'), 'w', jsonb_build_object('n', $1::int))", [n % 3]);
  await c.query("UPDATE events SET occurred_at = occurred_at - interval '3000 days' WHERE id = (SELECT max(id) FROM events WHERE occurred_at > '2025-01-01') AND $1::int % 4 = 0", [n]);
  await c.query("UPDATE audit_log SET note = $1 WHERE ctid = (SELECT ctid FROM audit_log WHERE actor = 'seed' ORDER BY token LIMIT 1 OFFSET $2)", [`note ${n}`, n % 40]);
  await c.query("INSERT INTO audit_log (actor, token) VALUES ('w', $1)", [`t${n}`]);
  if (n % 5 === 0) await c.query("DELETE FROM audit_log WHERE ctid = (SELECT ctid FROM audit_log WHERE actor = 'w' LIMIT 1)");
  if (n % 7 === 0) {
    // ON DELETE CASCADE on the source: the invoices' deletes are logged by their own trigger.
    await c.query("DELETE FROM orders WHERE account_id = $1", [rows[0].id]);
    await c.query("DELETE FROM accounts WHERE id = $1", [rows[0].id]);
  }
  await c.query("COMMIT");
}
