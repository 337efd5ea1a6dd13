// One COPY job: the source's COPY TO STDOUT piped straight into the target's COPY
// FROM STDIN. Nothing touches the disk and the bytes are never parsed here.
import { pipeline } from "node:stream/promises";
import { Client } from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { qualified } from "../connection";
import { CopyChunk, copyInSql, copyOutSql } from "./copy-plan";

/** Copy one chunk; `onBytes` hears every block of COPY data as it passes. Returns the rows loaded. */
export async function copyChunk(source: Client, target: Client, chunk: CopyChunk, onBytes: (n: number) => void): Promise<number> {
  const wholeTable = chunk.parts === 1;
  await target.query("BEGIN");
  try {
    // TRUNCATE in the loading transaction is what makes COPY FREEZE legal.
    if (wholeTable) await target.query(`TRUNCATE ONLY ${qualified(chunk.table.schema, chunk.table.name)}`);
    const out = source.query(copyTo(copyOutSql(chunk)));
    const into = target.query(copyFrom(copyInSql(chunk)));
    out.on("data", (block: Buffer) => onBytes(block.length));
    await pipeline(out, into);
    await target.query("COMMIT");
    return into.rowCount;
  } catch (err) {
    await target.query("ROLLBACK").catch(() => undefined);
    throw new Error(`copying ${chunk.table.schema}.${chunk.table.name}${chunk.parts > 1 ? ` part ${chunk.part + 1}/${chunk.parts}` : ""}: ${(err as Error).message}`);
  }
}
