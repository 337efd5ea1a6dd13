// The final backup before decommission and the restore that is its way back, for real:
// a PostgreSQL source fenced read-only and a Heroku-like Redis (TLS, SYNC/PSYNC/CONFIG
// refused, writes paused) backed up by `ferry pg backup` / `ferry redis backup` into the
// AWS stand-in's S3 through the real AWS CLI; the object's checksum checked; a damaged
// object refused by the restore in one line with nothing written; then restored into
// fresh servers with every row, sequence, key and expiry equal.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsApi, awsWrapper } from "../../../rehearsal/servers/aws-api";
import { HEROKU_REDIS_REFUSES, LocalPostgres, LocalRedis, startPostgres, startRedis, tempDir } from "../../../rehearsal/servers";
import { finalBackupKey } from "../../../dataplane/cli/contract";
import { CHECKSUM_METADATA } from "../../../dataplane/backup/bucket";
import { TEST_TABLES, createTestSchema, seedRows } from "../postgres/fixtures";
import { runFerry } from "../postgres/helpers";
import { client, closeClients, differences, seed, seedBig } from "../redis/helpers";
import { precondition } from "../../support/precondition";

const REAL_AWS = spawnSync("sh", ["-c", "command -v aws"], { encoding: "utf8" }).stdout.trim();
const HAVE_AWS = precondition(REAL_AWS !== "", "AWS CLI (aws on PATH)");
const BUCKET = "ferry-storage-bucket-0a1b2c3";
const PG_KEY = finalBackupKey("postgres");
const REDIS_KEY = finalBackupKey("redis");
const DBS = [0, 3];

let api: AwsApi;
let awsEnv: Record<string, string>;
let bin: string;
let pgSource: LocalPostgres;
let pgTarget: LocalPostgres;
let redisSource: LocalRedis;
let redisTarget: LocalRedis;

const where = (key: string) => ["--bucket", BUCKET, "--key", key, "--region", "us-east-1"];
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The real AWS CLI against the stand-in, asynchronously: the stand-in answers from this process. */
function aws(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(bin, "aws"), args, { env: { ...process.env, ...awsEnv } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

/** Put other bytes under `key` with the checksum metadata it had: damage S3 did not notice. */
async function damage(key: string): Promise<void> {
  const original = api.object(BUCKET, key)!;
  const damaged = Buffer.from(original);
  damaged[Math.floor(damaged.length / 2)] ^= 0xff;
  const file = join(tempDir("damaged"), "object");
  writeFileSync(file, damaged);
  const put = await aws(["s3", "cp", "--only-show-errors", "--metadata", `${CHECKSUM_METADATA}=${sha256(original)}`, file, `s3://${BUCKET}/${key}`]);
  expect(put.status, put.stderr).toBe(0);
}

async function restoreOriginal(key: string, original: Buffer): Promise<void> {
  const file = join(tempDir("original"), "object");
  writeFileSync(file, original);
  const put = await aws(["s3", "cp", "--only-show-errors", "--metadata", `${CHECKSUM_METADATA}=${sha256(original)}`, file, `s3://${BUCKET}/${key}`]);
  expect(put.status, put.stderr).toBe(0);
}

/** Every row of every test table (in key order), and every sequence's position. */
async function pgContents(pg: LocalPostgres, db: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const table of TEST_TABLES) out[table] = (await pg.query<{ row: string }>(`SELECT to_jsonb(t)::text AS row FROM ${table} t ORDER BY 1`, [], db)).map((r) => r.row);
  out.sequences = await pg.query("SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2", [], db);
  return out;
}

/** Each key's absolute expiry (PEXPIRETIME: -1 for none) in `db`. */
async function expiries(c: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const key of await c.keysBuffer("*")) out.set(key.toString("hex"), Number(await c.call("PEXPIRETIME", key)));
  return out;
}

const oneLine = (stderr: string) => stderr.trim().split("\n");

