// `--fail-cutover-once`: the cutover's window broken once, as production can break it.
// The process running the cutover step (`ferry cutover`, or `ferry pg cutover` where
// Postgres moves alone) is killed with its whole process tree (SIGKILL: the runner lost)
// inside the window, so no give-back of its own runs. Pulumi records no failed create:
// this is the case where the way back must not depend on the cutover step. The rehearsal
// then lowers ferry:cutover and checks that every source was given back (fences lifted,
// the app's own writers back), then raises it again.
// When, inside the window:
//   recorded (default): once the fence is recorded (the source's `ferry.fence` setting, or
//     the cutover state on the target where the source cannot hold it): from there the
//     data plane's rollback knows what to undo;
//   fenced: as soon as any role of the source starts read-only, which may be before the
//     record is kept anywhere (the moment a crash leaves a fence no rollback finds).
// Or, nothing killed, the data plane's own injected failure (FERRY_REHEARSAL=1 with
// FERRY_INJECT_FAILURE on the runner, once per target: dataplane/postgres/cutover):
//   gate: the gate is not met, before any fence (the command says so and gives nothing back
//     because it took nothing);
//   verify: the in-window verify differs, after the fences: the sources stay fenced and no
//     target is released, which only the way back (lowering the flag) undoes.
import type { ChildProcess } from "node:child_process";
import type { Client } from "pg";
import Redis from "ioredis";
import { connect, withClient } from "../../dataplane/postgres/connection";
import type { FerryConfig } from "../../config";
import type { CheckRecord } from "../timeline";
import type { HerokuPlatform } from "./standins/heroku";
import type { Box } from "./standins/box";
import type { Phase } from "./standins/command";

const CUTOVER_STEP = /-cutover-(stores|pg)$/;

/** Roles of the app's database that start every session read-only (ferry's fence, or any other). */
const FENCED_ROLES = `
  SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
  WHERE d.datname = current_database() AND 'default_transaction_read_only=on' = ANY (s.setconfig)`;

export interface CutoverCrash {
  /** The CommandHost fault hook: arms itself on the cutover step's first create. */
  fault(name: string, phase: Phase): ((child: ChildProcess) => void) | undefined;
  /** Whether the crash happened (the source was fenced and the step killed). */
  crashed(): boolean;
}

export type CrashPoint = "recorded" | "fenced" | "gate" | "verify";

/** The points where the data plane fails on its own (an injected failure), not by a kill. */
const INJECTED: Partial<Record<CrashPoint, string>> = { gate: "pg-gate", verify: "pg-verify" };

/** The runner's environment for an injected failure at `point` (none for a kill). */
export function injectedFailureEnv(point: CrashPoint | undefined): Record<string, string> {
  const injected = point && INJECTED[point];
  return injected ? { FERRY_REHEARSAL: "1", FERRY_INJECT_FAILURE: injected } : {};
}

/** How the broken cutover is named in the report. */
export function brokenBy(point: CrashPoint): string {
  if (point === "gate") return "its gate failed once (injected)";
  if (point === "verify") return "its in-window verify failed once (injected), the sources left fenced";
  return "its process killed once the source was fenced";
}

/** The fence record ferry keeps: the source's `ferry.fence` setting, or a cutover record with a fence on the target. */
async function fenceRecorded(source: Client, targetUrl: string | undefined): Promise<boolean> {
  const onSource = await source.query("SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database() AND s.setrole = 0 AND EXISTS (SELECT 1 FROM unnest(s.setconfig) kv WHERE kv LIKE 'ferry.fence=%')");
  if (onSource.rowCount) return true;
  if (!targetUrl) return false;
  return withClient(targetUrl, async (t) => {
    const { rows } = await t.query<{ doc: string | null }>("SELECT obj_description(oid, 'pg_namespace') AS doc FROM pg_namespace WHERE nspname = 'ferry'");
    const doc = rows[0]?.doc ? (JSON.parse(rows[0].doc) as Record<string, { fence?: unknown }>) : {};
    return Object.entries(doc).some(([key, record]) => key.startsWith("cutover:") && !!record?.fence);
  });
}

/**
 * Kill the cutover step once, inside its window: at `point` (see above). `adminUrl` is the
 * source as its superuser; `targetUrl()` the target's, once it exists.
 */
