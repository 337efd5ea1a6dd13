// Connecting to PostgreSQL from the data plane. Passwords never go on a command
// line: child programs (pg_dump, psql, pg_basebackup) get them through PGPASSWORD
// and a password-less connection string. TLS is decided once per URL (./tls), for
// node-postgres and for the libpq programs alike.
import { isIP } from "node:net";
import { Client, ClientConfig } from "pg";
import { FerryError, flagOfUrl } from "../cli/common";
import { Attempt, PgTls, explainTls, isPlainRefused, isTlsFailure, libpqTlsEnv, nodeSsl, pgTls, withoutTlsParams } from "./tls";

/**
 * node-postgres's config for one attempt: the URL without the TLS parameters (so
 * pg-connection-string's own reading of sslmode never applies), the address to
 * connect to (hostaddr when given: the certificate is still checked against the host
 * name), and ferry's `ssl` object.
 */
export function clientConfig(url: string, tls: PgTls, attempt: Attempt, extra: Partial<ClientConfig> = {}): ClientConfig {
  const u = withoutTlsParams(url);
  u.searchParams.delete("hostaddr");
  if (tls.hostaddr) u.hostname = isIP(tls.hostaddr) === 6 ? `[${tls.hostaddr}]` : tls.hostaddr;
  return { connectionString: u.toString(), application_name: "ferry", ssl: nodeSsl(tls, attempt), ...extra };
}

/** The error worth reporting after every attempt failed: not "plain refused" when TLS said why. */
function reportable(errors: unknown[]): unknown {
  return [...errors].reverse().find((e) => !isPlainRefused(e)) ?? errors[errors.length - 1];
}

/** A TLS failure as one line naming what to fix; any other error as it was. */
function explained(tls: PgTls, url: string, err: unknown): unknown {
  const line = explainTls(tls, describeUrl(url), err);
  return line ? new FerryError(line, 1) : err;
}

/**
 * A failed connection names its side, as the Redis steps' do (`--source host:port/db:
 * password authentication failed`), when the URL came from a flag of this process; the
 * error keeps its class and code for callers that look at them.
 */
function sided(url: string, err: unknown): unknown {
  const flag = flagOfUrl(url);
  if (!flag || !(err instanceof Error)) return err;
  const where = describeUrl(url);
  const prefix = err.message.includes(where) ? `${flag}: ` : `${flag} ${where}: `;
  if (err instanceof FerryError) return new FerryError(prefix + err.message, err.exitCode);
  err.message = prefix + err.message;
  return err;
}

/**
 * A node-postgres client for `url`, connected; the caller ends it. allow and prefer
 * fall back as libpq does: prefer to plain when TLS fails, allow to TLS when the
 * server refuses plain.
 */
export async function connect(url: string, extra: Partial<ClientConfig> = {}): Promise<Client> {
  try {
    return await connectOnce(url, extra);
  } catch (err) {
    throw sided(url, err);
  }
}

async function connectOnce(url: string, extra: Partial<ClientConfig>): Promise<Client> {
  const tls = pgTls(url);
  const errors: unknown[] = [];
  for (const attempt of tls.attempts) {
    const client = new Client(clientConfig(url, tls, attempt, extra));
    try {
      await client.connect();
      return client;
    } catch (err) {
      errors.push(err);
      const fallBack = attempt === "tls" ? isTlsFailure(err) : isPlainRefused(err);
      if (!fallBack) break;
    }
  }
  throw explained(tls, url, reportable(errors));
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
 * password (safe in argv, visible in `ps`) and an environment carrying it, with
 * PGSSLMODE and PGSSLROOTCERT set to what ferry's own connections use.
 */
export function libpqArgs(url: string, env: NodeJS.ProcessEnv = process.env): { conninfo: string; env: NodeJS.ProcessEnv } {
  const tls = pgTls(url, env);
  // sslmode and sslrootcert stay in the URL when they came from there: libpq reads the
  // same values from the URL as from the environment set below.
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = "";
  // A password in the URL wins; without one, an inherited PGPASSWORD still applies.
  const childEnv: NodeJS.ProcessEnv = { ...env, ...libpqTlsEnv(tls) };
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
