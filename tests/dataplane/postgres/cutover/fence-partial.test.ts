// A fence that fails part-way is undone: the cutover gives the source back with every
// role writable again, whether the source keeps the fence record itself (a superuser) or
// only the target does (a database owner, Heroku's case). The failure is real: another
// session changing a role's (or the database's) settings in a transaction it has not
// committed holds the row the fence must update, and the fence gives up after --timeout.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres, startPostgres } from "../../../../rehearsal/servers";
import { cutover } from "../../../../dataplane/postgres/cutover/cutover";
import { readFence, withWritable } from "../../../../dataplane/postgres/cutover/fence";
import { connect, withClient } from "../../../../dataplane/postgres/connection";
import { loadCutover } from "../../../../dataplane/postgres/state";
import { roleUrl, startSource, ROLE_PASSWORD } from "../fixtures";
import { canWrite, runFerry, withDatabase } from "../helpers";

/** Read-only defaults set in database `db` (role, or "" for the database itself). */
async function readOnlyDefaults(source: LocalPostgres, db: string): Promise<string[]> {
  const rows = await source.query<{ who: string }>(`
    SELECT coalesce(r.rolname, '') AS who FROM pg_db_role_setting s
    JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole
    WHERE d.datname = $1 AND 'default_transaction_read_only=on' = ANY (s.setconfig) ORDER BY 1`, [db]);
  return rows.map((r) => r.who);
}

/** A session holding, uncommitted, the settings row `alter` changes. */
async function holdSettingsRow(url: string, alter: string) {
  const c = await connect(url);
  c.on("error", () => undefined);
  await c.query(`BEGIN; ${alter}`);
  // The give-back ends the fenced roles' sessions (to reconnect writable): this one may be gone.
  return { release: async () => { await c.query("ROLLBACK").catch(() => undefined); await c.end().catch(() => undefined); } };
}

describe("a fence that fails part-way", () => {
  let source: LocalPostgres;
  let target: LocalPostgres;

  beforeAll(async () => {
    [source, target] = await Promise.all([startSource(50), startPostgres()]);
  });

  afterAll(async () => {
    await Promise.all([source?.stop("immediate"), target?.stop("immediate")]);
  });

  test("is given back: the roles fenced before the failure are writable again (record on the source)", async () => {
    // Roles are fenced in name order: app, postgres and reporting are read-only when worker's row is found held.
    const held = await holdSettingsRow(source.url(), "ALTER ROLE worker IN DATABASE postgres SET work_mem = '8MB'");
    let r;
    try {
      r = await cutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "dump", timeoutSeconds: 1 });
    } finally {
      await held.release();
    }
    expect(r).toMatchObject({ ok: false, rolledBack: true, writeUnavailableMs: null });
    expect(r.error).toMatch(/^canceling statement due to lock timeout; the fence was lifted and the source is writable again$/);
    expect(await readOnlyDefaults(source, "postgres")).toEqual([]);
    for (const url of [roleUrl(source, "app"), roleUrl(source, "worker"), source.url()]) expect(await canWrite(url), url).toBe(true);
    expect(await withWritable(source.url(), readFence)).toBeNull();
  });

  test("is given back from the caller's copy where the source cannot hold the record (a database owner)", async () => {
    await source.query(`CREATE ROLE owner LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    await source.query("CREATE DATABASE owned OWNER owner");
    await target.query("CREATE DATABASE owned");
    const ownerUrl = withDatabase(source.url("postgres", "owner", ROLE_PASSWORD), "owned");
    const targetUrl = withDatabase(target.url(), "owned");
    await withClient(ownerUrl, (c) => c.query("CREATE TABLE audit_log (actor text, token text)"));
    // The owner is fenced first, then the database's own default waits for the held row.
    const held = await holdSettingsRow(withDatabase(source.url(), "owned"), "ALTER DATABASE owned SET work_mem = '8MB'");
    let r;
    try {
      r = await cutover({ sourceUrl: ownerUrl, targetUrl, strategy: "dump", timeoutSeconds: 1, providerSuperusers: true });
    } finally {
      await held.release();
    }
    expect(r).toMatchObject({ ok: false, rolledBack: true });
    expect(r.error).toMatch(/lock timeout/);
    expect(await readOnlyDefaults(source, "owned")).toEqual([]);
    expect(await canWrite(ownerUrl)).toBe(true);
    // The target's record was kept before the owner was touched, and is cleared by the give-back.
    expect(await withClient(targetUrl, (c) => loadCutover(c, "dump"))).toMatchObject({ steps: [] });
    expect((await withClient(targetUrl, (c) => loadCutover(c, "dump")))?.fence).toBeUndefined();
  });

  test("a writer the fence cannot reach: ferry pg cutover refuses in one line before anything changes", async () => {
    const ownerUrl = withDatabase(source.url("postgres", "owner", ROLE_PASSWORD), "owned");
    const env = { FERRY_SOURCE_URL: ownerUrl, FERRY_TARGET_URL: withDatabase(target.url(), "owned") };
    const r = await runFerry(["pg", "cutover", "--strategy", "dump", "--timeout", "5"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: the fence cannot stop 1 role\(s\) that can write to the source: postgres \(it is a superuser and owner is not\); .*--provider-superusers\); the source was not touched\n$/);
    expect(await readOnlyDefaults(source, "owned")).toEqual([]);
    expect(await canWrite(ownerUrl)).toBe(true);
  });
});
