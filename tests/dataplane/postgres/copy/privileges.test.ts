// Privileges travel with the schema, as pg_dump keeps them (issue 23, item 16): a REVOKE
// on a function an extension installed (pg_stat_statements(showtext boolean, OUT ...), a
// long signature; pg_dump writes it from pg_init_privs), grants on a schema, a function,
// a sequence and tables. The dump copy and logical replicate both apply them; a grant to
// a role the target lacks is a warning naming it, not a failed copy; verify compares the
// privileges of both sides and names one that differs.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../../rehearsal/servers";
import { copyByDump } from "../../../../dataplane/postgres/copy/dump";
import { replicateLogical } from "../../../../dataplane/postgres/replication/logical";
import { cleanup } from "../../../../dataplane/postgres/cutover/cleanup";
import { verifyDatabases } from "../../../../dataplane/postgres/verify/verify";
import { privilegeStatements } from "../../../../dataplane/postgres/privileges";
import { ROLE_PASSWORD, startSource } from "../fixtures";
import { withDatabase } from "../helpers";

const CHECKS = `
  SELECT has_function_privilege('public', 'public.pg_stat_statements(boolean)', 'EXECUTE') AS public_stats,
         has_function_privilege('app', 'public.pg_stat_statements(boolean)', 'EXECUTE') AS app_stats,
         has_function_privilege('public', 'lib.secret(integer)', 'EXECUTE') AS public_secret,
         has_function_privilege('app', 'lib.secret(integer)', 'EXECUTE') AS app_secret,
         has_schema_privilege('reporting', 'lib', 'USAGE') AS reporting_lib,
         has_sequence_privilege('reporting', 'public.invoice_numbers', 'SELECT') AS reporting_seq,
         has_table_privilege('app', 'public.accounts', 'INSERT') AS app_accounts`;

const SOURCE_TRUTH = { public_stats: false, app_stats: true, public_secret: false, app_secret: true, reporting_lib: true, reporting_seq: true, app_accounts: true };

describe("privileges", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;

  beforeAll(async () => {
    [source, target] = await Promise.all([startSource(50), startPostgres()]);
    await source.query(`
      ALTER TABLE audit_log REPLICA IDENTITY FULL;
      CREATE EXTENSION pg_stat_statements;
      REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION pg_stat_statements(boolean) TO app;
      CREATE SCHEMA lib;
      GRANT USAGE ON SCHEMA lib TO reporting;
      CREATE FUNCTION lib.secret(n integer) RETURNS integer LANGUAGE sql AS 'SELECT n * 2';
      REVOKE EXECUTE ON FUNCTION lib.secret(integer) FROM PUBLIC;
      GRANT EXECUTE ON FUNCTION lib.secret(integer) TO app;
      GRANT SELECT ON SEQUENCE invoice_numbers TO reporting;`);
    expect((await source.query(CHECKS))[0]).toEqual(SOURCE_TRUTH);
    // The target knows app and reporting; worker and replicator exist only on the source.
    await target.query(`CREATE ROLE app LOGIN PASSWORD '${ROLE_PASSWORD}'; CREATE ROLE reporting LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    await target.query("CREATE DATABASE dumped");
    await target.query("CREATE DATABASE replicated");
  });

  afterAll(async () => {
    await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
  });

  test("the dump copy keeps them, extension members' included; a grant to a missing role is a warning", async () => {
    const tgt = withDatabase(target.url(), "dumped");
    const r = await copyByDump({ sourceUrl: source.url(), targetUrl: tgt, jobs: 2 });
    expect((await target.query(CHECKS, [], "dumped"))[0]).toEqual(SOURCE_TRUTH);
    expect(r.warnings.filter((w) => w.startsWith("privilege not copied"))).toEqual(expect.arrayContaining([
      expect.stringMatching(/^privilege not copied: GRANT ALL ON TABLE public\.accounts TO worker; \(role "worker" does not exist\)/),
      expect.stringMatching(/^privilege not copied: GRANT SELECT ON TABLE public\.accounts TO replicator;/),
    ]));
    const v = await verifyDatabases({ sourceUrl: source.url(), targetUrl: tgt });
    expect(v.privileges).toEqual({ ok: true, differences: [], missingRoles: ["replicator", "worker"] });
    expect(v.ok, v.firstDifference).toBe(true);
  });

  test("verify names a privilege that differs", async () => {
    const tgt = withDatabase(target.url(), "dumped");
    await target.query("GRANT EXECUTE ON FUNCTION pg_stat_statements(boolean) TO PUBLIC; REVOKE USAGE ON SCHEMA lib FROM reporting", [], "dumped");
    try {
      const v = await verifyDatabases({ sourceUrl: source.url(), targetUrl: tgt });
      expect(v.ok).toBe(false);
      expect(v.privileges.differences).toEqual([
        "function public.pg_stat_statements(boolean): EXECUTE for PUBLIC only on target",
        "schema lib: USAGE for reporting missing on target",
      ]);
      expect(v.firstDifference).toBe("privileges differ: function public.pg_stat_statements(boolean): EXECUTE for PUBLIC only on target (and 1 more)");
    } finally {
      await target.query("REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC; GRANT USAGE ON SCHEMA lib TO reporting", [], "dumped");
    }
  });

  test("logical replicate applies them to the schema it creates", async () => {
    const tgt = withDatabase(target.url(), "replicated");
    const r = await replicateLogical({ sourceUrl: source.url(), targetUrl: tgt, syncTimeoutMs: 60_000 });
    expect(r.performed).toContain("privileges");
    expect(r.warnings.some((w) => /TO worker;/.test(w))).toBe(true);
    expect((await target.query(CHECKS, [], "replicated"))[0]).toEqual(SOURCE_TRUTH);
    expect((await verifyDatabases({ sourceUrl: source.url(), targetUrl: tgt })).privileges).toMatchObject({ ok: true, differences: [] });
    await cleanup({ sourceUrl: source.url(), targetUrl: tgt });
  });

  test("privilege statements are taken line by line from pg_dump's SQL, without its preamble or grantor switches", () => {
    const sql = [
      "SET statement_timeout = 0;",
      "--",
      "-- Name: FUNCTION pg_stat_statements(showtext boolean, OUT userid oid); Type: ACL; Schema: public; Owner: postgres",
      "--",
      "",
      "REVOKE ALL ON FUNCTION public.pg_stat_statements(showtext boolean, OUT userid oid) FROM PUBLIC;",
      "SET SESSION AUTHORIZATION granter;",
      'GRANT SELECT ON TABLE "My Schema"."a;b" TO "Two Words" WITH GRANT OPTION;',
      "RESET SESSION AUTHORIZATION;",
      "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO reporting;",
    ].join("\n");
    expect(privilegeStatements(sql)).toEqual([
      "REVOKE ALL ON FUNCTION public.pg_stat_statements(showtext boolean, OUT userid oid) FROM PUBLIC;",
      'GRANT SELECT ON TABLE "My Schema"."a;b" TO "Two Words" WITH GRANT OPTION;',
      "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO reporting;",
    ]);
  });
});
