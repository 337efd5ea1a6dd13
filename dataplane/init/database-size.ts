// The source database's size, read from the database itself for `ferry init`: the
// Platform API does not give it, and the plan's write-window estimate grows with it.
// The URL is used for this one connection and never kept, printed or written.
import { COPIED_SIZE_SQL } from "../postgres/copy-catalog";
import { withClient } from "../postgres/connection";

export interface SizeRead {
  databaseBytes: number;
  copiedBytes: number;
}

/** A database that does not answer within this is reported as unread, not waited on. */
const CONNECT_TIMEOUT_MS = 15_000;

export async function readDatabaseSize(url: string): Promise<SizeRead> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ database_bytes: string; copied_bytes: string }>(COPIED_SIZE_SQL);
    return { databaseBytes: Number(rows[0].database_bytes), copiedBytes: Number(rows[0].copied_bytes) };
  }, { connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
}
