// The end check that matters most: every write the app acknowledged must be on the
// target, with the same id and the same text. Anything else is a lost write.
import { Client } from "pg";
import { AckedWrite } from "./timeline";
import { quoteSchema } from "./app-data";

export interface LostWriteResult {
  acknowledged: number;
  lost: AckedWrite[];
}

export async function findLostWrites(db: Client, schema: string, acked: AckedWrite[]): Promise<LostWriteResult> {
  const lost: AckedWrite[] = [];
  const batch = 5000;
  for (let i = 0; i < acked.length; i += batch) {
    const slice = acked.slice(i, i + batch);
    const { rows } = await db.query(`SELECT id::text AS id, text FROM ${quoteSchema(schema)}.statuses WHERE id = ANY($1::bigint[])`, [slice.map((w) => w.id)]);
    const found = new Map<string, string>(rows.map((r) => [r.id as string, r.text as string]));
    for (const w of slice) if (found.get(w.id) !== w.text) lost.push(w);
  }
  return { acknowledged: acked.length, lost };
}
