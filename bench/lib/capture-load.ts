// The capture bench's write load: single-row INSERT, UPDATE and DELETE statements in
// autocommit at a steady rate, each writer on its own connection, timing every write and
// remembering what each acknowledged write left behind, so that afterwards every one of
// them can be looked up on the target.
//
// Each writer owns the seeded rows whose key falls in its residue class and the rows it
// inserted itself, so no two writers touch a row and a writer's own order is the row's
// history. An UPDATE writes a `rev` from one increasing counter: the target must hold at
// least the last acknowledged one. A DELETE that failed may still have committed, so the
// row it aimed at is no longer checked; every other failure leaves the checks as they are.
import { Client } from "pg";
import { withClient } from "../../dataplane/postgres/connection";
import { LINES_PER_ORDER, LOAD_LINE_NO, SeededRows } from "./capture-data";

/** Residue classes of seeded keys; writers (steady and burst) take distinct ones. */
const PARTITIONS = 64;

type Expectation = { present: true; rev: number } | { present: false };

export interface LatencyWindow {
  writes: number;
  p50: number;
  p99: number;
}

export interface LoadOptions {
  /** Writes per second over all writers. */
  rate: number;
  writers: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** An UPDATE or DELETE of a row the writer owns finds it, or the load itself is wrong. */
function one(result: { rowCount: number | null }, table: string, key: string): void {
  if (result.rowCount !== 1) throw new Error(`the load's own row ${table} ${key} is not on the source (${result.rowCount} rows matched)`);
}

/** The acknowledged writes and what each left behind, keyed by table and key. */
export class AckedWrites {
  readonly expected = new Map<string, Map<string, Expectation>>();
  acknowledged = 0;
  failures = 0;
  lastError?: string;

  expect(table: string, key: string, e: Expectation): void {
    if (!this.expected.has(table)) this.expected.set(table, new Map());
    this.expected.get(table)!.set(key, e);
    this.acknowledged++;
  }

  forget(table: string, key: string): void {
    this.expected.get(table)?.delete(key);
  }
}

/** One writer: its residue class, its own inserted rows, and one connection. */
class Writer {
  private client?: Client;
  private step: number;
  private lineNo = LOAD_LINE_NO;
  private readonly ownEvents: string[] = [];
  private readonly ownLines: string[] = [];
  private readonly ownAccounts: string[] = [];

  constructor(private readonly index: number, private readonly load: CaptureLoad) {
    this.step = index;
  }

  /** A seeded key of `table` in this writer's class (keys start at 1). */
  private owned(n: number): number {
    const slots = Math.max(1, Math.floor((n - 1 - this.index) / PARTITIONS) + 1);
    return 1 + this.index + PARTITIONS * Math.floor(Math.random() * slots);
  }

