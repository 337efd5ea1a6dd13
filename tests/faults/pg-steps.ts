// Steps the PostgreSQL fault tests share: a source with the test schema replicating
// logically into a target, and waiting until `ferry pg verify` agrees the two match.
import { withClient } from "../../dataplane/postgres/connection";
import { replicateLogical } from "../../dataplane/postgres/replication/logical";
import { LocalPostgres, startPostgres, waitFor } from "../../rehearsal/servers";
import { ROLE_PASSWORD, startSource } from "../dataplane/postgres/fixtures";
import { FerryRun, asRole, runFerry } from "../dataplane/postgres/helpers";

export interface ReplicatingPair {
  source: LocalPostgres;
  target: LocalPostgres;
  /** The app's login on each side. */
  appSource: string;
  appTarget: string;
  env: { FERRY_SOURCE_URL: string; FERRY_TARGET_URL: string };
}

/** Source and target clusters, logical replication running. `subscribeVia` is the URL the subscription dials. */
export async function replicatingPair(subscribeVia?: (source: LocalPostgres) => Promise<string>): Promise<ReplicatingPair> {
  const [source, target] = await Promise.all([startSource(200), startPostgres()]);
  await target.query(`CREATE ROLE app LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  const sourceUrl = subscribeVia ? await subscribeVia(source) : source.url();
  await replicateLogical({ sourceUrl, targetUrl: target.url(), syncTimeoutMs: 60_000 });
  await withClient(target.url(), (c) => c.query("GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app"));
  return {
    source, target, appSource: asRole(source.url(), "app"), appTarget: asRole(target.url(), "app"),
    env: { FERRY_SOURCE_URL: source.url(), FERRY_TARGET_URL: target.url() },
  };
}

interface VerifyReport {
  tables: { table: string; ok: boolean }[];
}

/**
 * Wait until `ferry pg verify` finds every table equal: replication caught up.
 * Sequences are left out here: logical replication does not carry them, the cutover
 * sets them (FACTS.md), so before a cutover they are always behind.
 */
export async function caughtUp(env: ReplicatingPair["env"], timeoutMs = 90_000): Promise<boolean> {
  return waitFor("every table to verify equal", async () => {
    const run = await runFerry(["--json", "pg", "verify", "--jobs", "2"], env);
    const report = JSON.parse(run.stdout || "{}") as Partial<VerifyReport>;
    return !!report.tables?.length && report.tables.every((t) => t.ok);
  }, timeoutMs).then(() => true, () => false);
}

/** Cut over and verify everything (sequences included): the end of a journey that survived a fault. */
export async function cutOverAndVerify(env: ReplicatingPair["env"]): Promise<{ cutover: FerryRun; verify: FerryRun }> {
  const cutover = await runFerry(["--json", "pg", "cutover", "--strategy", "logical", "--max-lag-bytes", "10485760", "--timeout", "60"], env);
  const verify = await runFerry(["--json", "pg", "verify", "--jobs", "2"], env);
  return { cutover, verify };
}
