import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startPostgres, LocalPostgres } from "../../../../rehearsal/servers";
import { copyByDump, DumpProgress } from "../../../../dataplane/postgres/copy/dump";
import { verifyDatabases } from "../../../../dataplane/postgres/verify/verify";
import { copyInSql, copyOutSql, ctidRanges, planChunks } from "../../../../dataplane/postgres/copy/copy-plan";
import { Column, TableInfo } from "../../../../dataplane/postgres/copy-catalog";
import { onlyEntries, withoutBuilt } from "../../../../dataplane/postgres/copy/copy-indexes";
import { alterDatabaseSetting, settingsToCopy, splitSettingList } from "../../../../dataplane/postgres/copy/copy-schema";
import { furthestState } from "../../../../dataplane/postgres/sequences";
import { insertWithoutIds, REPLICATION_ROLE, startSource } from "../fixtures";

let source: LocalPostgres;

/** count + order-independent hash of every table: proof the source was not written to. */
async function fingerprint(pg: LocalPostgres): Promise<string> {
  const tables = await pg.query<{ t: string }>(
    "SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables ORDER BY 1",
  );
  const parts: string[] = [];
  for (const { t } of tables) {
    const [r] = await pg.query<{ n: string; h: string }>(`SELECT count(*) AS n, coalesce(sum(hashtext(x::text)), 0) AS h FROM ONLY ${t} x`);
    parts.push(`${t}:${r.n}:${r.h}`);
  }
  return parts.join(" ");
}

beforeAll(async () => {
  source = await startSource(1500);
  // Beyond the fixture: a composite type and an array of enums (copied as text, not binary: their binary forms
  // carry type OIDs) and a type without a hash function (hashed as text).
  await source.query(`
    CREATE TYPE pair AS (a int, b text);
    CREATE TABLE shapes (id int PRIMARY KEY, p pair, at point);
    INSERT INTO shapes SELECT g, ROW(g, 'n' || g)::pair, point(g, -g) FROM generate_series(1, 50) g;
    CREATE TABLE mood_history (id int PRIMARY KEY, moods mood[] NOT NULL);
    INSERT INTO mood_history SELECT g, ARRAY['happy', 'grumpy']::mood[] FROM generate_series(1, 50) g;
    ANALYZE mood_history;
    ANALYZE shapes;`);
});

afterAll(async () => {
  await source?.stop();
});

