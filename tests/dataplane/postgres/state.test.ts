// The progress records on the target (dataplane/postgres/state.ts): one JSON document in
// the `ferry` schema's comment.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalPostgres, startPostgres } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { loadRecord, readAll, saveRecord, saveRecordInTransaction } from "../../../dataplane/postgres/state";

let pg: LocalPostgres;

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);

afterAll(async () => {
  await pg?.stop();
});

describe("saveRecord", () => {
  it("creates the schema, keeps the other records, and replaces its own", async () => {
    await withClient(pg.url(), async (c) => {
      await saveRecord(c, "replicate:logical", { keys: true });
      await saveRecord(c, "cutover:logical", { steps: [{ name: "fence", ms: 3 }] });
      await saveRecord(c, "cutover:logical", { steps: [{ name: "fence", ms: 3 }, { name: "drain", ms: 4 }] });
      expect(await readAll(c)).toEqual({
        "replicate:logical": { keys: true },
        "cutover:logical": { steps: [{ name: "fence", ms: 3 }, { name: "drain", ms: 4 }] },
      });
    });
  });

  it("stores any text a detail may hold: quotes, dollar quotes, backslashes, a NUL", async () => {
    const detail = `it's $$ and $ferry$; "quoted" \\u0000 \\ and a NUL \0 here`;
    await withClient(pg.url(), async (c) => {
      await saveRecord(c, "cutover:capture", { steps: [{ name: "verify", ms: 1, detail }] });
      const saved = await loadRecord<{ steps: { detail: string }[] }>(c, "cutover:capture");
      expect(saved!.steps[0].detail).toBe(detail);
    });
  });

  it("waits for another writer's transaction (one writer at a time), then keeps that writer's record too", async () => {
    await withClient(pg.url(), async (holder) => {
      await holder.query("BEGIN");
      await saveRecordInTransaction(holder, "early", { n: 0 });
      let saved = false;
      const saving = withClient(pg.url(), (c) => saveRecord(c, "late", { n: 1 })).then(() => (saved = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(saved).toBe(false);
      await holder.query("COMMIT");
      await saving;
    });
    await withClient(pg.url(), async (c) => expect(await readAll(c)).toMatchObject({ early: { n: 0 }, late: { n: 1 } }));
  });
});
