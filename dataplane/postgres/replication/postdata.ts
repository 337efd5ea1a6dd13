// Post-data (indexes, constraints, triggers) is built after the initial copy so each
// index is built once over all rows. Logical replication needs one part earlier:
// the apply worker finds the rows an UPDATE or DELETE touches through the target's
// primary key or replica-identity index, and without it an update replicated during
// the initial sync fails and restarts the table's copy forever. So post-data is split
// into the keys (applied before the subscription) and the rest (after the sync).

export interface PostDataParts {
  /** Primary keys, replica-identity indexes and the partition attachments of those. */
  keys: string;
  rest: string;
}

interface Entry {
  type: string;
  sql: string;
}

const ENTRY_HEADER = /^--\n-- Name: [^\n]*; Type: ([^;]+); Schema: [^\n]*\n--\n/gm;
const TRAILER = /^--\n-- PostgreSQL database dump complete[\s\S]*$/m;

function entries(body: string): Entry[] {
  const heads = [...body.matchAll(ENTRY_HEADER)];
  return heads.map((h, i) => ({
    type: h[1],
    sql: body.slice(h.index! + h[0].length, i + 1 < heads.length ? heads[i + 1].index : body.length),
  }));
}

/** Qualified name of the index a PRIMARY KEY constraint creates: `schema.constraint`. */
function keyIndexName(e: Entry): string | undefined {
  const m = /ALTER TABLE ONLY ("?[^\s.]+"?)\.\S+\s+ADD CONSTRAINT (\S+) PRIMARY KEY/.exec(e.sql);
  return m ? `${m[1]}.${m[2]}` : undefined;
}

export function splitPostData(sql: string): PostDataParts {
  const first = sql.search(ENTRY_HEADER);
  if (first < 0) return { keys: "", rest: sql };
  const trailerAt = sql.search(TRAILER);
  const preamble = sql.slice(0, first);
  const trailer = trailerAt >= 0 ? sql.slice(trailerAt) : "";
  const all = entries(trailerAt >= 0 ? sql.slice(first, trailerAt) : sql.slice(first));
  const keyIndexes = new Set(all.map(keyIndexName).filter((n): n is string => !!n));
  const isKey = (e: Entry) =>
    keyIndexName(e) !== undefined ||
    /REPLICA IDENTITY USING INDEX/.test(e.sql) ||
    (e.type === "INDEX ATTACH" && keyIndexes.has(/ALTER INDEX (\S+) ATTACH/.exec(e.sql)?.[1] ?? ""));
  const join = (list: Entry[]) => (list.length ? preamble + list.map((e) => e.sql).join("") + trailer : "");
  return { keys: join(all.filter(isKey)), rest: join(all.filter((e) => !isKey(e))) };
}
