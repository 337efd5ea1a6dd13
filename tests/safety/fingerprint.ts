// What "nothing changed" means for the guard-rail suites: everything a
// failed command could have touched on either side. PostgreSQL: every database's
// relations, their rows, sequences, publications, subscriptions, slots, roles and
// per-role settings (a fence is `default_transaction_read_only`). Redis: every key's
// type, value (DUMP) and whether it expires, plus the role and notification config.
import { createHash } from "node:crypto";
import Redis from "ioredis";
import { Client } from "pg";
import { withDatabase } from "../dataplane/postgres/helpers";

const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex").slice(0, 16);

const CLUSTER_SQL = `
  SELECT 'db ' || datname || ' ' || datallowconn || ' ' || datconnlimit AS x FROM pg_database
  UNION ALL SELECT 'role ' || rolname || ' ' || rolcanlogin || ' ' || rolconnlimit || ' ' || rolreplication FROM pg_roles
  UNION ALL SELECT 'setting ' || setdatabase || ' ' || setrole || ' ' || array_to_string(setconfig, ',') FROM pg_db_role_setting
  UNION ALL SELECT 'slot ' || slot_name || ' ' || slot_type || ' ' || coalesce(database, '') FROM pg_replication_slots
  UNION ALL SELECT 'recovery ' || pg_is_in_recovery()`;

const DATABASE_SQL = `
  SELECT format('rel %s.%s %s %s', n.nspname, c.relname, c.relkind, c.relreplident) AS x
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
  UNION ALL SELECT 'pub ' || pubname FROM pg_publication
  UNION ALL SELECT 'pubrel ' || pubname || ' ' || schemaname || '.' || tablename FROM pg_publication_tables
  UNION ALL SELECT 'sub ' || subname || ' ' || subenabled FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL SELECT 'seq ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value, 0) FROM pg_sequences
  UNION ALL SELECT 'ext ' || extname FROM pg_extension`;

const TABLES_SQL = `
  SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`;

async function rows(url: string, sql: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ x: string }>(sql)).rows.map((r) => r.x).sort();
  } finally {
    await c.end();
  }
}

async function databaseDigest(url: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const catalog = (await c.query<{ x: string }>(DATABASE_SQL)).rows.map((r) => r.x);
    const tables = (await c.query<{ t: string }>(TABLES_SQL)).rows.map((r) => r.t);
    const data: string[] = [];
    for (const t of tables) {
      // Order-independent: the md5 of the sorted row texts.
      const { rows: [r] } = await c.query<{ n: string; h: string | null }>(`SELECT count(*) AS n, md5(string_agg(x::text, ',' ORDER BY x::text)) AS h FROM ${t} x`);
      data.push(`data ${t} ${r.n} ${r.h ?? ""}`);
    }
    return [...catalog, ...data].sort();
  } finally {
    await c.end();
  }
}

/** What a whole PostgreSQL cluster holds, as a superuser sees it (`url` names any database); one line per fact, so a diff says what changed. */
export async function postgresFingerprint(url: string): Promise<string[]> {
  const cluster = await rows(url, CLUSTER_SQL);
  const databases = (await rows(url, "SELECT datname AS x FROM pg_database WHERE datallowconn AND NOT datistemplate"));
  const parts = [...cluster];
  for (const db of databases) parts.push(...(await databaseDigest(withDatabase(url, db))).map((line) => `${db}: ${line}`));
  return parts;
}

/** What every database of a Redis server holds, one line per key. `tls` passes the CA for rediss://. */
export async function redisFingerprint(url: string, tls?: { ca: string }): Promise<string[]> {
  const client = new Redis(url, { lazyConnect: true, tls, maxRetriesPerRequest: 1 });
  await client.connect();
  try {
    const parts = [(await client.info("replication")).split("\r\n").find((l) => l.startsWith("role:")) ?? "", String(await client.config("GET", "notify-keyspace-events"))];
    const keyspace = await client.info("keyspace");
    const dbs = [...keyspace.matchAll(/^db(\d+):/gm)].map((m) => Number(m[1]));
    for (const db of dbs) {
      await client.select(db);
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "COUNT", 1000);
        cursor = next;
        for (const key of keys) {
          const dump = await client.dumpBuffer(key);
          const ttl = await client.pttl(key);
          parts.push(`${db} ${key} ${await client.type(key)} ${dump ? sha(dump) : ""} ${ttl > 0 ? "expires" : ttl}`);
        }
      } while (cursor !== "0");
    }
    return parts.sort();
  } finally {
    client.disconnect();
  }
}
