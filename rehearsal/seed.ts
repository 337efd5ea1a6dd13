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
  if (!Number.isInteger(n) || n < 1_000) throw new Error(`--size must be "small" or a row count of at least 1000, got "${size}"`);
  return n;
}

export function planSample(totalRows: number): SamplePlan {
  const accounts = Math.max(50, Math.min(100_000, Math.round(totalRows / 100)));
  const followsPerAccount = Math.min(20, accounts - 1);
  const statuses = Math.max(accounts, totalRows - accounts - accounts * followsPerAccount);
  return { accounts, followsPerAccount, statuses };
}

/** Fill the app's tables in `schema` (its migrations made them); returns the row counts actually present. */
export async function seedSample(client: Client, schema: string, plan: SamplePlan): Promise<Record<string, number>> {
  const s = quoteSchema(schema);
  await client.query(
    `INSERT INTO ${s}.accounts (username, display_name, note, created_at)
     SELECT 'user' || g, 'User ' || g, 'Hello, I am user ' || g, now() - make_interval(mins => g)
     FROM generate_series(1, $1::int) g`,
    [plan.accounts],
  );
  // Each account follows the next `followsPerAccount` accounts at a prime stride:
  // distinct targets, no self-follows, a spread-out follower graph.
  await client.query(
    `INSERT INTO ${s}.follows (account_id, target_account_id)
     SELECT a, 1 + ((a - 1 + j * 37) % $1::int)
     FROM generate_series(1, $1::int) a, generate_series(1, $2::int) j
     WHERE 1 + ((a - 1 + j * 37) % $1::int) <> a`,
    [plan.accounts, plan.followsPerAccount],
  );
  await client.query(
    `INSERT INTO ${s}.statuses (account_id, text, created_at)
     SELECT 1 + (g % $1::int), 'seed status ' || g || ' ' || md5(g::text), now() - make_interval(secs => $2::int - g)
     FROM generate_series(1, $2::int) g`,
    [plan.accounts, plan.statuses],
  );
  await client.query(`ANALYZE ${s}.accounts, ${s}.follows, ${s}.statuses`);
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
