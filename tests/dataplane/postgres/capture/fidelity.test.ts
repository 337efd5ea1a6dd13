// What the change log must carry exactly: a plain `json` column keeps its text (duplicate
// keys, odd whitespace: jsonb would normalize them, and verify would see the difference),
// in keyed and keyless tables, through inserts, updates and deletes; and a TRUNCATE ...
// CASCADE whose tables' log rows fall on two 5,000-row pages of one batch is applied.
import { describe, expect, it } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { replicateCapture } from "../../../../dataplane/postgres/capture/replicate";
import { runFerry } from "../helpers";
import { allRows, ownedPair, useHerokuLikePair } from "./fixtures";

const clusters = useHerokuLikePair();

/**
 * Whitespace inside the value, not around it: a json value read out of a row (json_populate,
 * ->) loses the blanks before and after it, so `  "text"  ` would come back as `"text"`
 * (a limit of applying from a logged row; the initial copy keeps them).
 */
const ODD = [`{"a": 1,   "a" : 2 ,"b":[1,2 ]}`, `{ "z":null,"z":{"k" :"v"} }`, `[ 1, {"x":1,"x":1} ]`, `"te x t"`];

/** Every row of `table` as text, sorted. */
const rowsOf = (url: string, table: string) =>
  withClient(url, async (c) => (await c.query<{ r: string }>(`SELECT x::text AS r FROM ${table} x ORDER BY 1`)).rows.map((r) => r.r));

describe("capture fidelity", () => {
  it("a json column keeps its text (duplicate keys, whitespace inside the value) in keyed and keyless tables", async () => {
    const { src, tgt, env } = await ownedPair(clusters.source, clusters.target, "fid_j");
    await withClient(src, async (c) => {
      await c.query("CREATE TABLE docs (id int PRIMARY KEY, body json, note text); CREATE TABLE loose (body json, tag text)");
      await c.query("INSERT INTO docs VALUES (1, $1, 'seed'); INSERT INTO loose VALUES ($1, 'seed')".replace(/\$1/g, `'${ODD[0]}'`));
    });
    await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    await withClient(src, async (c) => {
      await c.query("INSERT INTO docs VALUES (2, $1, 'new')", [ODD[1]]);
      await c.query("UPDATE docs SET body = $1 WHERE id = 1", [ODD[2]]);
      await c.query("UPDATE docs SET note = 'touched' WHERE id = 2");
      await c.query("INSERT INTO loose VALUES ($1, 'a'), ($2, 'b'), ($3, 'c')", [ODD[1], ODD[2], ODD[3]]);
      // Keyless: the old row (its json text included) is what finds the row on the target.
      await c.query("UPDATE loose SET tag = 'seed2' WHERE tag = 'seed'");
      await c.query("UPDATE loose SET body = $1 WHERE tag = 'a'", [ODD[3]]);
      await c.query("DELETE FROM loose WHERE tag = 'b'");
    });
    await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    const source = { docs: await rowsOf(src, "docs"), loose: await rowsOf(src, "loose") };
    // The source keeps the text as written: equal rows mean the target does too.
    expect(await withClient(src, async (c) => (await c.query("SELECT body::text AS b FROM docs WHERE id = 1")).rows[0].b)).toBe(ODD[2]);
    expect(await rowsOf(tgt, "docs")).toEqual(source.docs);
    expect(await rowsOf(tgt, "loose")).toEqual(source.loose);
    const verify = await runFerry(["pg", "verify", "--json"], env);
    expect(verify.code, verify.stdout).toBe(0);
  }, 120_000);

  it("a TRUNCATE ... CASCADE whose log rows straddle two pages of one batch is applied", async () => {
    const { src, tgt } = await ownedPair(clusters.source, clusters.target, "fid_t");
    await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    await withClient(src, async (c) => {
      await c.query("BEGIN");
      // 4,999 log rows, then the TRUNCATE's: accounts' is the 5,000th (the page's last), orders' and invoices' on the next page.
      await c.query("INSERT INTO audit_log (actor, token) SELECT 'bulk', 'b' || g FROM generate_series(1, 4999) g");
      await c.query("TRUNCATE accounts CASCADE");
      const { rows } = await c.query<{ id: string }>("INSERT INTO accounts (email) VALUES ('after@x.test') RETURNING id");
      await c.query("INSERT INTO orders (account_id, qty, unit_price) VALUES ($1, 2, 1.5)", [rows[0].id]);
      await c.query("INSERT INTO invoices (account_id, amount) VALUES ($1, 3)", [rows[0].id]);
      await c.query("COMMIT");
      const { rows: log } = await c.query<{ n: number; rel: string }>(
        "SELECT row_number() OVER (ORDER BY id)::int AS n, rel::regclass::text AS rel FROM ferry_capture.log WHERE op = 'T' ORDER BY id");
      expect(log.slice(0, 3)).toEqual([{ n: 1, rel: "accounts" }, { n: 2, rel: "orders" }, { n: 3, rel: "invoices" }]);
      const { rows: [{ at }] } = await c.query<{ at: number }>("SELECT count(*)::int AS at FROM ferry_capture.log WHERE id <= (SELECT min(id) FROM ferry_capture.log WHERE op = 'T')");
      expect(at).toBe(5000);
    });
    const r = await replicateCapture({ sourceUrl: src, targetUrl: tgt, untilCaughtUp: true });
    expect(r.lag.rows).toBe(0);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 120_000);
});
