// A verify that differs after the point of no return has a way forward (issue 23, item 7):
// ferry repairs the target from the fenced source and says so, then verifies again.
// - after a finished cutover, `ferry pg verify` (the Pulumi stage's step before the app
//   moves) copies the differing rows, sequences and privileges again from the still fenced
//   source; once a verify passed (the app may write from then on) it never repairs again;
//   a source no longer fenced is not the truth and is not copied from;
// - inside the cutover, a fast verify that differs after the subscription was dropped is
//   repaired before the target is released.
// Every difference is real: rows changed, deleted and added on the target behind ferry's back.
import { describe, expect, test } from "vitest";
import { cutover } from "../../../../dataplane/postgres/cutover/cutover";
import { unfence, withWritable } from "../../../../dataplane/postgres/cutover/fence";
import { preflight } from "../../../../dataplane/postgres/preflight";
import { replicateLogical } from "../../../../dataplane/postgres/replication/logical";
import { verifyDatabases } from "../../../../dataplane/postgres/verify/verify";
import { withClient } from "../../../../dataplane/postgres/connection";
import { loadCutover } from "../../../../dataplane/postgres/state";
import { canWrite, runFerry, useClusterPair } from "../helpers";

/** Damage behind ferry's back: a changed row, a lost row, an extra row, a stale sequence, a revoked grant. */
const DAMAGE = `
  UPDATE accounts SET balance = balance + 1000 WHERE id = 37;
  DELETE FROM invoices WHERE no = (SELECT min(no) FROM invoices);
  INSERT INTO audit_log (actor, token) VALUES ('ghost', 'not-on-source');
  SELECT setval('invoice_numbers', 1);
  REVOKE INSERT ON accounts FROM app;`;

describe("repairing a target that differs from its fenced source", () => {
  const clusters = useClusterPair();

  test("after the cutover: ferry pg verify repairs from the fenced source, once, and says so", async () => {
    const pair = await clusters.seeded("after");
    const done = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "dump", jobs: 2 });
    expect(done.error).toBeUndefined();
    await withClient(pair.tgt, (c) => c.query(DAMAGE));

    const asked = await runFerry(["pg", "verify", "--no-repair"], pair.env);
    expect(asked.code).toBe(1);
    expect(asked.stdout).toMatch(/^different: public\.accounts: a row changed \(key hash [0-9a-f]{12}, in key range 1 of 1; 100 rows on source, 100 on target\) \(not repaired: --no-repair\)$/m);

    const repaired = await runFerry(["pg", "verify"], pair.env);
    expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
    expect(repaired.stdout).toContain("repaired public.accounts: 1 key range(s) copied again from the fenced source (100 rows)");
    expect(repaired.stdout).toContain("repaired public.audit_log: copied again whole from the fenced source (100 rows)");
    expect(repaired.stdout).toMatch(/repaired public\.invoices: 1 key range\(s\) copied again/);
    expect(repaired.stdout).toMatch(/repaired \d+ sequence\(s\) set again from the source/);
    expect(repaired.stdout).toContain("repaired privileges: 1 grant(s) and revoke(s) applied as on the source");
    expect(repaired.stdout).toMatch(/^identical \(\d+ ms\)$/m);
    expect((await verifyDatabases({ sourceUrl: pair.src, targetUrl: pair.tgt })).ok).toBe(true);
    expect(await canWrite(pair.appTgt)).toBe(true); // app's INSERT grant is back
    expect(await withClient(pair.tgt, (c) => loadCutover(c, "dump"))).toMatchObject({ done: true, verified: true });

    // Once a verify passed, the app may have written the target: a difference is reported, not overwritten.
    await withClient(pair.tgt, (c) => c.query("UPDATE accounts SET balance = 0 WHERE id = 38"));
    const after = await runFerry(["--json", "pg", "verify"], pair.env);
    expect(after.code).toBe(1);
    expect(JSON.parse(after.stdout)).toMatchObject({ ok: false, notRepaired: "a verify already passed after this cutover, so the app may have written the target since: ferry does not overwrite it" });
    expect(JSON.parse(after.stdout).repaired).toBeUndefined();
  }, 180000);

  test("a source that is no longer fenced is not copied from", async () => {
    const pair = await clusters.seeded("unfenced");
    expect((await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "dump", jobs: 2 })).ok).toBe(true);
    await withWritable(pair.src, (c) => unfence(c));
    await withClient(pair.tgt, (c) => c.query("UPDATE accounts SET balance = 0 WHERE id = 5"));
    const r = await runFerry(["--json", "pg", "verify"], pair.env);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).notRepaired).toBe("the source is no longer fenced and may have taken writes since the cutover: it is not the truth any more");
  }, 180000);

  test("inside the cutover: a fast verify that differs after the detach is repaired before the target is released", async () => {
    const pair = await clusters.seeded("inwindow");
    expect((await preflight({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", fixReplicaIdentity: true })).ok).toBe(true);
    await replicateLogical({ sourceUrl: pair.src, targetUrl: pair.tgt, syncTimeoutMs: 30_000 });
    // Written on the target while it replicates: replication never touches these rows again.
    await withClient(pair.tgt, (c) => c.query("UPDATE accounts SET balance = balance + 1000 WHERE id = 37; DELETE FROM invoices WHERE no = (SELECT max(no) FROM invoices)"));

    const r = await cutover({ sourceUrl: pair.src, targetUrl: pair.tgt, strategy: "logical", timeoutSeconds: 30, maxLagBytes: 10 * 1024 * 1024 });
    expect(r.error).toBeUndefined();
    expect(r.steps.map((s) => s.name)).toEqual(["gate", "fence", "drain", "sequences", "detach", "verify", "done"]);
    expect(r.verify?.repaired).toEqual(expect.arrayContaining([
      expect.stringMatching(/^public\.accounts: 1 key range\(s\) copied again from the fenced source/),
      expect.stringMatching(/^public\.invoices: 1 key range\(s\) copied again from the fenced source/),
    ]));
    expect(r.steps.find((s) => s.name === "verify")?.detail).toMatch(/^fast verify green after repairing from the fenced source: /);
    const full = await verifyDatabases({ sourceUrl: pair.src, targetUrl: pair.tgt });
    expect(full.ok, full.firstDifference).toBe(true);
  }, 180000);
});
