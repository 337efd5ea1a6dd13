// The source password that CREATE SUBSCRIPTION must carry (issue 23, item 13): against a
// target that logs every statement, every statement's duration and every failing
// statement, the password appears in no line of its server log, and no sample of
// pg_stat_activity taken while replicate runs shows it; the subscription still copies and
// streams. Where the role cannot turn statement logging off, the refusal is decided by
// statementLogging (PostgreSQL 15 lets only superusers subscribe, so that role is not
// available on this cluster).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../rehearsal/servers";
import { connect } from "../../../dataplane/postgres/connection";
import { replicateLogical, statementLogging } from "../../../dataplane/postgres/replication/logical";
import { preflight } from "../../../dataplane/postgres/preflight";
import { cleanup } from "../../../dataplane/postgres/cutover/cleanup";
import { verifyDatabases } from "../../../dataplane/postgres/verify/verify";
import { startSource } from "./fixtures";

describe("the subscription's password", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;

  beforeAll(async () => {
    [source, target] = await Promise.all([
      startSource(100),
      startPostgres({ settings: { log_statement: "'all'", log_min_duration_statement: 0, log_min_error_statement: "'info'", log_connections: "on" } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
  });

  test("reaches neither the target's log nor pg_stat_activity, and replication works", async () => {
    expect((await preflight({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
    // Another superuser watches every session's statement while replicate runs.
    const watcher = await connect(target.url());
    const seen: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const { rows } = await watcher.query<{ q: string | null }>("SELECT query AS q FROM pg_stat_activity WHERE pid <> pg_backend_pid()");
        for (const r of rows) if (r.q?.includes(source.password)) seen.push(r.q);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      const r = await replicateLogical({ sourceUrl: source.url(), targetUrl: target.url(), syncTimeoutMs: 60_000 });
      expect(r.performed).toEqual(["pre-data schema", "primary keys", "privileges", "publication", "subscription", "post-data schema"]);
    } finally {
      watching = false;
      await watch;
      await watcher.end();
    }
    expect(seen).toEqual([]);

    const log = readFileSync(join(target.socketDir, `postgres-${target.port}.log`), "utf8");
    // Statement logging was on: the schema ferry applied is in the log, and so is the subscription's refresh.
    expect(log).toMatch(/statement: .*ALTER SUBSCRIPTION ferry_sub REFRESH PUBLICATION/);
    expect(log).toMatch(/CREATE TABLE public\.accounts/);
    expect(log.includes(source.password)).toBe(false);

    // Every row arrived (sequences are set at cutover, not replicated).
    const v = await verifyDatabases({ sourceUrl: source.url(), targetUrl: target.url() });
    expect(v.tables.filter((t) => !t.ok), v.firstDifference).toEqual([]);
    await cleanup({ sourceUrl: source.url(), targetUrl: target.url() });
  });

  test("a role that may not turn statement logging off is refused where the server would log the statement", () => {
    expect(statementLogging(["log_statement"], { log_statement: "ddl" })).toBe("log_statement = ddl");
    expect(statementLogging(["log_statement"], { log_statement: "none" })).toBeUndefined();
    expect(statementLogging(["log_min_duration_statement"], { log_min_duration_statement: "0" })).toBe("log_min_duration_statement = 0");
    expect(statementLogging(["log_min_duration_statement"], { log_min_duration_statement: "-1" })).toBeUndefined();
    // Settings the role could change are not the server's problem.
    expect(statementLogging([], { log_statement: "all", log_min_duration_statement: "0" })).toBeUndefined();
  });
});