describe("copyByDump", () => {
  test("copies the fixture from one snapshot, in ctid-range parts, and verify finds it equal", async () => {
    const target = await startPostgres();
    try {
      // Types created on the target first give the copied types other OIDs than on the source, as on any real target.
      await target.query("CREATE TYPE public.oid_shift AS ENUM ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h')");
      // The source's roles exist on the target, as an operator creates them on RDS: the
      // copy grants them what they hold on the source (a missing one is a warning naming it).
      await target.query(`CREATE ROLE app; CREATE ROLE worker; CREATE ROLE reporting; CREATE ROLE ${REPLICATION_ROLE}`);
      const progress: DumpProgress[] = [];
      let late: Promise<unknown> | undefined;
      const result = await copyByDump({
        sourceUrl: source.url(),
        targetUrl: target.url(),
        jobs: 3,
        splitBytes: 16 * 1024, // a few blocks: every fixture table is cut into parts
        onProgress: (p) => {
          progress.push(p);
          // Committed after the snapshot was exported: must not reach the target.
          late ??= source.query("INSERT INTO accounts (email) VALUES ('late@after-snapshot.test'); UPDATE accounts SET visits = -1 WHERE id = 1");
        },
      });
      await late;
      expect(result.tables).toBe(9); // accounts, orders, 3 event partitions, audit_log, invoices, shapes, mood_history
      expect(result.rows).toBe(1500 * 5 + 50 + 50);
      expect(result.bytes).toBeGreaterThan(0);
      expect(result.phases.map((p) => p.name)).toEqual(["check target", "snapshot", "dump schema", "pre-data", "data", "indexes", "post-data", "sequences", "privileges", "analyze", "database settings"]);
      expect(result.warnings).toEqual([]);
      // Keys and indexes of the plain tables (not the partitions) were built while other tables copied.
      expect(result.indexesBuiltEarly).toBe(7);
      const last = progress[progress.length - 1];
      expect(last).toEqual({ tablesDone: 9, tablesTotal: 9, bytesDone: last.bytesTotal, bytesTotal: last.bytesTotal });
      expect(progress.length).toBeGreaterThan(2);

      expect(await target.query("SELECT 1 FROM accounts WHERE email = 'late@after-snapshot.test'")).toEqual([]);
      expect(await target.query("SELECT visits FROM accounts WHERE id = 1")).toEqual([{ visits: 1 }]);
      // Generated column computed by the target, constraints and indexes built after the rows.
      expect(await target.query("SELECT count(*)::int AS n FROM orders WHERE total <> qty * unit_price OR total IS NULL")).toEqual([{ n: 0 }]);
      const constraints = await target.query<{ conname: string }>("SELECT conname FROM pg_constraint WHERE conrelid = 'orders'::regclass ORDER BY 1");
      expect(constraints.map((c) => c.conname)).toEqual(["orders_account_id_fkey", "orders_pkey"]);
      expect(await target.query("SELECT 1 FROM pg_indexes WHERE indexname = 'orders_account_idx'")).toHaveLength(1);
      const keys = await target.query("SELECT conname, contype, conindid::regclass::text AS idx FROM pg_constraint WHERE conrelid = 'accounts'::regclass ORDER BY 1");
      expect(keys).toEqual([
        { conname: "accounts_email_key", contype: "u", idx: "accounts_email_key" },
        { conname: "accounts_pkey", contype: "p", idx: "accounts_pkey" },
      ]);
      expect(await target.query("SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'public'")).toEqual(
        await source.query("SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'public'"),
      );
      // Sequences were set: inserts without ids do not collide.
      await insertWithoutIds(target.url(), "after-copy");
      await target.query("DELETE FROM orders WHERE account_id IN (SELECT id FROM accounts WHERE email = 'after-copy@after.test'); DELETE FROM invoices WHERE account_id IN (SELECT id FROM accounts WHERE email = 'after-copy@after.test'); DELETE FROM accounts WHERE email = 'after-copy@after.test'; DELETE FROM events WHERE kind = 'after-copy'; DELETE FROM audit_log WHERE token = 'after-copy'");

      // Undo the late writes on the source; then both sides must match exactly.
      await source.query("DELETE FROM accounts WHERE email = 'late@after-snapshot.test'; UPDATE accounts SET visits = 1 WHERE id = 1");
      const report = await verifyDatabases({ sourceUrl: source.url(), targetUrl: target.url(), jobs: 2, chunkRows: 500 });
      expect(report.tables.filter((t) => !t.ok)).toEqual([]);
      expect(report.sequences.every((s) => s.ok)).toBe(true);
    } finally {
      await target.stop();
    }
  });

  test("refuses a target that has tables, leaving source and target untouched", async () => {
    const target = await startPostgres();
    try {
      await target.query("CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (42)");
      const before = await fingerprint(source);
      await expect(copyByDump({ sourceUrl: source.url(), targetUrl: target.url() })).rejects.toThrow(
        /^target 127\.0\.0\.1:\d+\/postgres is not empty: it has 1 user relation\(s\) \(public\.keep_me\); the dump copy needs an empty database$/,
      );
      expect(await fingerprint(source)).toBe(before);
      expect(await target.query("SELECT id FROM keep_me")).toEqual([{ id: 42 }]);
      expect(await target.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 1 }]);
    } finally {
      await target.stop();
    }
  });

  test("large objects: refused by default, skipped with a warning on request", async () => {
    const [src, target] = await Promise.all([startPostgres(), startPostgres()]);
    try {
      await src.query("CREATE TABLE docs (id int PRIMARY KEY, blob oid); INSERT INTO docs VALUES (1, lo_from_bytea(0, 'hello'))");
      await expect(copyByDump({ sourceUrl: src.url(), targetUrl: target.url() })).rejects.toThrow(/has 1 large object\(s\) \(pg_largeobject\), which ferry does not copy/);
      expect(await target.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);
      const result = await copyByDump({ sourceUrl: src.url(), targetUrl: target.url(), largeObjects: "skip" });
      expect(result.warnings).toEqual([expect.stringMatching(/1 large object\(s\).*: skipped$/)]);
      expect(await target.query("SELECT id FROM docs")).toEqual([{ id: 1 }]);
    } finally {
      await Promise.all([src.stop(), target.stop()]);
    }
  });
});

describe("withoutBuilt", () => {
  test("drops the early-built index and constraint entries by OID, keeps the rest", () => {
    const list = [
      ";",
      "; Selected TOC Entries:",
      "3300; 2606 16500 CONSTRAINT public accounts accounts_pkey postgres",
      "3301; 1259 16502 INDEX public orders_account_idx postgres",
      "3302; 1259 16503 INDEX public other_idx postgres",
      "3303; 2606 16504 FK CONSTRAINT public orders orders_account_id_fkey postgres",
    ].join("\n");
    const built = [{ indexOid: 16499, constraintOid: 16500 }, { indexOid: 16502 }];
    expect(withoutBuilt(list, built).split("\n")).toEqual([";", "; Selected TOC Entries:", "3302; 1259 16503 INDEX public other_idx postgres", "3303; 2606 16504 FK CONSTRAINT public orders orders_account_id_fkey postgres"]);
    expect(onlyEntries(list, built).split("\n")).toEqual([
      ";",
      "; Selected TOC Entries:",
      "3300; 2606 16500 CONSTRAINT public accounts accounts_pkey postgres",
      "3301; 1259 16502 INDEX public orders_account_idx postgres",
    ]);
  });
});

