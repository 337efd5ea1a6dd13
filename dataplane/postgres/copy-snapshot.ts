// One consistent view of a database shared by many connections: a REPEATABLE READ
// transaction exports its snapshot and stays open; every worker imports it with
// SET TRANSACTION SNAPSHOT, so parallel readers see the same committed data.
import { Client } from "pg";
import { connect, quoteLiteral } from "./connection";

export interface SharedSnapshot {
  /** The holder's connection, inside the snapshot (use it for catalog reads). */
  client: Client;
  /** The exported snapshot's id; undefined where the server cannot export one (callers that need one must check). */
  id?: string;
  release(): Promise<void>;
}

/** Open a read-only REPEATABLE READ transaction on `url` and export its snapshot. */
export async function exportSnapshot(url: string, appName = "ferry"): Promise<SharedSnapshot> {
  const client = await connect(url, { application_name: appName });
  client.on("error", () => undefined);
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // Where the server refuses to export one (an old hot standby), the holder starts over without and the id stays undefined.
    const id = await client.query<{ id: string }>("SELECT pg_export_snapshot() AS id").then(
      (r) => r.rows[0].id,
      async () => {
        await client.query("ROLLBACK");
        await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        return undefined;
      },
    );
    let released = false;
    return {
      client,
      id,
      release: async () => {
        if (released) return;
        released = true;
        await client.query("COMMIT").catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}

/** Connect a worker to `url` inside the shared snapshot; it stays in that transaction until ended. */
export async function connectInSnapshot(url: string, snapshot: SharedSnapshot, appName = "ferry"): Promise<Client> {
  const client = await connect(url, { application_name: appName });
  client.on("error", () => undefined);
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (snapshot.id) await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot.id)}`);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}
