// The write fence on its own: a role-wide `default_transaction_read_only = off` cannot
// undo it, roles that were already read-only stay so after unfence, and a database
// owner without superuser (Heroku's situation) fences what it may, keeps the record
// itself, and names the roles it could not fence.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalPostgres } from "../../../../rehearsal/servers";
import { fence, readFence, unfence, withWritable } from "../../../../dataplane/postgres/cutover/fence";
import { connect, withClient } from "../../../../dataplane/postgres/connection";
import { roleUrl, startSource, ROLE_PASSWORD } from "../fixtures";
import { canWrite, withDatabase } from "../helpers";

describe("fence", () => {
  let source: LocalPostgres;

  beforeAll(async () => {
    source = await startSource(10);
  });

  afterAll(async () => {
    await source?.stop("immediate");
  });

  test("every login role is fenced, a role-wide override does not escape, unfence restores exactly", async () => {
    await source.query("ALTER ROLE worker SET default_transaction_read_only = off");
    await source.query("ALTER ROLE reporting IN DATABASE postgres SET default_transaction_read_only = on");
    const { record, terminated } = await withWritable(source.url(), (c) => fence(c, false, 123));
    expect(record.roles).toEqual(["app", "postgres", "worker"]); // reporting was already read-only; replicator is replication-only
    expect(record.unfenced).toEqual([]);
    expect(terminated).toBeGreaterThanOrEqual(0);
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

  test("a database owner without superuser fences itself and the database, and says whom it could not fence", async () => {
    await source.query(`CREATE ROLE owner LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    await source.query("CREATE DATABASE owned OWNER owner");
    const ownerUrl = withDatabase(source.url("postgres", "owner", ROLE_PASSWORD), "owned");
    await withClient(ownerUrl, (c) => c.query("CREATE TABLE audit_log (actor text, token text)"));
    // A superuser session in the database: the owner may not end it, and must not fail on it.
    const superSession = await connect(withDatabase(source.url(), "owned"));
    superSession.on("error", () => undefined);
    const { record } = await withWritable(ownerUrl, (c) => fence(c, false, 0));
    expect((await superSession.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await superSession.end();
    expect(record.roles).toEqual(["owner"]);
    expect(record.unfenced).toEqual(["app", "postgres", "reporting", "worker"]);
    expect(record.databaseDefault).toBe(true);
    // Only superusers may keep the record as a setting: the caller's copy is the record.
    expect(await withWritable(ownerUrl, readFence)).toBeNull();
    expect(await canWrite(ownerUrl)).toBe(false);
    await withWritable(ownerUrl, (c) => unfence(c, record));
    expect(await canWrite(ownerUrl)).toBe(true);
  });
});