beforeAll(async () => {
  api = new AwsApi({ region: "us-east-1", account: "000000000000", tasks: { runTask: async () => undefined } });
  await api.start();
  api.createBucket(BUCKET);
  bin = tempDir("aws-bin");
  writeFileSync(join(bin, "aws"), awsWrapper(REAL_AWS, api.url), { mode: 0o755 });
  awsEnv = {
    PATH: `${bin}:${process.env.PATH}`, AWS_ACCESS_KEY_ID: "AKIAREHEARSAL0000000", AWS_SECRET_ACCESS_KEY: "x".repeat(40),
    AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null", AWS_EC2_METADATA_DISABLED: "true",
  };
  [pgSource, pgTarget, redisSource, redisTarget] = await Promise.all([
    startPostgres(), startPostgres(),
    // Heroku Key-Value Store: TLS on a self-signed certificate, a password, no SYNC/PSYNC/CONFIG/ACL.
    startRedis({ tls: true, password: "source-secret-0123456789", disableCommands: [...HEROKU_REDIS_REFUSES] }),
    startRedis({ password: "target-secret-0123456789" }),
  ]);
  await pgSource.query("CREATE DATABASE app");
  await createTestSchema(pgSource.url("app"));
  await seedRows(pgSource.url("app"), 300);
  // The cutover's fence: the source database only reads.
  await pgSource.query("ALTER DATABASE app SET default_transaction_read_only = on");
  for (const db of DBS) {
    await seed(client(redisSource, db), 60, `db${db}`);
  }
  await seedBig(client(redisSource, 0), 20_000);
}, 120_000);

afterAll(async () => {
  closeClients();
  await Promise.all([pgSource?.stop(), pgTarget?.stop(), redisSource?.stop(), redisTarget?.stop(), api?.stop()]);
});

describe.skipIf(!HAVE_AWS)("ferry pg backup / pg restore", () => {
  const sourceEnv = () => ({ ...awsEnv, FERRY_SOURCE_URL: pgSource.url("app") });
  const targetEnv = (db: string) => ({ ...awsEnv, FERRY_TARGET_URL: pgTarget.url(db) });

  it("dumps the fenced source into the bucket with the checksum of exactly the bytes S3 holds", async () => {
    const run = await runFerry(["--json", "pg", "backup", ...where(PG_KEY)], sourceEnv());
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    const stored = api.object(BUCKET, PG_KEY)!;
    expect(stored.length).toBeGreaterThan(0);
    expect(result).toMatchObject({ bucket: BUCKET, key: PG_KEY, bytes: stored.length, sha256: sha256(stored) });
    // A custom-format archive, as pg_restore reads it.
    expect(stored.subarray(0, 5).toString()).toBe("PGDMP");
    expect(api.calls.filter((c) => c.action === "s3:PutObject").map((c) => c.resource)).toContain(`arn:aws:s3:::${BUCKET}/${PG_KEY}`);
  });

  it("refuses a damaged object in one line, and writes nothing into the target", async () => {
    const original = Buffer.from(api.object(BUCKET, PG_KEY)!);
    await pgTarget.query("CREATE DATABASE damaged");
    await damage(PG_KEY);
    try {
      const run = await runFerry(["pg", "restore", ...where(PG_KEY)], targetEnv("damaged"));
      expect(run.code).toBe(1);
      expect(oneLine(run.stderr)).toEqual([expect.stringMatching(new RegExp(`^ferry: s3://${BUCKET}/${PG_KEY} is damaged: its bytes hash to sha256 [0-9a-f]{64}, not the ${sha256(original)} stored with it; refusing to restore it$`))]);
      expect(await pgTarget.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'", [], "damaged")).toEqual([{ n: 0 }]);
    } finally {
      await restoreOriginal(PG_KEY, original);
    }
  });

  it("restores into a fresh server's empty database with every row and sequence equal", async () => {
    await pgTarget.query("CREATE DATABASE restored");
    const run = await runFerry(["--json", "pg", "restore", ...where(PG_KEY)], targetEnv("restored"));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ key: PG_KEY, sha256: sha256(api.object(BUCKET, PG_KEY)!) });
    const [source, restored] = [await pgContents(pgSource, "app"), await pgContents(pgTarget, "restored")];
    expect((source["public.accounts"] as string[]).length).toBe(300);
    expect(restored).toEqual(source);
  });

  it("refuses a target that already holds tables, naming it", async () => {
    const run = await runFerry(["pg", "restore", ...where(PG_KEY)], targetEnv("restored"));
    expect(run.code).toBe(1);
    expect(oneLine(run.stderr)).toEqual([expect.stringMatching(/^ferry: --target 127\.0\.0\.1:\d+\/restored: already holds \d+ table\(s\), view\(s\) or sequence\(s\): restore into an empty database$/)]);
  });
});

