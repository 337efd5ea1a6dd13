import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startPostgres, LocalPostgres } from "../../../../rehearsal/servers";
import { copyByDump } from "../../../../dataplane/postgres/copy/dump";
import { bundles, keyHash, planFastVerify, verifyDatabases, VerifyOptions, sampleIndexes } from "../../../../dataplane/postgres/verify/verify";
import { sideTasks } from "../../../../dataplane/postgres/verify/verify-scan";
import type { TableInfo } from "../../../../dataplane/postgres/copy-catalog";
import { runFerry } from "../helpers";
import { startSource } from "../fixtures";

// One source and one copy; each test damages the copy, checks that verify names the
// damage, and repairs it so the next test starts from an identical pair.
let source: LocalPostgres;
let target: LocalPostgres;
let opts: VerifyOptions;

const onTarget = (sql: string, params?: unknown[]) => target.query(sql, params);

beforeAll(async () => {
  [source, target] = await Promise.all([startSource(1200), startPostgres()]);
  // A type created first on the target shifts its OIDs: the copied enum's labels get other OIDs than on the
  // source, as they would on any real target, and verify must still see equal rows.
  await target.query("CREATE TYPE public.oid_shift AS ENUM ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')");
  await copyByDump({ sourceUrl: source.url(), targetUrl: target.url(), jobs: 2 });
  // Small chunks so every table has several ranges and a difference must be located among them.
  // showKeys: these cases check which key was found (the default output hides it: see "no key value").
  opts = { sourceUrl: source.url(), targetUrl: target.url(), jobs: 3, chunkRows: 100, narrowRows: 20, showKeys: true };
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
});

