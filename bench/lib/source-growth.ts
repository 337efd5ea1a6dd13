// What a capture costs the source besides latency (issue 25: "the log's growth under
// load"): the WAL the source writes per acknowledged write (the trigger's log row is
// WAL-logged with the app's row, and the applier's trimming adds its deletes), and the
// capture's own store (ferry's change log, Bucardo's delta and track tables) per change
// while nothing drains it.
import { withClient } from "../../dataplane/postgres/connection";

/** The source cluster's WAL position now (one cluster per source in the bench: no other database writes there). */
export const walPosition = (url: string): Promise<string> =>
  withClient(url, async (c) => (await c.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l")).rows[0].l);

/** WAL bytes written since `from`. */
export const walBytesSince = (url: string, from: string): Promise<number> =>
  withClient(url, async (c) => Number((await c.query<{ b: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::int8::text AS b", [from])).rows[0].b));

/** Bytes on disk of every table (heap, indexes, TOAST) in `schema` of the source. */
export const schemaBytes = (url: string, schema: string): Promise<number> =>
  withClient(url, async (c) => Number((await c.query<{ b: string }>(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8::text AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
    [schema])).rows[0].b));

/** `during()`'s result and the WAL the source wrote meanwhile. */
export async function withWal<T>(url: string, during: () => Promise<T>): Promise<{ result: T; walBytes: number }> {
  const from = await walPosition(url);
  const result = await during();
  return { result, walBytes: await walBytesSince(url, from) };
}