describe.skipIf(!HAVE_AWS)("ferry redis backup / redis restore", () => {
  const sourceEnv = () => ({ ...awsEnv, FERRY_SOURCE_REDIS_URL: redisSource.url() });
  const targetEnv = () => ({ ...awsEnv, FERRY_TARGET_REDIS_URL: redisTarget.url() });
  const tls = ["--tls-insecure"];

  it("saves every key of a Heroku-like source whose writes are paused, checksummed", async () => {
    // The cutover's dynos-stopped fence holds writes with CLIENT PAUSE WRITE: the backup only reads.
    const pauser = client(redisSource, 0);
    await pauser.call("CLIENT", "PAUSE", "60000", "WRITE");
    try {
      const run = await runFerry(["--json", "redis", "backup", ...where(REDIS_KEY), ...tls], sourceEnv());
      expect(run.code, run.stderr).toBe(0);
      const stored = api.object(BUCKET, REDIS_KEY)!;
      const total = (await Promise.all(DBS.map((db) => client(redisSource, db).dbsize()))).reduce((a, b) => a + b, 0);
      expect(JSON.parse(run.stdout)).toMatchObject({ bucket: BUCKET, key: REDIS_KEY, bytes: stored.length, sha256: sha256(stored), keys: total });
    } finally {
      await pauser.call("CLIENT", "UNPAUSE");
    }
  });

  it("refuses a damaged object in one line, and writes nothing into the target", async () => {
    const original = Buffer.from(api.object(BUCKET, REDIS_KEY)!);
    await damage(REDIS_KEY);
    try {
      const run = await runFerry(["redis", "restore", ...where(REDIS_KEY)], targetEnv());
      expect(run.code).toBe(1);
      expect(oneLine(run.stderr)).toEqual([expect.stringMatching(new RegExp(`^ferry: s3://${BUCKET}/${REDIS_KEY} is damaged: its bytes hash to sha256 [0-9a-f]{64}, not the ${sha256(original)} stored with it; refusing to restore it$`))]);
      for (const db of DBS) expect(await client(redisTarget, db).dbsize()).toBe(0);
    } finally {
      await restoreOriginal(REDIS_KEY, original);
    }
  });

  it("refuses, before writing a key, a target older than the Redis the backup came from", async () => {
    // A backup from a newer Redis: the first key's payload in RDB format 12 (Redis 7.4),
    // which this Redis 7.0 (format 10) refuses as an older server refuses a newer payload.
    const original = Buffer.from(api.object(BUCKET, REDIS_KEY)!);
    const newer = Buffer.from(original);
    const at = "FERRY-REDIS-BACKUP 1\n".length + 1;
    const keyLength = newer.readUInt32BE(at + 2);
    const payloadAt = at + 6 + keyLength + 12;
    const footer = payloadAt + newer.readUInt32BE(at + 6 + keyLength + 8) - 10;
    expect(newer.readUInt16LE(footer)).toBe(10);
    newer.writeUInt16LE(12, footer);
    await restoreOriginal(REDIS_KEY, newer);
    try {
      const run = await runFerry(["redis", "restore", ...where(REDIS_KEY)], targetEnv());
      expect(run.code).toBe(1);
      expect(oneLine(run.stderr)).toEqual([expect.stringMatching(/^ferry: --target redis:\/\/127\.0\.0\.1:\d+: Redis 7\.\d+\.\d+ cannot read this backup's keys \(RDB format 12; RESTORE answered: ERR DUMP payload version or checksum are wrong\): restore into a Redis at least as new as the source's$/)]);
      for (const db of DBS) expect(await client(redisTarget, db).dbsize()).toBe(0);
    } finally {
      await restoreOriginal(REDIS_KEY, original);
    }
  });

  it("restores into a fresh server with every key, value and expiry equal", async () => {
    const run = await runFerry(["--json", "redis", "restore", ...where(REDIS_KEY)], targetEnv());
    expect(run.code, run.stderr).toBe(0);
    expect(await differences(redisSource, redisTarget, DBS)).toEqual([]);
    for (const db of DBS) {
      const [source, restored] = [await expiries(client(redisSource, db)), await expiries(client(redisTarget, db))];
      expect([...source.values()].filter((e) => e > 0).length).toBeGreaterThan(0);
      expect(restored).toEqual(source);
    }
  });

  it("refuses a target that already holds keys, naming it", async () => {
    const run = await runFerry(["redis", "restore", ...where(REDIS_KEY)], targetEnv());
    expect(run.code).toBe(1);
    expect(oneLine(run.stderr)).toEqual([expect.stringMatching(/^ferry: --target redis:\/\/127\.0\.0\.1:\d+: already holds keys \(\d+ in db0, \d+ in db3\): restore into an empty Redis$/)]);
  });
});