describe("verifyDatabases", () => {
  test("an identical copy is green, with counts and sequences", async () => {
    const report = await verifyDatabases(opts);
    expect(report.firstDifference).toBeUndefined();
    expect(report.ok).toBe(true);
    const accounts = report.tables.find((t) => t.table === "public.accounts")!;
    expect(accounts).toMatchObject({ sourceRows: 1200, targetRows: 1200, ok: true });
    expect(accounts.chunks).toBeGreaterThan(5);
    expect(report.tables.map((t) => t.table)).toEqual(["public.accounts", "public.audit_log", "public.events", "public.invoices", "public.orders"]);
    expect(report.sequences.find((s) => s.sequence === "public.invoice_numbers")).toMatchObject({ ok: true, source: 2199, target: 2199 });
  });

  test("a changed row is located to its key", async () => {
    await onTarget("UPDATE accounts SET balance = balance + 0.01 WHERE id = 777");
    try {
      const report = await verifyDatabases(opts);
      expect(report.ok).toBe(false);
      const t = report.tables.find((x) => x.table === "public.accounts")!;
      expect(t).toMatchObject({ ok: false, sourceRows: 1200, targetRows: 1200, differingChunks: 1 });
      expect(t.firstDifference).toMatchObject({ from: "777", to: "777", kind: "changed" });
      expect(report.firstDifference).toBe("public.accounts: row with key 777 changed (1200 rows on source, 1200 on target)");
    } finally {
      await onTarget("UPDATE accounts SET balance = balance - 0.01 WHERE id = 777");
    }
  });

  test("a deleted row is located, also with the default (big) chunks after halving", async () => {
    const [row] = await onTarget("SELECT no, account_id, amount, issued_at::text FROM invoices WHERE no = 1500");
    // Timestamps travel as text: a JS Date would drop the microseconds (and verify would rightly complain).
    await onTarget("DELETE FROM invoices WHERE no = 1500");
    try {
      const small = await verifyDatabases(opts);
      expect(small.tables.find((x) => x.table === "public.invoices")!.firstDifference).toMatchObject({ from: "1500", to: "1500", kind: "missing on target" });
      // One chunk for the table; narrowing halves it (narrowRows 20) before comparing rows.
      const big = await verifyDatabases({ ...opts, chunkRows: 50_000 });
      const t = big.tables.find((x) => x.table === "public.invoices")!;
      expect(t).toMatchObject({ chunks: 1, sourceRows: 1200, targetRows: 1199 });
      expect(t.firstDifference).toMatchObject({ from: "1500", to: "1500", kind: "missing on target" });
    } finally {
      await onTarget("INSERT INTO invoices (no, account_id, amount, issued_at) VALUES ($1, $2, $3, $4)", [row.no, row.account_id, row.amount, row.issued_at]);
    }
  });

  test("small tables are hashed whole, many to one statement, and a difference in one of them is still named", async () => {
    // With the default chunk size every plain table of the fixture fits one chunk: they are bundled.
    const bundledOpts = { ...opts, chunkRows: 50_000 };
    const green = await verifyDatabases(bundledOpts);
    expect(green.ok).toBe(true);
    for (const name of ["public.accounts", "public.audit_log", "public.invoices", "public.orders"]) {
      expect(green.tables.find((x) => x.table === name)).toMatchObject({ ok: true, chunks: 1, sourceRows: 1200, targetRows: 1200 });
    }
    const [gone] = await onTarget("DELETE FROM audit_log WHERE ctid = (SELECT min(ctid) FROM audit_log) RETURNING happened_at::text, actor, note, token");
    await onTarget("UPDATE orders SET qty = qty + 1 WHERE id = 600");
    try {
      const red = await verifyDatabases(bundledOpts);
      expect(red.tables.find((x) => x.table === "public.orders")).toMatchObject({ ok: false, firstDifference: { from: "600", to: "600", kind: "changed" } });
      expect(red.tables.find((x) => x.table === "public.audit_log")).toMatchObject({ ok: false, sourceRows: 1200, targetRows: 1199, firstDifference: { kind: "whole table" } });
      expect(red.tables.find((x) => x.table === "public.accounts")!.ok).toBe(true);
      // Fast mode bundles them too: every table is still counted.
      const fast = await verifyDatabases({ ...bundledOpts, fast: true });
      expect(fast.tables.find((x) => x.table === "public.audit_log")).toMatchObject({ ok: false, sourceRows: 1200, targetRows: 1199 });
      expect(fast.tables.find((x) => x.table === "public.orders")!.firstDifference).toMatchObject({ from: "600", kind: "changed" });
    } finally {
      await onTarget("UPDATE orders SET qty = qty - 1 WHERE id = 600");
      await onTarget("INSERT INTO audit_log (happened_at, actor, note, token) VALUES ($1, $2, $3, $4)", [gone.happened_at, gone.actor, gone.note, gone.token]);
    }
  });

  test("bundles share the small tables among the jobs and stay under their size", () => {
    const table = (i: number, totalBytes: number) => ({ oid: i, totalBytes }) as Parameters<typeof bundles>[0][number];
    const many = Array.from({ length: 120 }, (_, i) => table(i, 1000));
    const split = bundles(many, 2);
    expect(split.map((b) => b.bundle.length)).toEqual([50, 50, 20]);
    expect(bundles(many.slice(0, 10), 2).map((b) => b.bundle.length)).toEqual([5, 5]);
    const heavy = Array.from({ length: 20 }, (_, i) => table(i, 1024 * 1024));
    expect(bundles(heavy, 1).map((b) => b.bundle.length)).toEqual([8, 8, 4]);
    expect(bundles([], 2)).toEqual([]);
  });

  test("an extra row past the source's last key is found by the open last range", async () => {
    await onTarget("INSERT INTO accounts (id, email) VALUES (99999, 'extra@target.test')");
    try {
      const report = await verifyDatabases(opts);
      const t = report.tables.find((x) => x.table === "public.accounts")!;
      expect(t).toMatchObject({ ok: false, targetRows: 1201 });
      expect(t.firstDifference).toMatchObject({ from: "99999", to: "99999", kind: "extra on target" });
    } finally {
      await onTarget("DELETE FROM accounts WHERE id = 99999");
    }
  });

  test("a changed row in a partition is reported on the partitioned table with its composite key", async () => {
    const [{ id }] = await onTarget("SELECT id FROM events ORDER BY id OFFSET 600 LIMIT 1");
    await onTarget("UPDATE events SET payload = '{\"g\": -1}' WHERE id = $1", [id]);
    try {
      const report = await verifyDatabases(opts);
      const t = report.tables.find((x) => x.table === "public.events")!;
      expect(t.ok).toBe(false);
      expect(t.firstDifference?.kind).toBe("changed");
      expect(t.firstDifference?.from).toMatch(new RegExp(`^\\(${id}, \\d{4}-\\d\\d-\\d\\d `));
    } finally {
      const [orig] = await source.query("SELECT payload FROM events WHERE id = $1", [id]);
      await onTarget("UPDATE events SET payload = $2 WHERE id = $1", [id, orig.payload]);
    }
  });

  test("a changed row in a table without a primary key fails the whole table", async () => {
    await onTarget("UPDATE audit_log SET note = 'tampered' WHERE token = 'seed-5'");
    try {
      const report = await verifyDatabases(opts);
      const t = report.tables.find((x) => x.table === "public.audit_log")!;
      expect(t).toMatchObject({ ok: false, sourceRows: 1200, targetRows: 1200, chunks: 1 });
      expect(t.firstDifference).toMatchObject({ from: "(start)", to: "(end)", kind: "whole table" });
      expect(report.firstDifference).toMatch(/^public\.audit_log: whole table differs/);
    } finally {
      await onTarget("UPDATE audit_log SET note = repeat('x', 5) WHERE token = 'seed-5'");
    }
  });

  test("a stale sequence on the target is named; one ahead is fine", async () => {
    await onTarget("SELECT setval('accounts_id_seq', 10)");
    await onTarget("SELECT setval('invoice_numbers', 5000)");
    try {
      const report = await verifyDatabases(opts);
      expect(report.ok).toBe(false);
      expect(report.tables.filter((t) => !t.ok)).toEqual([]);
      expect(report.sequences.find((s) => s.sequence === "public.accounts_id_seq")).toEqual({ sequence: "public.accounts_id_seq", source: 1200, target: 10, ok: false });
      expect(report.sequences.find((s) => s.sequence === "public.invoice_numbers")?.ok).toBe(true);
      expect(report.firstDifference).toBe("sequence public.accounts_id_seq: target at 10 is behind source at 1200");
    } finally {
      await onTarget("SELECT setval('accounts_id_seq', 1200)");
      await onTarget("SELECT setval('invoice_numbers', 2199)");
    }
  });

  test("a column added on one side and a table on one side only are named, not hashed", async () => {
    await onTarget("ALTER TABLE invoices ADD COLUMN note text; CREATE TABLE stray (id int)");
    try {
      const report = await verifyDatabases(opts);
      expect(report.tables.filter((t) => !t.ok).map((t) => [t.table, t.firstDifference?.kind])).toEqual([
        ["public.invoices", "columns differ"],
        ["public.stray", "table missing on source"],
      ]);
      expect(report.firstDifference).toMatch(/^public\.invoices: columns differ: source \(.*\), target \(.*note text.*\)$/);
    } finally {
      await onTarget("ALTER TABLE invoices DROP COLUMN note; DROP TABLE stray");
    }
  });

  test("fast mode counts every table and catches a missing newest row", async () => {
    expect((await verifyDatabases({ ...opts, fast: true })).ok).toBe(true);
    const [row] = await onTarget("SELECT happened_at::text, actor, note, token FROM audit_log WHERE token = 'seed-1200'");
    await onTarget("DELETE FROM audit_log WHERE token = 'seed-1200'");
    await onTarget("DELETE FROM invoices WHERE no = 2199");
    const [newest] = await onTarget("SELECT id, payload FROM events ORDER BY id DESC, occurred_at DESC LIMIT 1");
    await onTarget("UPDATE events SET payload = '{\"changed\": true}' WHERE id = $1", [newest.id]);
    try {
      const report = await verifyDatabases({ ...opts, fast: true });
      expect(report.fast).toBe(true);
      // A composite key: only its first and last chunks are found (two index probes) and hashed.
      const events = report.tables.find((x) => x.table === "public.events")!;
      expect(events).toMatchObject({ ok: false, chunks: 2, sourceRows: 1200, targetRows: 1200 });
      expect(events.firstDifference).toMatchObject({ kind: "changed", from: expect.stringMatching(new RegExp(`^\\(${newest.id}, `)) });
      expect(report.tables.find((x) => x.table === "public.audit_log")).toMatchObject({ ok: false, sourceRows: 1200, targetRows: 1199 });
      // The last chunk is always sampled: the newest invoice is named.
      expect(report.tables.find((x) => x.table === "public.invoices")!.firstDifference).toMatchObject({ from: "2199", to: "2199", kind: "missing on target" });
    } finally {
      await onTarget("INSERT INTO audit_log VALUES ($1, $2, $3, $4)", [row.happened_at, row.actor, row.note, row.token]);
      await onTarget("UPDATE events SET payload = $2 WHERE id = $1", [newest.id, newest.payload]);
      const [inv] = await source.query("SELECT no, account_id, amount, issued_at::text FROM invoices WHERE no = 2199");
      await onTarget("INSERT INTO invoices (no, account_id, amount, issued_at) VALUES ($1, $2, $3, $4)", [inv.no, inv.account_id, inv.amount, inv.issued_at]);
    }
  });

  test("fast mode with a plan from before the fence: newest rows hashed, big tables not counted", async () => {
    // The plan is read first (before a cutover's fence); rows written after it land in its open last range.
    const plan = await planFastVerify(source.url(), 100, 2);
    expect([...plan.ranges.keys()].sort()).toEqual(["public.accounts", "public.events", "public.invoices", "public.orders"]);
    expect(plan.ranges.get("public.events")!.length).toBeGreaterThan(2); // the composite key is split, not only its edges
    const planned: VerifyOptions = { ...opts, fast: true, plan, countMaxBytes: 0 };
    const [acct] = await source.query("SELECT max(id) AS id FROM accounts");
    const add = "INSERT INTO invoices (no, account_id, amount, issued_at) VALUES (9001, $1, 12.50, '2026-01-01T00:00:00Z'), (9002, $1, 13.50, '2026-01-01T00:00:01Z')";
    await source.query(add, [acct.id]);
    await onTarget(add, [acct.id]);
    try {
      const green = await verifyDatabases(planned);
      expect(green.ok).toBe(true);
      const invoices = green.tables.find((x) => x.table === "public.invoices")!;
      // Not counted: the rows reported are those of the compared chunks, which include both new rows.
      expect(invoices).toMatchObject({ ok: true, counted: false });
      expect(invoices.sourceRows).toBeLessThan(1202);
      // audit_log has no key: always counted.
      expect(green.tables.find((x) => x.table === "public.audit_log")).toMatchObject({ sourceRows: 1200, targetRows: 1200 });
      expect(green.tables.find((x) => x.table === "public.audit_log")!.counted).toBeUndefined();

      // A write acknowledged on the source after the plan but missing on the target is named.
      await onTarget("DELETE FROM invoices WHERE no = 9002");
      const red = await verifyDatabases(planned);
      expect(red.ok).toBe(false);
      expect(red.tables.find((x) => x.table === "public.invoices")!.firstDifference).toMatchObject({ from: "9002", to: "9002", kind: "missing on target" });
      // Counted as before when the table is under the size limit.
      const counted = await verifyDatabases({ ...planned, countMaxBytes: 1 << 30 });
      expect(counted.tables.find((x) => x.table === "public.invoices")).toMatchObject({ ok: false, sourceRows: 1202, targetRows: 1201 });
    } finally {
      await source.query("DELETE FROM invoices WHERE no IN (9001, 9002)");
      await onTarget("DELETE FROM invoices WHERE no IN (9001, 9002)");
    }
  });

  test("fast mode with a plan still counts a big table whose key does not grow at its end (text key)", async () => {
    const create = "CREATE TABLE tokens (t text PRIMARY KEY, n int NOT NULL); INSERT INTO tokens SELECT md5(g::text), g FROM generate_series(1, 500) g";
    await source.query(create);
    await onTarget(create);
    try {
      const plan = await planFastVerify(source.url(), 100, 2);
      const planned: VerifyOptions = { ...opts, fast: true, plan, countMaxBytes: 0 };
      // A row lost anywhere in a text key (new rows land anywhere) shows in the count.
      await onTarget("DELETE FROM tokens WHERE n = 250");
      const report = await verifyDatabases(planned);
      const tokens = report.tables.find((x) => x.table === "public.tokens")!;
      expect(tokens).toMatchObject({ ok: false, sourceRows: 500, targetRows: 499 });
      expect(tokens.counted).toBeUndefined();
      expect(report.tables.find((x) => x.table === "public.accounts")!.counted).toBe(false);
    } finally {
      await source.query("DROP TABLE tokens");
      await onTarget("DROP TABLE tokens");
    }
  });

  test("no key value in verify's output unless asked (--show-keys): the table, the key range's position and a hash", async () => {
    const create = "CREATE TABLE people (email text PRIMARY KEY, n int NOT NULL); INSERT INTO people SELECT 'person' || g || '@example.test', g FROM generate_series(1, 300) g";
    await source.query(create);
    await onTarget(create);
    await onTarget("UPDATE people SET n = -1 WHERE email = 'person150@example.test'");
    const env = { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url() };
    try {
      const text = await runFerry(["pg", "verify", "--chunk-rows", "100"], env);
      const json = await runFerry(["--json", "pg", "verify", "--chunk-rows", "100"], env);
      for (const r of [text, json]) {
        expect(r.code).toBe(1);
        expect(r.stdout + r.stderr).not.toContain("person150");
      }
      const hash = keyHash("public.people", ["person150@example.test"]);
      expect(text.stdout).toContain(`DIFF public.people: a row changed (key hash ${hash}, in key range 1 of 4; 300 rows on source, 300 on target)`);
      const report = JSON.parse(json.stdout);
      expect(report.tables.find((t: { table: string }) => t.table === "public.people").firstDifference).toEqual({ kind: "changed", range: { index: 1, of: 4 }, keyHash: hash });
      // Asked for, the key is printed.
      const shown = await runFerry(["pg", "verify", "--chunk-rows", "100", "--show-keys"], env);
      expect(shown.stdout).toContain("DIFF public.people: row with key person150@example.test changed (300 rows on source, 300 on target)");
    } finally {
      await source.query("DROP TABLE people");
      await onTarget("DROP TABLE people");
    }
  });

  test("each column is hashed by its type's own hash function", async () => {
    const { listTables } = await import("../../../../dataplane/postgres/copy-catalog");
    const { withClient } = await import("../../../../dataplane/postgres/connection");
    const tables = await withClient(source.url(), listTables);
    const procs = Object.fromEntries(tables.find((t) => t.name === "accounts")!.columns.map((c) => [c.name, c.hashProc]));
    expect(procs).toEqual({
      // jsonb by its text: its numbers compare as numeric, so {"a": 1.0} and {"a": 1.00} hash alike.
      id: "hashint8extended", email: "hashtextextended", mood: undefined, profile: undefined,
      balance: "hash_numeric_extended", visits: "hashint4extended", created_at: undefined,
    });
    // timestamptz's hash function is declared on timestamp: an exact conversion, not text. bytea's takes `internal`,
    // an enum's hashes its label's OID (different on the target): both by text.
    const { rowHash } = await import("../../../../dataplane/postgres/verify/verify-sql");
    expect(rowHash(tables.find((t) => t.name === "accounts")!)).toContain(`timestamp_hash_extended("created_at" AT TIME ZONE 'UTC', 2)`);
    expect(rowHash(tables.find((t) => t.name === "orders")!)).toContain(`hashtextextended("receipt"::text COLLATE "C", 5)`);
    expect(rowHash(tables.find((t) => t.name === "accounts")!)).toContain(`hashtextextended("mood"::text COLLATE "C", 5)`);
  });

  test("values their type calls equal but that print differently are told apart, as a dump of both sides would", async () => {
    // Each pair is equal under the column type's own equality (and hash function); a text dump shows the difference.
    const lookalikes: [column: string, type: string, value: string, lookalike: string][] = [
      ["n", "numeric", "1.0", "1.00"],
      ["i", "interval", "1 day", "24 hours"],
      ["f", "float8", "0", "-0"],
      ["j", "jsonb", '{"a": 1.0}', '{"a": 1.00}'],
      ["c", "citext", "Ada", "ada"],
      ["t", "text COLLATE ci", "Ada", "ada"],
      ["b", "bpchar", "x", "x "],
      ["na", "numeric[]", "{1.0}", "{1.00}"],
      ["fa", "float8[]", "{0}", "{-0}"],
    ];
    const ddl = `CREATE EXTENSION IF NOT EXISTS citext;
      CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE lookalikes (id int PRIMARY KEY, ${lookalikes.map(([c, type]) => `${c} ${type}`).join(", ")})`;
    const insert = `INSERT INTO lookalikes VALUES (1, ${lookalikes.map((_, i) => `$${i + 1}`).join(", ")})`;
    const values = lookalikes.map(([, , value]) => value);
    for (const side of [source, target]) {
      await side.query(ddl);
      await side.query(insert, values);
    }
    try {
      expect((await verifyDatabases(opts)).ok).toBe(true);
      for (const [column, , value, lookalike] of lookalikes) {
        await onTarget(`UPDATE lookalikes SET ${column} = $1 WHERE id = 1`, [lookalike]);
        expect((await onTarget(`SELECT ${column} = $1::text::${column === "t" ? "text COLLATE ci" : `${lookalikes.find(([c]) => c === column)![1]}`} AS same FROM lookalikes`, [value]))[0].same, column).toBe(true);
        const report = await verifyDatabases(opts);
        expect(report.firstDifference, `${column}: ${value} vs ${lookalike}`).toBe("public.lookalikes: row with key 1 changed (1 rows on source, 1 on target)");
        await onTarget(`UPDATE lookalikes SET ${column} = $1 WHERE id = 1`, [value]);
      }
    } finally {
      await source.query("DROP TABLE lookalikes");
      await onTarget("DROP TABLE lookalikes");
    }
  });

  test("a full verify hashes big tables in slices of each side's own heap: rows elsewhere on the target's disk are equal, a changed one is named", async () => {
    // The target's rows go in in reverse key order, so its heap slices hold other keys than the source's.
    const create = "CREATE TABLE sliced (id bigint PRIMARY KEY, v text NOT NULL); CREATE TABLE dupes (v text)";
    const fill = (order: string) => `INSERT INTO sliced SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 3000) g ORDER BY g ${order};
      INSERT INTO dupes SELECT 'same' FROM generate_series(1, 3000)`;
    await source.query(`${create}; ${fill("ASC")}`);
    await onTarget(`${create}; ${fill("DESC")}`);
    // Slices of 8 blocks: each table is read in several ctid ranges on each side.
    const sliced: VerifyOptions = { ...opts, chunkRows: 500, sliceBytes: 8 * 8192 };
    try {
      const green = await verifyDatabases(sliced);
      expect(green.firstDifference).toBeUndefined();
      expect(green.tables.find((t) => t.table === "public.sliced")).toMatchObject({ ok: true, sourceRows: 3000, targetRows: 3000, chunks: 7 });
      expect(green.tables.find((t) => t.table === "public.dupes")).toMatchObject({ ok: true, sourceRows: 3000, targetRows: 3000 });

      await onTarget("UPDATE sliced SET v = v || 'x' WHERE id = 1777; DELETE FROM dupes WHERE ctid = (SELECT min(ctid) FROM dupes)");
      const red = await verifyDatabases(sliced);
      expect(red.tables.find((t) => t.table === "public.sliced")).toMatchObject({ ok: false, differingChunks: 1, firstDifference: { from: "1777", kind: "changed" } });
      // A keyless table's duplicate rows each count: one fewer copy of the same row differs.
      expect(red.tables.find((t) => t.table === "public.dupes")).toMatchObject({ ok: false, sourceRows: 3000, targetRows: 2999, firstDifference: { kind: "whole table" } });

      // Keys at both ends of bigint land in the open first and last ranges (no overflow computing their range).
      await onTarget("UPDATE sliced SET v = repeat(md5('1777'), 4) WHERE id = 1777; INSERT INTO dupes VALUES ('same')");
      await onTarget("INSERT INTO sliced VALUES (-9223372036854775808, 'low'), (9223372036854775807, 'high')");
      const ends = await verifyDatabases(sliced);
      expect(ends.tables.find((t) => t.table === "public.sliced")).toMatchObject({ ok: false, targetRows: 3002, differingChunks: 2, firstDifference: { from: "-9223372036854775808", kind: "extra on target" } });
      expect(ends.tables.find((t) => t.table === "public.dupes")!.ok).toBe(true);
    } finally {
      await source.query("DROP TABLE sliced, dupes");
      await onTarget("DROP TABLE sliced, dupes");
    }
  });

  test("each side slices its own heap: ctid ranges covering every block, the last open; whole below the slice size", () => {
    const table = { oid: 1, kind: "r", primaryKey: [], totalBytes: 0 } as unknown as TableInfo;
    const side = (bytes: number, canSplitByCtid = true) => ({ connection: async () => { throw new Error("unused"); }, jobs: 2, heapBytes: new Map([[1, bytes]]), blockSize: 8192, canSplitByCtid, sliceBytes: 4 * 8192 });
    const plan = { sliced: [{ table }], ranged: [], bundles: [] };
    expect(sideTasks(side(10 * 8192), plan).map((t) => ("where" in t ? t.where : "?"))).toEqual([
      "ctid < '(4,0)'::tid", "ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid", "ctid >= '(8,0)'::tid",
    ]);
    expect(sideTasks(side(3 * 8192), plan).map((t) => ("where" in t ? t.where : "?"))).toEqual([undefined]);
    // Before PostgreSQL 14 a ctid range is a filter over the whole table: one statement.
    expect(sideTasks(side(10 * 8192, false), plan)).toHaveLength(1);
  });

  test("sampled chunks are the first, the last and distinct others", () => {
    expect(sampleIndexes(1, 2)).toEqual([0]);
    expect(sampleIndexes(3, 5)).toEqual([0, 1, 2]);
    const s = sampleIndexes(100, 3);
    expect(s).toHaveLength(5);
    expect(s[0]).toBe(0);
    expect(s[4]).toBe(99);
  });
});
