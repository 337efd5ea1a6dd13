// Helpers shared by the Postgres data-plane tests: run the real `ferry` CLI as a child
// process (as the Pulumi stages do), and probe whether a role can write.
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { Client } from "pg";
import { afterAll, beforeAll } from "vitest";
import { LocalPostgres, freePort, isRoot, startPostgres, tempDir } from "../../../rehearsal/servers";
import { withClient } from "../../../dataplane/postgres/connection";
import { replicatePhysical, stopStandby } from "../../../dataplane/postgres/replication/physical";
import { unfence, withWritable } from "../../../dataplane/postgres/cutover/fence";
import { cleanup } from "../../../dataplane/postgres/cutover/cleanup";
import { ROLE_PASSWORD, createRoles, createTestSchema, seedRows, startSource } from "./fixtures";

export interface FerryRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const BIN = join(__dirname, "../../../bin/ferry.js");

/** `ferry <args>` with URLs in the environment (never in argv). */
export function runFerry(args: string[], env: Record<string, string | undefined> = {}): Promise<FerryRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Can a fresh session on `url` commit a write? (rolled back; nothing is left behind) */
export async function canWrite(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("BEGIN");
    await c.query("INSERT INTO audit_log (actor, token) VALUES ('probe', 'probe')");
    await c.query("ROLLBACK");
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "25006" || code === "42501") return false; // read-only transaction, or no privilege
    throw err;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Replace the database in a URL. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** A path for a standby's data directory inside a fresh temp dir the server's user owns. */
export function standbyPath(): string {
  const owner = isRoot()
    ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) }
    : undefined;
  return join(tempDir("standby", owner), "data");
}

/** The URL the physical standby will answer on: the source's superuser, a new port. */
export async function standbyUrl(source: { password: string }): Promise<string> {
  return `postgresql://postgres:${source.password}@127.0.0.1:${await freePort()}/postgres`;
}

/** The same URL as test role `role` (test roles share ROLE_PASSWORD). */
export function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = ROLE_PASSWORD;
  return u.toString();
}

/** A source and a target cluster for tests that give each case its own database pair; both know the `app` role. */
export async function startClusterPair(): Promise<[LocalPostgres, LocalPostgres]> {
  const [source, target] = await Promise.all([startPostgres(), startPostgres()]);
  await createRoles(source);
  await target.query(`CREATE ROLE app LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  return [source, target];
}

/**
 * A source and a target cluster (startClusterPair) for the enclosing describe: started
 * before its tests, stopped after them. `seeded(db)` is seededPair on this pair.
 */
export function useClusterPair(): { readonly source: LocalPostgres; readonly target: LocalPostgres; seeded(db: string): ReturnType<typeof seededPair> } {
  let clusters: [LocalPostgres, LocalPostgres] | undefined;
  beforeAll(async () => {
    clusters = await startClusterPair();
  }, 180000);
  afterAll(async () => {
    await Promise.all((clusters ?? []).map((c) => c.stop("immediate")));
  }, 180000);
  const started = () => clusters ?? (() => { throw new Error("useClusterPair: the clusters start in beforeAll"); })();
  return {
    get source() { return started()[0]; },
    get target() { return started()[1]; },
    seeded: (db) => seededPair(started()[0], started()[1], db),
  };
}

export const GRANT_APP = "GRANT ALL ON ALL TABLES IN SCHEMA public TO app; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app";

/** Database `db` on both clusters: the source with the fixture schema, 100 rows and grants to `app`; the target empty. */
export async function seededPair(source: LocalPostgres, target: LocalPostgres, db: string) {
  await Promise.all([source.query(`CREATE DATABASE ${db}`), target.query(`CREATE DATABASE ${db}`)]);
  const src = withDatabase(source.url(), db);
  const tgt = withDatabase(target.url(), db);
  await createTestSchema(src);
  await seedRows(src, 100);
  await withClient(src, (c) => c.query(GRANT_APP));
  return { src, tgt, appSrc: asRole(src, "app"), appTgt: asRole(tgt, "app"), env: { FERRY_SOURCE_URL: src, FERRY_TARGET_URL: tgt } };
}

/**
 * A source cluster (startSource(100)) for the enclosing describe, and physical standbys of
 * it made on demand (`freshStandby`): every standby is stopped and the source with them
 * after the describe's tests.
 */
export function useStandbySource(): {
  readonly source: LocalPostgres;
  freshStandby(): Promise<{ dir: string; target: string; appTarget: string; env: Record<string, string> }>;
  /** The source a primary again (fence lifted, slot dropped) and the standby at `dir` stopped. */
  reset(dir: string): Promise<void>;
} {
  let source: LocalPostgres | undefined;
  const standbys: string[] = [];
  beforeAll(async () => {
    source = await startSource(100);
  });
  afterAll(async () => {
    for (const dir of standbys) await stopStandby(dir);
    await source?.stop("immediate");
  });
  const started = () => source ?? (() => { throw new Error("useStandbySource: the source starts in beforeAll"); })();
  return {
    get source() { return started(); },
    async freshStandby() {
      const dir = standbyPath();
      standbys.push(dir);
      const target = await standbyUrl(started());
      await replicatePhysical({ sourceUrl: started().url(), targetUrl: target, standbyDir: dir });
      return { dir, target, appTarget: asRole(target, "app"), env: { FERRY_SOURCE_URL: started().url(), FERRY_TARGET_URL: target } };
    },
    async reset(dir) {
      await withWritable(started().url(), (c) => unfence(c));
      await stopStandby(dir);
      await cleanup({ sourceUrl: started().url() });
    },
  };
}
