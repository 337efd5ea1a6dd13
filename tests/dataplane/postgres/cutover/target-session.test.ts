// The cutover keeps ONE session on the target for its record and its target steps (a new
// session per step cost a TLS handshake and an authentication each inside the window).
// Its users take turns: the record is saved in a transaction while the Redis side may
// save into it, so no statement of one use may land inside another's transaction.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startPostgres, LocalPostgres } from "../../../../rehearsal/servers";
import { withClient } from "../../../../dataplane/postgres/connection";
import { beginPgCutover } from "../../../../dataplane/postgres/cutover/cutover";
import { eventually } from "../../../support/eventually";

let source: LocalPostgres;
let target: LocalPostgres;

beforeAll(async () => {
  [source, target] = await Promise.all([startPostgres(), startPostgres()]);
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the cutover's target session", () => {
  test("is one session, used in turns, reopened after a failed use, closed at the end", async () => {
    await withClient(source.url(), async (src) => {
      const run = await beginPgCutover({ sourceUrl: source.url(), targetUrl: target.url(), strategy: "logical" }, src);
      const pid = () => run.onTarget(async (c) => (await c.query<{ p: number }>("SELECT pg_backend_pid() AS p")).rows[0].p);
      const first = await pid();
      expect(await pid()).toBe(first);

      // A transaction held across awaits, and a use started while it is open.
      const inTransaction = run.onTarget(async (c) => {
        await c.query("BEGIN");
        await c.query("CREATE TABLE IF NOT EXISTS turns (n int)");
        await sleep(200);
        await c.query("ROLLBACK");
      });
      const meanwhile = run.onTarget(async (c) => (await c.query<{ x: string | null }>("SELECT txid_current_if_assigned()::text AS x")).rows[0].x);
      await inTransaction;
      expect(await meanwhile).toBeNull(); // it ran after the ROLLBACK, outside that transaction

      await expect(run.onTarget((c) => c.query("SELECT no_such_column FROM pg_class"))).rejects.toThrow(/no_such_column/);
      const reopened = await pid();
      expect(reopened).not.toBe(first);

      // Ended by the server while idle (an unfence ends the fenced roles' sessions): the next use runs on a new one.
      await target.query("SELECT pg_terminate_backend($1)", [reopened]);
      await eventually("the session to be ended", async () => (await target.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [reopened]))[0].n === 0);
      const third = await pid();
      expect(third).not.toBe(reopened);

      await run.persist({ strategy: "logical", steps: [{ name: "gate", ms: 0 }] });
      await run.close();
      await eventually("the session to end", async () => (await target.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [third]))[0].n === 0);
    });
  });
});
