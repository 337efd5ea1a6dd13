// `ferry pg status --require-cutover`, the gate before a source is backed up and released,
// after a logical cutover as on a box: refused while the move is still replicating, passed
// once the cutover finished, whether `ferry pg cutover` or `ferry cutover` (Postgres and
// Redis in one window, as the box's stage runs it) did it. The subscription the status
// once told the strategy by is gone after the cutover's detach: the gate must still find
// the logical cutover's record.
import { afterAll, describe, expect, test } from "vitest";
import { withClient } from "../../../dataplane/postgres/connection";
import { preflight } from "../../../dataplane/postgres/preflight";
import { replicateLogical } from "../../../dataplane/postgres/replication/logical";
import { closeClients, ferry as redisFerry } from "../redis/helpers";
import { replicatingStack, Stack } from "../cutover/helpers";
import { GRANT_APP, runFerry, useClusterPair } from "./helpers";

const GATE = ["--json", "pg", "status", "--require-cutover"];
const NOT_DONE = "ferry: refusing: the cutover is not done; the source still holds data the target lacks\n";
const WINDOW = ["--max-lag-bytes", "10485760", "--timeout", "30"];

describe("pg status --require-cutover after a logical cutover", () => {
  const pair = useClusterPair();
  const stacks: Stack[] = [];

  afterAll(async () => {
    closeClients();
    for (const s of stacks) await s.stop();
  });

  /** The gate's verdict: exit 1 with its one line before, exit 0 and a finished, fenced cutover after. */
  async function expectRefused(env: Record<string, string>): Promise<void> {
    const r = await runFerry(GATE, env);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stderr).toBe(NOT_DONE);
  }

  async function expectPassed(env: Record<string, string>): Promise<void> {
    const r = await runFerry(GATE, env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ strategy: "logical", phase: "cut over", cutover: { done: true, fenced: true } });
  }

  test("cut over by ferry pg cutover", async () => {
    const pg = await pair.seeded("percommand");
    const ready = await preflight({ sourceUrl: pg.src, targetUrl: pg.tgt, strategy: "logical", fixReplicaIdentity: true });
    expect(ready.ok).toBe(true);
    await replicateLogical({ sourceUrl: pg.src, targetUrl: pg.tgt, syncTimeoutMs: 30_000 });
    await withClient(pg.tgt, (c) => c.query(GRANT_APP));
    await expectRefused(pg.env);

    const cut = await runFerry(["--json", "pg", "cutover", "--strategy", "logical", ...WINDOW], pg.env);
    expect(cut.code, cut.stderr).toBe(0);
    expect(JSON.parse(cut.stdout).steps.map((s: { name: string }) => s.name)).toContain("detach");
    await expectPassed(pg.env);
  });

  test("cut over by ferry cutover, Postgres and Redis in one window", async () => {
    const s = await replicatingStack(pair.source, pair.target, "onewindow");
    stacks.push(s);
    await expectRefused(s.env);
    expect((await redisFerry(["--json", "redis", "status", "--require-cutover"], s.env)).code).toBe(1);

    const cut = await runFerry(["--json", "cutover", "--strategy", "logical", "--strategy", "replicaof", ...WINDOW], s.env);
    expect(cut.code, cut.stderr).toBe(0);
    expect(JSON.parse(cut.stdout)).toMatchObject({ ok: true, postgres: { strategy: "logical" }, redis: { mode: "replicaof" } });
    await expectPassed(s.env);
    const redisGate = await redisFerry(["--json", "redis", "status", "--require-cutover"], s.env);
    expect(redisGate.code, redisGate.stderr).toBe(0);
  });
});
