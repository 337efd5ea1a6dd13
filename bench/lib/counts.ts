// A sanity check after each contender: the copy has every row.
import { withClient } from "../../dataplane/postgres/connection";

export async function rowCounts(url: string, tables: string[]): Promise<Record<string, number>> {
  return withClient(url, async (c) => {
    const out: Record<string, number> = {};
    for (const t of tables) out[t] = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
    return out;
  });
}
