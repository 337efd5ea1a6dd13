// Connecting to PostgreSQL from the data plane. Passwords never go on a command
// line: child programs (pg_dump, psql, pg_basebackup) get them through PGPASSWORD
// and a password-less connection string.
import { Client, ClientConfig } from "pg";

/** A node-postgres client for `url`, connected; the caller ends it. */
export async function connect(url: string, extra: Partial<ClientConfig> = {}): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: "ferry", ...extra });
  await client.connect();
  return client;
}

/** Run `fn` with a connected client and always end it. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>, extra: Partial<ClientConfig> = {}): Promise<T> {
  const client = await connect(url, extra);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Split a URL into what a libpq program needs: a connection string without the
 * password (safe in argv, visible in `ps`) and an environment carrying it.
 */
export function libpqArgs(url: string, env: NodeJS.ProcessEnv = process.env): { conninfo: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = "";
  // A password in the URL wins; without one, an inherited PGPASSWORD still applies.
  const childEnv: NodeJS.ProcessEnv = { ...env };
  if (password) childEnv.PGPASSWORD = password;
  return { conninfo: u.toString(), env: childEnv };
}

/** `schema.table`, quoted for SQL. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for SQL (standard_conforming_strings: only `'` needs doubling). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** host:port/db of a URL, for messages (never the password). */
export function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
}
