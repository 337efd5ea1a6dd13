// The capture cutover's in-window verify compares only the rows changed since the full
// verify before the fence (capture/verify-changed.ts). It must still refuse to release a
// target on which a row differs: here the target breaks every row ferry applies once the
// full verify has begun, so the difference appears after it, and only the window's verify
// can see it.
import { Client } from "pg";
import { describe, expect, it } from "vitest";
import { withClient } from "../../../../dataplane/postgres/connection";
import { canWrite, runFerry } from "../helpers";
import { allRows, mixedWrite, ownedPair, useHerokuLikePair } from "./fixtures";

const clusters = useHerokuLikePair();

const cutoverArgs = ["--json", "pg", "cutover", "--strategy", "capture", "--provider-superusers", "--timeout", "30"];

/**
 * On the target: every accounts row written once ferry's verify session is connected gets
 * 1000 more balance. ENABLE ALWAYS: it fires under session_replication_role = replica too,
 * that is for ferry's apply and for its repair. "ferry-verify" is the application_name of
 * the verify's sessions; before the full verify none is connected to the target.
 */
const BREAK_LATE_ROWS = `
CREATE FUNCTION break_late_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'ferry-verify' AND datname = current_database()) THEN
    NEW.balance := NEW.balance + 1000;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER break_late_rows BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION break_late_rows();
ALTER TABLE accounts ENABLE ALWAYS TRIGGER break_late_rows`;

/** The app writing on the source until stopped (the fence ends its session: it stops then). */
function keepWriting(url: string): { stop: () => Promise<number> } {
  let running = true;
  let written = 0;
  const done = (async () => {
    const c = new Client({ connectionString: url });
    c.on("error", () => undefined);
    await c.connect();
    try {
      while (running) {
        await mixedWrite(c, 1000 + written);
        written++;
      }
    } catch {
      // Fenced: the session was ended, or the role is read-only.
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return { stop: async () => ((running = false), await done, written) };
}

describe("capture cutover's in-window verify", () => {
  it("a row that differs only after the full verify before the fence is seen in the window: the target is not released; the rollback gives the source back; the retry repairs it", async () => {
    const { src, tgt, app, env } = await ownedPair(clusters.source, clusters.target, "vc_a", 300);
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    await withClient(tgt, (c) => c.query(BREAK_LATE_ROWS));

    const writer = keepWriting(app);
    const run = await runFerry(cutoverArgs, env);
    const written = await writer.stop();
    expect(written, "the app wrote during the cutover").toBeGreaterThan(0);
    expect(run.code, run.stdout).not.toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.steps[0].detail).toMatch(/before the fence: full verify \d+ ms/);
    expect(r).toMatchObject({ ok: false, verify: { ok: false } });
    expect(r.verify.firstDifference).toMatch(/public\.accounts: row with key \{"id": \d+\} changed/);
    expect(r.error).toMatch(/^verify failed after cutover: .*the target is not released/);
    expect(r.steps.map((s: { name: string }) => s.name)).not.toContain("done");
    expect(await canWrite(app), "the source stays fenced until the rollback").toBe(false);

    const back = await runFerry(["pg", "rollback", "--strategy", "capture"], env);
    expect(back.code, back.stderr).toBe(0);
    expect(await canWrite(app), "the rollback gave the source back").toBe(true);

    // The trigger gone, the retry's full verify finds the broken rows and the window repairs them.
    await withClient(tgt, (c) => c.query("DROP TRIGGER break_late_rows ON accounts; DROP FUNCTION break_late_rows()"));
    const retry = await runFerry(cutoverArgs, env);
    expect(retry.code, retry.stderr + retry.stdout).toBe(0);
    const again = JSON.parse(retry.stdout);
    expect(again.steps.find((s: { name: string }) => s.name === "verify").detail).toMatch(/^changed rows differed \(public\.accounts: row with key .*\); repaired from the fenced source: public\.accounts: \d+ key range\(s\) copied again/);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 180_000);

  it("with nothing broken, the window compares the keys the drain wrote, and the rows are equal", async () => {
    const { src, tgt, app, env } = await ownedPair(clusters.source, clusters.target, "vc_b", 300);
    expect((await runFerry(["pg", "replicate", "--strategy", "capture", "--until-caught-up"], env)).code).toBe(0);
    const writer = keepWriting(app);
    const run = await runFerry(cutoverArgs, env);
    await writer.stop();
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const verify = JSON.parse(run.stdout).steps.find((s: { name: string }) => s.name === "verify");
    expect(verify.detail).toMatch(/^changed rows equal: \d+ key\(s\), \d+ whole table\(s\), \d+ sequence\(s\), \d+ small table count\(s\) equal$/);
    expect(await allRows(tgt)).toEqual(await allRows(src));
  }, 180_000);
});
