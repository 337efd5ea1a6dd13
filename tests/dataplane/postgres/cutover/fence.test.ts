// The write fence on its own: a role-wide `default_transaction_read_only = off` cannot
// undo it, roles that were already read-only stay so after unfence, and every role that
// can write is within its reach or refused by name before anything changes: a superuser
// a database owner cannot fence (Heroku's situation: left to the provider only when told),
// a second credential, CREATEROLE without pg_signal_backend, PostgreSQL 16's ADMIN OPTION.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Client } from "pg";
import { LocalPostgres, waitFor } from "../../../../rehearsal/servers";
import { FenceRefused, fence, readFence, unfence, withWritable } from "../../../../dataplane/postgres/cutover/fence";
import { RoleFacts, cannotAlter, cannotSignal, fencePlanFor, planFence } from "../../../../dataplane/postgres/cutover/fence-plan";
import { preflight } from "../../../../dataplane/postgres/preflight";
import { connect, withClient } from "../../../../dataplane/postgres/connection";
import { roleUrl, startSource, ROLE_PASSWORD } from "../fixtures";
import { canWrite, runFerry, withDatabase } from "../helpers";

describe("fence", () => {
  let source: LocalPostgres;

  /** Why the server ended a session: the first error pg reported on the client's error event (then the socket closing). */
  const endedBy = new Map<Client, string>();

  /** A session as the app opens one (its own role, no ferry code). */
  async function appSession(url: string): Promise<Client> {
    const c = new Client({ connectionString: url });
    c.on("error", (err: Error & { code?: string }) => {
      if (!endedBy.has(c)) endedBy.set(c, err.code ?? err.message);
    });
    await c.connect();
    return c;
  }

  /** Wait until these are the only client sessions on the source (earlier helpers' sessions have exited). */
  async function onlyClientSessions(sessions: Client[]): Promise<void> {
    const pids = await Promise.all(sessions.map(async (c) => (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid));
    await waitFor("only the app's sessions on the source", async () => {
      const rows = await source.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid");
      return JSON.stringify(rows.map((r) => r.pid)) === JSON.stringify([...pids].sort((a, b) => a - b));
    });
  }

  beforeAll(async () => {
    source = await startSource(10);
  });

  afterAll(async () => {
    await source?.stop("immediate");
  });

  test("every login role is fenced, a role-wide override does not escape, unfence restores exactly", async () => {
    await source.query("ALTER ROLE worker SET default_transaction_read_only = off");
    await source.query("ALTER ROLE reporting IN DATABASE postgres SET default_transaction_read_only = on");
    // Sessions opened before the fence started writable: the app's, idle, and its worker's,
    // inside a transaction that has written and not committed yet. The fence must end both.
    const idle = await appSession(roleUrl(source, "app"));
    const inTransaction = await appSession(roleUrl(source, "worker"));
    await inTransaction.query("BEGIN");
    await inTransaction.query("INSERT INTO audit_log (actor, token) VALUES ('open-transaction', 'before-fence')");
    await onlyClientSessions([idle, inTransaction]);

    const { record, terminated } = await withWritable(source.url(), (c) => fence(c, false, 123));
    expect(record.roles).toEqual(["app", "postgres", "worker"]); // reporting was already read-only; replicator is replication-only
    expect(record.unfenced).toEqual([]);
    expect(terminated).toBe(2);
    for (const [name, session] of [["idle", idle], ["in a transaction", inTransaction]] as const) {
      await expect(session.query("INSERT INTO audit_log (actor, token) VALUES ('after-fence', 'x')"), `${name} session`).rejects.toThrow();
      expect(endedBy.get(session), `${name} session`).toBe("57P01"); // admin_shutdown: pg_terminate_backend
    }
    expect(await source.query("SELECT actor FROM audit_log WHERE actor IN ('open-transaction', 'after-fence')")).toEqual([]);
    for (const role of ["app", "worker"]) expect(await canWrite(roleUrl(source, role)), role).toBe(false);
    expect(await canWrite(source.url())).toBe(false);
    expect(await withWritable(source.url(), readFence)).toMatchObject({ roles: record.roles, lagBytes: 123 });

    // Idempotent: fencing again completes the same record.
    const again = await withWritable(source.url(), (c) => fence(c, false, 0));
    expect(again).toMatchObject({ resumed: true, record: { at: record.at } });

    await withWritable(source.url(), (c) => unfence(c));
    expect(await canWrite(roleUrl(source, "app"))).toBe(true);
    expect(await canWrite(roleUrl(source, "worker"))).toBe(true);
    expect(await withWritable(source.url(), readFence)).toBeNull();
    // The setting the user made before ferry came is still there.
    const settings = await source.query<{ role: string; cfg: string[] }>(
      "SELECT r.rolname AS role, s.setconfig AS cfg FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1",
    );
    expect(settings).toEqual([
      { role: "reporting", cfg: ["default_transaction_read_only=on"] },
      { role: "worker", cfg: ["default_transaction_read_only=off"] },
    ]);
  });

  test("a database owner without superuser: the superuser it cannot fence is refused unless it is the provider's", async () => {
    await source.query(`CREATE ROLE owner LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    await source.query("CREATE DATABASE owned OWNER owner");
    const ownerUrl = withDatabase(source.url("postgres", "owner", ROLE_PASSWORD), "owned");
    await withClient(ownerUrl, (c) => c.query("CREATE TABLE audit_log (actor text, token text)"));
    // A superuser session in the database: the owner may not end it, and must not fail on it.
    const superSession = await connect(withDatabase(source.url(), "owned"));
    superSession.on("error", () => undefined);

    // The superuser can write and the owner cannot fence it: refused before anything changes.
    const refused = await withWritable(ownerUrl, (c) => fence(c, false, 0)).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(FenceRefused);
    expect((refused as Error).message).toMatch(/^the fence cannot stop 1 role\(s\) that can write to the source: postgres \(it is a superuser and owner is not\);.*--provider-superusers/);
    expect(await canWrite(ownerUrl)).toBe(true);
    expect(await source.query("SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'owned'")).toEqual([{ n: 0 }]);

    // Heroku's case: the provider's superuser is left to the provider. app, worker and
    // reporting may connect but cannot change anything in `owned`: nothing to fence.
    const { record } = await withWritable(ownerUrl, (c) => fence(c, false, 0, null, { providerSuperusers: true }));
    expect((await superSession.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await superSession.end();
    expect(record.roles).toEqual(["owner"]);
    expect(record.unfenced).toEqual(["postgres"]);
    expect(record.databaseDefault).toBe(true);
    // Only superusers may keep the record as a setting: the caller's copy is the record.
    expect(await withWritable(ownerUrl, readFence)).toBeNull();
    expect(await canWrite(ownerUrl)).toBe(false);
    await withWritable(ownerUrl, (c) => unfence(c, record));
    expect(await canWrite(ownerUrl)).toBe(true);
  });

  test("a second credential that can write is refused by name, in preflight too; declared stopped, it is left alone", async () => {
    const ownerUrl = withDatabase(source.url("postgres", "owner", ROLE_PASSWORD), "owned");
    await withClient(ownerUrl, (c) => c.query("GRANT INSERT ON audit_log TO app"));
    const plan = await withWritable(ownerUrl, (c) => fencePlanFor(c, ["owned"], { providerSuperusers: true }));
    expect(plan.refused).toEqual([{ role: "app", reason: "owner has neither superuser nor CREATEROLE" }]);
    expect(plan.problem).toMatch(/--unfenced-role app/);
    const pf = await preflight({ sourceUrl: ownerUrl, targetUrl: source.url(), strategy: "dump", providerSuperusers: true });
    expect(pf.checks.find((c) => c.name === "fence")).toMatchObject({ ok: false, detail: expect.stringMatching(/^the fence cannot stop 1 role\(s\) that can write to the source: app \(owner has neither superuser nor CREATEROLE\)/) });

    const cli = await runFerry(["--json", "pg", "preflight", "--strategy", "dump", "--provider-superusers", "--unfenced-role", "app"], { FERRY_SOURCE_URL: ownerUrl, FERRY_TARGET_URL: source.url() });
    expect(JSON.parse(cli.stdout).checks.find((c: { name: string }) => c.name === "fence")).toEqual({ name: "fence", ok: true, detail: "1 role(s) the cutover makes read-only; left to the operator (writers stopped): app, postgres" });
    const unknown = await runFerry(["pg", "preflight", "--strategy", "dump", "--unfenced-role", "nosuch"], { FERRY_SOURCE_URL: ownerUrl, FERRY_TARGET_URL: source.url() });
    expect([unknown.code, unknown.stderr]).toEqual([2, "ferry: --unfenced-role nosuch: the source has no such role (role names are case-sensitive)\n"]);
    await withClient(ownerUrl, (c) => c.query("REVOKE INSERT ON audit_log FROM app"));
  });

  test("CREATEROLE without pg_signal_backend cannot end the writers' sessions: refused; with it, they are fenced", async () => {
    await source.query(`CREATE ROLE fencer LOGIN CREATEROLE PASSWORD '${ROLE_PASSWORD}'`);
    const fencerUrl = source.url("postgres", "fencer", ROLE_PASSWORD);
    const plan = () => withWritable(fencerUrl, (c) => fencePlanFor(c, ["postgres"], { providerSuperusers: true }));
    const before = await plan();
    expect(before.refused.map((r) => r.role)).toEqual(["app", "worker"]);
    expect(before.refused[0].reason).toBe("fencer may not end its sessions (it is neither a member of app nor of pg_signal_backend)");
    await source.query("GRANT pg_signal_backend TO fencer");
    const after = await plan();
    // owner (of the other database) may connect here but change nothing: fenced since it can be, never refused.
    expect(after).toMatchObject({ roles: ["app", "fencer", "owner", "worker"], unfenced: ["postgres"], refused: [] });
  });

  test("PostgreSQL 16's CREATEROLE rule, read from pg_auth_members.admin_option: only roles held WITH ADMIN OPTION", async () => {
    // The cluster is 15: the 16 rules are applied to its catalog by version.
    await source.query("GRANT worker TO fencer WITH ADMIN OPTION");
    const fencerUrl = source.url("postgres", "fencer", ROLE_PASSWORD);
    const as = (serverVersion: number) => withWritable(fencerUrl, (c) => fencePlanFor(c, ["postgres"], { providerSuperusers: true, serverVersion }));
    const v16 = await as(160000);
    expect(v16.roles).toEqual(["fencer", "worker"]);
    expect(v16.refused).toEqual([{ role: "app", reason: "from PostgreSQL 16, CREATEROLE reaches only roles granted to fencer WITH ADMIN OPTION" }]);
    expect(v16.problem).toMatch(/GRANT app TO fencer WITH ADMIN OPTION/);
    expect((await as(150004)).roles).toEqual(["app", "fencer", "owner", "worker"]);
    // The real server (15) takes the 15 rule.
    expect((await withWritable(fencerUrl, (c) => fencePlanFor(c, ["postgres"], { providerSuperusers: true }))).roles).toEqual(["app", "fencer", "owner", "worker"]);
  });

  test("the rules on their own", () => {
    const me = { name: "me", superuser: false, createRole: true, signalBackend: false };
    const role = (name: string, over: Partial<RoleFacts> = {}): RoleFacts => ({ name, superuser: false, replication: false, writes: true, adminOption: false, privilegesOf: false, ...over });
    expect(cannotAlter(me, role("a"), 150000)).toBeUndefined();
    expect(cannotAlter(me, role("a"), 160000)).toMatch(/ADMIN OPTION/);
    expect(cannotAlter(me, role("a", { adminOption: true }), 160000)).toBeUndefined();
    expect(cannotAlter(me, role("me"), 160000)).toBeUndefined();
    expect(cannotAlter(me, role("s", { superuser: true }), 150000)).toMatch(/superuser/);
    expect(cannotSignal(me, role("a", { privilegesOf: true }))).toBeUndefined();
    expect(cannotSignal({ ...me, signalBackend: true }, role("s", { superuser: true }))).toMatch(/superuser/);
    const plan = planFence({ ...me, signalBackend: true }, [
      role("a"), role("reader", { writes: false, adminOption: false }), role("repl", { replication: true, writes: false }),
      role("s", { superuser: true }), role("other", { superuser: true }),
    ], 160000, { unfencedRoles: ["a"], providerSuperusers: false });
    expect(plan).toEqual({ roles: [], unfenced: ["a"], refused: [{ role: "s", reason: "it is a superuser and me is not" }, { role: "other", reason: "it is a superuser and me is not" }] });
  });
});