  async write(): Promise<void> {
    const { acked, rows } = this.load;
    const kind = this.step++ % 10;
    let deleting: { table: string; key: string } | undefined;
    try {
      if (!this.client) {
        this.client = new Client({ connectionString: this.load.url(), application_name: "ferry-bench-load" });
        this.client.on("error", () => undefined);
        await this.client.connect();
      }
      const c = this.client;
      const rev = this.load.nextRev();
      switch (kind) {
        case 0:
        case 4: {
          if (kind === 4 && this.ownEvents.length) {
            const id = this.ownEvents.shift()!;
            deleting = { table: "events", key: id };
            one(await c.query("DELETE FROM events WHERE id = $1", [id]), "events", id);
            acked.expect("events", id, { present: false });
            break;
          }
          const account = this.ownAccounts.at(-1) ?? String(this.owned(rows.accounts));
          const r = await c.query<{ id: string }>("INSERT INTO events (account_id, kind, body, payload) VALUES ($1, 1, $2, $3) RETURNING id",
            [account, `load ${rev}`, JSON.stringify({ rev })]);
          this.ownEvents.push(r.rows[0].id);
          acked.expect("events", r.rows[0].id, { present: true, rev: 0 });
          break;
        }
        case 1:
        case 9: {
          const id = String(this.owned(rows.accounts));
          one(await c.query("UPDATE accounts SET rev = $2, balance = balance + 1, updated_at = now() WHERE id = $1", [id, rev]), "accounts", id);
          acked.expect("accounts", id, { present: true, rev });
          break;
        }
        case 2:
        case 7: {
          if (kind === 7 && this.ownLines.length) {
            const key = this.ownLines.shift()!;
            const [order, line] = key.split(",");
            deleting = { table: "line_items", key };
            one(await c.query("DELETE FROM line_items WHERE order_id = $1 AND line_no = $2", [order, line]), "line_items", key);
            acked.expect("line_items", key, { present: false });
            break;
          }
          const order = this.owned(rows.orders);
          const line = this.lineNo++;
          await c.query("INSERT INTO line_items (order_id, line_no, sku, qty, price) VALUES ($1, $2, 'SKU-LOAD', 1, 9.99)", [order, line]);
          this.ownLines.push(`${order},${line}`);
          acked.expect("line_items", `${order},${line}`, { present: true, rev: 0 });
          break;
        }
        case 3: {
          const id = String(this.owned(rows.orders));
          one(await c.query("UPDATE orders SET rev = $2, status = 'paid' WHERE id = $1", [id, rev]), "orders", id);
          acked.expect("orders", id, { present: true, rev });
          break;
        }
        case 5: {
          const r = await c.query<{ id: string }>("INSERT INTO orders (account_id, status, total) VALUES ($1, 'new', 19.99) RETURNING id", [this.owned(rows.accounts)]);
          acked.expect("orders", r.rows[0].id, { present: true, rev: 0 });
          break;
        }
        case 6: {
          const key = `${this.owned(rows.orders)},${1 + (rev % LINES_PER_ORDER)}`;
          const [order, line] = key.split(",");
          one(await c.query("UPDATE line_items SET rev = $3, qty = qty + 1 WHERE order_id = $1 AND line_no = $2", [order, line, rev]), "line_items", key);
          acked.expect("line_items", key, { present: true, rev });
          break;
        }
        default: {
          const r = await c.query<{ id: string }>(
            "INSERT INTO accounts (email, name, plan, balance, settings) VALUES ($1, 'Load', 'free', 0, '{}') RETURNING id",
            [`load-${this.load.runId}-${this.index}-${rev}@load.test`]);
          this.ownAccounts.push(r.rows[0].id);
          acked.expect("accounts", r.rows[0].id, { present: true, rev: 0 });
        }
      }
    } catch (err) {
      acked.failures++;
      acked.lastError = (err as Error).message;
      if (deleting) acked.forget(deleting.table, deleting.key);
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}

/**
 * The load on one source: steady writers at `rate`, a burst on demand, and windows
 * in which every write's latency is recorded.
 */
export class CaptureLoad {
  readonly acked = new AckedWrites();
  private rev = 0;
  private running = false;
  private steady: Promise<void>[] = [];
  private window?: number[];
  private writers = 0;

  constructor(private readonly sourceUrl: string, readonly rows: SeededRows, readonly runId: string) {}

  url(): string {
    return this.sourceUrl;
  }

  nextRev(): number {
    return ++this.rev;
  }

  /** Steady writers, each paced to its share of `rate`. */
  start(opts: LoadOptions): void {
    this.running = true;
    const interval = (1000 * opts.writers) / opts.rate;
    this.steady = Array.from({ length: opts.writers }, () => this.paced(new Writer(this.writers++, this), interval));
  }

  private async paced(writer: Writer, intervalMs: number): Promise<void> {
    let next = performance.now() + Math.random() * intervalMs;
    while (this.running) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      // Behind (a slow write, a fenced source): carry on at the rate, without a burst to catch up.
      next = Math.max(next + intervalMs, performance.now());
      const t0 = performance.now();
      try {
        await writer.write();
        this.window?.push(performance.now() - t0);
      } catch {
        await sleep(10);
      }
    }
    await writer.close();
  }

  /** Record every steady write's latency for `ms`. */
  async measureLatency(ms: number): Promise<LatencyWindow> {
    this.window = [];
    await sleep(ms);
    const sorted = this.window.sort((a, b) => a - b);
    this.window = undefined;
    return { writes: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  }

  /** `n` writes back to back on `connections` extra writers; acknowledged ones are recorded like the rest. */
  async burst(n: number, connections: number): Promise<number> {
    if (this.writers + connections > PARTITIONS) throw new Error(`at most ${PARTITIONS} writers, asked for ${this.writers + connections}`);
    let left = n;
    let done = 0;
    await Promise.all(Array.from({ length: connections }, async () => {
      const writer = new Writer(this.writers++, this);
      while (left > 0) {
        left--;
        try {
          await writer.write();
          done++;
        } catch (err) {
          await writer.close();
          throw err;
        }
      }
      await writer.close();
    }));
    return done;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.steady);
  }
}

/** Acknowledged writes the target does not show: a row missing, present after its delete, or an older rev. */
export async function lostWrites(targetUrl: string, acked: AckedWrites): Promise<string[]> {
  return withClient(targetUrl, async (c) => {
    const lost: string[] = [];
    for (const [table, expected] of acked.expected) {
      const keys = [...expected.keys()];
      const found = new Map<string, number>();
      const sql = table === "line_items"
        ? "SELECT order_id || ',' || line_no AS k, rev FROM line_items WHERE (order_id, line_no) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))"
        : table === "events"
          ? "SELECT id::text AS k, 0 AS rev FROM events WHERE id = ANY($1::bigint[])"
          : `SELECT id::text AS k, rev FROM ${table} WHERE id = ANY($1::bigint[])`;
      const params = table === "line_items" ? [keys.map((k) => k.split(",")[0]), keys.map((k) => k.split(",")[1])] : [keys];
      for (const r of (await c.query<{ k: string; rev: string }>(sql, params)).rows) found.set(r.k, Number(r.rev));
      for (const [key, e] of expected) {
        const rev = found.get(key);
        if (e.present && rev === undefined) lost.push(`${table} ${key}: missing`);
        else if (e.present && rev! < e.rev) lost.push(`${table} ${key}: rev ${rev}, acknowledged ${e.rev}`);
        else if (!e.present && rev !== undefined) lost.push(`${table} ${key}: deleted, still there`);
      }
    }
    return lost;
  });
}
