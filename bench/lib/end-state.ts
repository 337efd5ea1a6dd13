// What a copy leaves behind besides its rows: the indexes and constraints (as the
// catalogue prints them, so a missing, different or NOT VALID one shows) and whether the
// planner has statistics yet. pgcopydb ends with VACUUM ANALYZE and ferry with ANALYZE;
// a bare pg_restore leaves statistics to autovacuum, so that column can differ.
import { withClient } from "../../dataplane/postgres/connection";

export interface EndState {
  indexes: string[];
  constraints: string[];
  /** Tables (of those asked) that have planner statistics. */
  analyzed: string[];
}

export function endState(url: string, tables: string[]): Promise<EndState> {
  return withClient(url, async (c) => {
    const column = async (sql: string, params: unknown[] = []) => (await c.query<{ v: string }>(sql, params)).rows.map((r) => r.v);
    return {
      indexes: await column(
        `SELECT schemaname || '.' || tablename || ': ' || indexdef AS v FROM pg_indexes
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`),
      constraints: await column(
        `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) ||
                CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END AS v
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
      analyzed: await column(
        `SELECT DISTINCT schemaname || '.' || tablename AS v FROM pg_stats
          WHERE schemaname || '.' || tablename = ANY($1) ORDER BY 1`, [tables]),
    };
  });
}

/** The first way `got` differs from `want` in indexes or constraints, or undefined. */
export function schemaDifference(want: EndState, got: EndState): string | undefined {
  for (const kind of ["indexes", "constraints"] as const) {
    const missing = want[kind].filter((d) => !got[kind].includes(d));
    const extra = got[kind].filter((d) => !want[kind].includes(d));
    if (missing.length) return `${kind} missing: ${missing[0]}${missing.length > 1 ? ` (+${missing.length - 1})` : ""}`;
    if (extra.length) return `${kind} not on the source: ${extra[0]}${extra.length > 1 ? ` (+${extra.length - 1})` : ""}`;
  }
  return undefined;
}