describe("planChunks", () => {
  const col = (name: string, extra: Partial<Column> = {}): Column => ({ name, type: "integer", generated: false, binarySafe: true, hashProc: "hashint4extended", ...extra });
  const table = (name: string, heapBytes: number, extra: Partial<TableInfo> = {}): TableInfo => ({
    oid: heapBytes + name.length, schema: "public", name, kind: "r", isPartition: false, heapBytes, totalBytes: heapBytes, estimatedRows: 0,
    columns: [col("id"), col("total", { generated: true })], primaryKey: [], ...extra,
  });
  const opts = { splitBytes: 100 * 8192, maxPartsPerTable: 8, blockSize: 8192, canSplitByCtid: true, sameMajorVersion: true };

  test("splits big tables into ctid ranges, biggest jobs first, skips partitioned roots and generated columns", () => {
    const chunks = planChunks([table("small", 8192 * 10), table("big", 8192 * 1000), table("root", 0, { kind: "p" })], opts);
    expect(chunks.map((c) => `${c.table.name}:${c.part + 1}/${c.parts}`)).toEqual([...Array.from({ length: 8 }, (_, i) => `big:${i + 1}/8`), "small:1/1"]);
    expect(chunks.every((c) => c.columns.map((x) => x.name).join() === "id")).toBe(true);
    expect(copyOutSql(chunks[8])).toBe('COPY (SELECT "id" FROM ONLY "public"."small") TO STDOUT (FORMAT binary)');
    expect(copyInSql(chunks[8])).toBe('COPY "public"."small" ("id") FROM STDIN (FORMAT binary, FREEZE)');
    expect(copyOutSql(chunks[0])).toBe(`COPY (SELECT "id" FROM ONLY "public"."big" WHERE ctid < '(125,0)'::tid) TO STDOUT (FORMAT binary)`);
    expect(copyInSql(chunks[0])).toBe('COPY "public"."big" ("id") FROM STDIN (FORMAT binary)');
  });

  test("text COPY across major versions or for a type without a portable binary form; no split before PostgreSQL 14", () => {
    expect(planChunks([table("t", 8192)], { ...opts, sameMajorVersion: false })[0].binary).toBe(false);
    expect(planChunks([table("t", 8192, { columns: [col("p", { binarySafe: false })] })], opts)[0].binary).toBe(false);
    expect(planChunks([table("big", 8192 * 1000)], { ...opts, canSplitByCtid: false })).toHaveLength(1);
  });
});

describe("ctidRanges", () => {
  test("cover every block, open at both ends", () => {
    expect(ctidRanges(10, 1)).toEqual([""]);
    expect(ctidRanges(10, 3)).toEqual([
      "ctid < '(4,0)'::tid",
      "ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid",
      "ctid >= '(8,0)'::tid",
    ]);
  });
});

describe("database settings", () => {
  test("a list setting is split as the server stores it, each element a literal (as pg_dump writes it)", () => {
    expect(splitSettingList('"$user", public')).toEqual(["$user", "public"]);
    expect(splitSettingList('public,lib ,  "My ""odd"", schema"')).toEqual(["public", "lib", 'My "odd", schema']);
    expect(splitSettingList("")).toEqual([]);
    expect(alterDatabaseSetting("app db", 'search_path="$user", public, "it\'s"')).toBe(
      `ALTER DATABASE "app db" SET "search_path" TO '$user', 'public', 'it''s'`,
    );
  });

  test("the cutover's fence (ferry.fence, default_transaction_read_only) stays on the source", () => {
    expect(settingsToCopy(["search_path=public, lib", "default_transaction_read_only=on", 'ferry.fence={"roles":[]}', "app.mode=x"])).toEqual([
      "search_path=public, lib",
      "app.mode=x",
    ]);
  });

  test("any other setting is one literal, commas and all", () => {
    expect(alterDatabaseSetting("app", "statement_timeout=5s")).toBe(`ALTER DATABASE "app" SET "statement_timeout" TO '5s'`);
    expect(alterDatabaseSetting("app", "app.tags=a, b")).toBe(`ALTER DATABASE "app" SET "app.tags" TO 'a, b'`);
  });
});

describe("furthestState", () => {
  const s = (value: bigint, isCalled: boolean) => ({ value, isCalled });

  test("keeps a source moved but never called (next value 500) over a target at its start", () => {
    expect(furthestState([s(500n, false), s(10n, false)], 1n)).toEqual(s(500n, false));
  });

  test("a column max past the source wins; equal next values keep the source's state", () => {
    expect(furthestState([s(200n, true), s(1n, false), s(150000n, true)], 1n)).toEqual(s(150000n, true));
    expect(furthestState([s(500n, false), s(499n, true)], 1n)).toEqual(s(500n, false));
  });

  test("descending sequences go down", () => {
    expect(furthestState([s(-3n, true), s(-1n, false)], -1n)).toEqual(s(-3n, true));
    expect(furthestState([s(-3n, true), s(-10n, false)], -1n)).toEqual(s(-10n, false));
  });
});
