// Seeding the local source with a Mastodon-shaped sample, into the tables the app's own
// migrations created (source-data.ts runs them first). Everything is set-based SQL
// (generate_series), so a million rows load in seconds rather than minutes.
import { Client } from "pg";
import { quoteSchema } from "./app-data";

export interface SamplePlan {
  accounts: number;
  followsPerAccount: number;
  statuses: number;
}

/** `small` for CI; otherwise a total row count split the way a small instance looks (1 : 20 : 79). */
export function parseSize(size: string): number {
  if (size === "small") return 20_000;
  const n = Number(size.replace(/_/g, ""));
  if (!Number.isInteger(n) || n < 1_000) throw new Error(`--size must be "small", a row count of at least 1000, or a database size such as 1gb or 500mb, got "${size}"`);
  return n;
}

/** A database size (`1gb`, `1.5GB`, `500mb`) in bytes, or undefined when `size` names rows. */
export function parseSizeBytes(size: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(gb|mb)$/i.exec(size.trim());
  if (!m) return undefined;
  const bytes = Math.round(Number(m[1]) * (m[2].toLowerCase() === "gb" ? 1024 ** 3 : 1024 ** 2));
  if (bytes < 10 * 1024 ** 2) throw new Error(`--size ${size}: at least 10mb (a smaller sample is a row count, or "small")`);
  return bytes;
}

export function planSample(totalRows: number): SamplePlan {
  const accounts = Math.max(50, Math.min(100_000, Math.round(totalRows / 100)));
  const followsPerAccount = Math.min(20, accounts - 1);
  const statuses = Math.max(accounts, totalRows - accounts - accounts * followsPerAccount);
  return { accounts, followsPerAccount, statuses };
}

async function insertAccounts(client: Client, s: string, accounts: number): Promise<void> {
  await client.query(
    `INSERT INTO ${s}.accounts (username, display_name, note, created_at)
     SELECT 'user' || g, 'User ' || g, 'Hello, I am user ' || g, now() - make_interval(mins => g)
     FROM generate_series(1, $1::int) g`,
    [accounts],
  );
}

/**
 * Each account follows the next `followsPerAccount` accounts at a prime stride:
 * distinct targets, no self-follows, a spread-out follower graph.
 */
async function insertFollows(client: Client, s: string, plan: SamplePlan): Promise<void> {
  await client.query(
    `INSERT INTO ${s}.follows (account_id, target_account_id)
     SELECT a, 1 + ((a - 1 + j * 37) % $1::int)
     FROM generate_series(1, $1::int) a, generate_series(1, $2::int) j
     WHERE 1 + ((a - 1 + j * 37) % $1::int) <> a`,
    [plan.accounts, plan.followsPerAccount],
  );
}

/** Statuses `from`..`from + count - 1`, spread over the accounts, the newest last. */
async function insertStatuses(client: Client, s: string, accounts: number, from: number, count: number): Promise<void> {
  await client.query(
    `INSERT INTO ${s}.statuses (account_id, text, created_at)
     SELECT 1 + (g % $1::int), 'seed status ' || g || ' ' || md5(g::text), now() - make_interval(secs => $3::int - g)
     FROM generate_series($2::int, $3::int) g`,
    [accounts, from, from + count - 1],
  );
}

async function finishSample(client: Client, schema: string): Promise<Record<string, number>> {
  const s = quoteSchema(schema);
  await client.query(`ANALYZE ${s}.accounts, ${s}.follows, ${s}.statuses`);
  return countRows(client, schema);
}

/** Fill the app's tables in `schema` (its migrations made them); returns the row counts actually present. */
export async function seedSample(client: Client, schema: string, plan: SamplePlan): Promise<Record<string, number>> {
  const s = quoteSchema(schema);
  await insertAccounts(client, s, plan.accounts);
  await insertFollows(client, s, plan);
  await insertStatuses(client, s, plan.accounts, 1, plan.statuses);
  return finishSample(client, schema);
}

/**
 * Bytes a row of the sample takes on disk, heap and indexes: 161 measured on PostgreSQL
 * 15 for a 1,000,000-row sample (pg_database_size growth / rows).
 */
const BYTES_PER_SAMPLE_ROW = 160;
/** Statuses per INSERT when seeding to a size: each one set-based. */
const STATUS_BATCH = 500_000;

/**
 * The sample, shaped as seedSample's, at a database size of at least `bytes`: planned
 * for the rows that size holds (BYTES_PER_SAMPLE_ROW), statuses inserted in batches of
 * generate_series (the indexes are the migrations', maintained as rows go in); then, if pg_database_size is still short,
 * more statuses until it is not. Server-side generation: nothing crosses the wire.
 */
export async function seedSampleToSize(client: Client, schema: string, bytes: number): Promise<Record<string, number>> {
  const s = quoteSchema(schema);
  // An empty database already takes a few MB (the catalog): plan the rows for the rest.
  const plan = planSample(Math.ceil(Math.max(0, bytes - (await databaseBytes(client))) / BYTES_PER_SAMPLE_ROW));
  await insertAccounts(client, s, plan.accounts);
  await insertFollows(client, s, plan);
  let next = 1;
  const batch = async (count: number) => {
    await insertStatuses(client, s, plan.accounts, next, count);
    next += count;
  };
  while (next <= plan.statuses) await batch(Math.min(STATUS_BATCH, plan.statuses - next + 1));
  await finishSample(client, schema);
  while ((await databaseBytes(client)) < bytes) await batch(Math.ceil(STATUS_BATCH / 10));
  await client.query(`ANALYZE ${s}.statuses`);
  return countRows(client, schema);
}

export async function countRows(client: Client, schema: string): Promise<Record<string, number>> {
  const s = quoteSchema(schema);
  const counts: Record<string, number> = {};
  for (const table of ["accounts", "follows", "statuses"]) {
    const { rows } = await client.query(`SELECT count(*)::bigint AS n FROM ${s}.${table}`);
    counts[table] = Number(rows[0].n);
  }
  return counts;
}

/** Size of the database on disk, for the report's data volumes. */
export async function databaseBytes(client: Client): Promise<number> {
  const { rows } = await client.query(`SELECT pg_database_size(current_database())::bigint AS b`);
  return Number(rows[0].b);
}
