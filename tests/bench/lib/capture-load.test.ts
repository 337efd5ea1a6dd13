// The capture bench's loss check must see every way a target can lose an acknowledged
// write: a row missing, an older version of it, a deleted row still there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, LocalPostgres } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { cloneSource, CaptureSource, seedCaptureSource } from "../../../bench/lib/capture-data";
import { CaptureLoad, lostWrites } from "../../../bench/lib/capture-load";

describe("capture bench load", () => {
  let pg: LocalPostgres;
  let seed: CaptureSource;
  let url: string;
  let load: CaptureLoad;

  beforeAll(async () => {
    pg = await startPostgres();
    seed = await seedCaptureSource(pg, 0.001, 1);
    url = await cloneSource(pg, seed, "loadtest");
    load = new CaptureLoad(url, seed.rows, "t");
    load.start({ rate: 400, writers: 2 });
    await load.burst(300, 2);
    await load.stop();
  });
  afterAll(() => pg?.stop("immediate"));

  it("records INSERTs, UPDATEs and DELETEs on every table, and the source itself holds each one", async () => {
    const tables = [...load.acked.expected.keys()].sort();
    expect(tables).toEqual(["accounts", "events", "line_items", "orders"]);
    const all = [...load.acked.expected.values()].flatMap((m) => [...m.values()]);
    expect(all.some((e) => !e.present)).toBe(true);
    expect(all.some((e) => e.present && e.rev > 0)).toBe(true);
    expect(load.acked.failures).toBe(0);
    expect(await lostWrites(url, load.acked)).toEqual([]);
  });

  it("reports a missing row, an older rev and a deleted row that is back", async () => {
    const pick = (table: string, want: (e: { present: boolean; rev?: number }) => boolean) =>
      [...load.acked.expected.get(table)!].find(([, e]) => want(e))![0];
    const updated = pick("accounts", (e) => e.present && (e.rev ?? 0) > 0);
    const line = pick("line_items", (e) => e.present);
    const deleted = pick("events", (e) => !e.present);
    const [order, lineNo] = line.split(",");
    await withClient(url, async (c) => {
      await c.query("UPDATE accounts SET rev = rev - 1 WHERE id = $1", [updated]);
      await c.query("DELETE FROM line_items WHERE order_id = $1 AND line_no = $2", [order, lineNo]);
      await c.query("INSERT INTO events (id, account_id, kind, body) VALUES ($1, 1, 1, 'back')", [deleted]);
    });
    expect((await lostWrites(url, load.acked)).sort()).toEqual([
      expect.stringMatching(new RegExp(`^accounts ${updated}: rev \\d+, acknowledged \\d+$`)),
      `events ${deleted}: deleted, still there`,
      `line_items ${line}: missing`,
    ]);
  });
});