export function crashCutoverOnce(point: CrashPoint, adminUrl: string, targetUrl: () => string | undefined, log: (line: string) => void): CutoverCrash {
  let armed = true;
  let crashed = false;
  return {
    crashed: () => crashed,
    fault(name, phase) {
      if (!armed || phase !== "create" || !CUTOVER_STEP.test(name)) return undefined;
      armed = false;
      if (INJECTED[point]) {
        // The data plane fails by itself (injectedFailureEnv): nothing to kill.
        crashed = true;
        log(`    fault injected: ${name} runs with FERRY_INJECT_FAILURE=${INJECTED[point]} (fails once per target)`);
        return undefined;
      }
      return (child) => {
        let exited = false;
        child.on("exit", () => (exited = true));
        void (async () => {
          const db = await connect(adminUrl);
          try {
            while (!exited) {
              const fenced = (await db.query<{ n: number }>(FENCED_ROLES)).rows[0].n > 0;
              if (fenced && (point === "fenced" || (await fenceRecorded(db, targetUrl())))) {
                process.kill(-child.pid!, "SIGKILL");
                crashed = true;
                log(`    fault injected: the source is fenced${point === "recorded" ? " and the fence recorded" : ""}; ${name} killed (SIGKILL, its whole process tree), as a runner lost in the window`);
                return;
              }
              await new Promise((r) => setTimeout(r, 20));
            }
            log(`    fault not injected: ${name} ended before the source was fenced`);
          } finally {
            await db.end().catch(() => undefined);
          }
        })().catch((e) => log(`    fault injection: ${(e as Error).message}`));
      };
    },
  };
}

export interface GivenBackSource {
  /** The source database as its superuser. */
  checkDatabaseUrl: string;
  /** The source database as ferry's stack reaches it (ferry:sourceDatabaseUrl). */
  stackDatabaseUrl: string;
  /** The source Redis as the app reaches it. */
  checkRedisUrl: string;
  caPem: string[];
  heroku?: HerokuPlatform;
  box?: Box;
}

/**
 * After ferry:cutover was lowered following a failed cutover: no role of the source
 * database starts read-only and a new session as the stack's role may write, the source
 * Redis takes a write, and the source's own writers are back (every Heroku app out of
 * maintenance with its formation, or every unit of the box running).
 */
export async function sourcesGivenBack(config: FerryConfig, s: GivenBackSource): Promise<CheckRecord> {
  const problems: string[] = [];
  const fenced = await withClient(s.checkDatabaseUrl, async (db) => (await db.query<{ n: number }>(FENCED_ROLES)).rows[0].n);
  if (fenced > 0) problems.push(`${fenced} role setting(s) of the source database still default to read-only`);
  const readOnly = await withClient(s.stackDatabaseUrl, async (db) => (await db.query<{ transaction_read_only: string }>("SHOW transaction_read_only")).rows[0].transaction_read_only);
  if (readOnly !== "off") problems.push(`a new session on the source is read-only (transaction_read_only = ${readOnly})`);
  const redis = new Redis(s.checkRedisUrl, { tls: s.checkRedisUrl.startsWith("rediss:") ? { ca: s.caPem } : undefined, maxRetriesPerRequest: 1 });
  try {
    await redis.set("rehearsal:given-back", "1", "EX", 5);
  } catch (e) {
    problems.push(`the source Redis refuses a write: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    redis.disconnect();
  }
  const source = config.source;
  if (source.kind === "heroku" && s.heroku) {
    for (const app of source.apps) {
      const live = s.heroku.api.app(app.name)!;
      if (live.maintenance) problems.push(`${app.name} is still in maintenance`);
      for (const [type, quantity] of Object.entries(app.processes)) {
        const now = live.formation.find((f) => f.type === type)?.quantity ?? 0;
        if (now !== quantity) problems.push(`${app.name} runs ${now} ${type} dyno(s), not ${quantity}`);
      }
    }
  }
  if (source.kind === "vultr" && s.box) {
    for (const [unit, running] of Object.entries(s.box.runningUnits())) if (running < 1) problems.push(`the box's unit ${unit} is not running`);
  }
  return {
    name: "after a failed cutover, lowering ferry:cutover gave every source back (no fence left, the app's own writers back)",
    ok: problems.length === 0,
    detail: problems.length ? problems.join("; ") : "source database and Redis writable, the source's writers back",
  };
}
