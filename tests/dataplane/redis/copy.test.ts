// replicate --strategy copy end to end on real redis-server: every type, TTLs, several
// databases, big keys, writes/deletes/expirations during the copy, cutover, verify, and
// an independent comparison; a copy killed halfway resumes.
import { afterAll, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { runCopy } from "../../../dataplane/redis/copy";
import { commitBatch, CopyContext, PreparedBatch, prepareBatch } from "../../../dataplane/redis/copy-keys";
import { sleep } from "../../../dataplane/cli/common";
import { KeySnapshot } from "../../../dataplane/redis/read-keys";
import { cutover } from "../../../dataplane/redis/cutover";
import { keyLabel } from "../../../dataplane/redis/key-label";
import { verify } from "../../../dataplane/redis/verify";
import { OWNER, readMeta } from "../../../dataplane/redis/state";
import { claimDbs, newOwnerToken } from "../../../dataplane/redis/owner";
import { DbClients, explainLostConnection } from "../../../dataplane/redis/connection";
import { client, closeClients, differences, endpoint, ferry, seed, seedBig, spawnFerry, startWriter, urls } from "./helpers";
import { eventually } from "../../support/eventually";

const DBS = [0, 2, 5];
const LIMITS = { maxElements: 200, maxBytes: 1_000_000 };
const servers: LocalRedis[] = [];
afterAll(async () => {
  closeClients();
  for (const s of servers) await s.stop();
});

async function pair(opts: { password?: string } = {}) {
  const source = await startRedis({ password: opts.password, settings: { "notify-keyspace-events": "KEA" } });
  const target = await startRedis({ password: opts.password ? `${opts.password}-target` : undefined });
  servers.push(source, target);
  for (const db of DBS) await seed(client(source, db), 60);
  await seedBig(client(source, 0), 1500);
  return { source, target, src: endpoint(source, "--source"), dst: endpoint(target, "--target") };
}

async function targetMeta(target: LocalRedis) {
  const clients = new DbClients(endpoint(target, "--target"));
  try {
    return await readMeta(clients);
  } finally {
    await clients.close();
  }
}

describe("replicate --strategy copy", () => {
  test("follower keeps the target current during writes; cutover stops it, verifies, removes state", async () => {
    const { source, target, src, dst } = await pair();
    const writer = startWriter(source, DBS);
    const abort = new AbortController();
    const following = runCopy({ source: src, target: dst, follow: true, batchSize: 50, limits: LIMITS, signal: abort.signal });
    await eventually("the bulk pass to finish", async () => (await targetMeta(target))?.phase === "following");
    const atFollowing = writer.ops();
    await eventually("1000 more writes while following", () => writer.ops() >= atFollowing + 1000);
    const ops = await writer.stop();
    expect(ops).toBeGreaterThan(100);

    const result = await cutover({ source: src, target: dst, mode: "copy", timeoutMs: 30_000, samplePct: 100, ttlToleranceMs: 2000, batchSize: 200, limits: LIMITS });
    const copy = await following;
    expect(copy.stoppedBy).toBe("cutover");
    expect(copy.bigKeys).toBeGreaterThanOrEqual(5);
    expect(copy.recopied).toBeGreaterThan(0);
    expect(result.catchUp?.by).toBe("follower");
    expect(result.verify.differing).toEqual([]);
    expect(result.ok).toBe(true);
    expect(await differences(source, target, DBS)).toEqual([]);
    // The copy's state is gone; the cutover mark (a function library, no key) remains: a rollback refuses while it is there.
    expect(await client(target).keys("ferry:state:*")).toEqual([]);
    expect(await client(target).call("FUNCTION", "LIST", "LIBRARYNAME", "ferry_cutover")).toHaveLength(1);
  });

  test("a key read at its expiry instant (PTTL 0 with a payload) is not restored without a TTL", async () => {
    // Redis 7.0 evaluates expiry inside a script at the script's start time but PTTL at
    // the real time: a key whose TTL runs out while the read script runs (a busy or
    // descheduled server) comes back with a DUMP payload and PTTL 0. RESTORE ... 0 would
    // make it persistent on the target, and after the final fence nothing deletes it.
    const source = await startRedis();
    const target = await startRedis();
    servers.push(source, target);
    await client(source, 2).set("live:new:1", "fresh");
    const dump = await client(source, 2).dumpBuffer("live:new:1");
    await client(target, 2).set("live:new:1", "copied earlier");
    const ctx: CopyContext = {
      source: new DbClients(endpoint(source, "--source")), target: new DbClients(endpoint(target, "--target")), conflict: "replace", limits: LIMITS,
      owner: newOwnerToken(),
    };
    const batch = (kind: PreparedBatch["batch"], snap: KeySnapshot): PreparedBatch =>
      ({ db: 2, batch: kind, snapshots: [snap], assembled: new Map(), deferred: new Set(), toSkip: [] });
    const expiring = (key: string): KeySnapshot => ({ key: Buffer.from(key), type: "string", pttl: 0, expiresAtMs: Date.now(), size: dump.length, dump });
    try {
      await claimDbs(ctx.target, [2], ctx.owner);
      await commitBatch(ctx, batch({ kind: "recopy" }, expiring("live:new:1")));
      expect(await client(target, 2).pttl("live:new:1")).toBe(-2); // gone on the source: gone here
      await commitBatch(ctx, batch({ kind: "bulk", cursor: "0" }, expiring("live:new:2")));
      expect(await client(target, 2).pttl("live:new:2")).toBe(-2);
      // A persistent key (PTTL -1) still restores without a TTL.
      await commitBatch(ctx, batch({ kind: "recopy" }, { ...expiring("k:kept"), pttl: -1, expiresAtMs: -1 }));
      expect(await client(target, 2).pttl("k:kept")).toBe(-1);
    } finally {
      await ctx.source.close();
      await ctx.target.close();
    }
  });

  test("a batch written long after it was read keeps each key's absolute expiry, not its TTL at read time", async () => {
    // A copier paused between reading a batch and writing it (a frozen or descheduled
    // process) must not add the pause to the keys' lives: the target's keys must expire
    // when the source's do. Checked with and without PEXPIRETIME on the source (Redis
    // < 7.0 lacks it; here an ACL denies it, which the read script meets the same way).
    const source = await startRedis();
    const target = await startRedis();
    servers.push(source, target);
    const src = client(source, 2);
    await src.set("k:ttl", "v", "PX", 600_000);
    await src.set("k:none", "v");
    const ctx: CopyContext = {
      source: new DbClients(endpoint(source, "--source")), target: new DbClients(endpoint(target, "--target")), conflict: "replace", limits: LIMITS,
      owner: newOwnerToken(),
    };
    /** Copies the two keys with a pause between read and write; returns how long the read took (ms). */
    const copyPaused = async () => {
      const readFrom = Date.now();
      const prepared = await prepareBatch(ctx, 2, [Buffer.from("k:ttl"), Buffer.from("k:none")], { kind: "recopy" });
      const readMs = Date.now() - readFrom;
      await sleep(300); // the copier's pause between read and write
      await commitBatch(ctx, prepared);
      return readMs;
    };
    const expiresAt = Number(await src.call("PEXPIRETIME", "k:ttl"));
    try {
      await claimDbs(ctx.target, [2], ctx.owner);
      await copyPaused();
      expect(Number(await client(target, 2).call("PEXPIRETIME", "k:ttl"))).toBe(expiresAt);
      expect(await client(target, 2).pttl("k:none")).toBe(-1);

      await src.call("ACL", "SETUSER", "default", "-pexpiretime");
      await client(target, 2).flushall();
      await claimDbs(ctx.target, [2], ctx.owner);
      const readMs = await copyPaused();
      // Without PEXPIRETIME the expiry is the source's clock when the read script started
      // plus the PTTL it read after: exact up to the script's own run time, which lies
      // inside the read (the server runs on this machine's clock), plus 1 ms of rounding.
      // The 300 ms pause must not show.
      const drift = Number(await client(target, 2).call("PEXPIRETIME", "k:ttl")) - expiresAt;
      expect(Math.abs(drift)).toBeLessThanOrEqual(readMs + 1);
      expect(await client(target, 2).pttl("k:none")).toBe(-1);
    } finally {
      await ctx.source.close();
      await ctx.target.close();
    }
  });

  test("a batch read under a token that no longer owns its database writes nothing, nor do a big key's chunks: taken over, or the copy handed to the app", async () => {
    const source = await startRedis();
    const target = await startRedis();
    servers.push(source, target);
    await client(source, 2).mset("k:a", "from the source", "k:b", "from the source");
    // Bigger than LIMITS: copied in chunks into a temporary key (a script per chunk; APPEND for a string).
    await client(source, 2).sadd("big:set", ...Array.from({ length: 300 }, (_, i) => `m${i}`));
    await client(source, 2).set("big:str", "x".repeat(1_100_000));
    const ctx: CopyContext = {
      source: new DbClients(endpoint(source, "--source")), target: new DbClients(endpoint(target, "--target")), conflict: "replace", limits: LIMITS,
      owner: newOwnerToken(),
    };
    const dst = client(target, 2);
    const keys = [Buffer.from("k:a"), Buffer.from("k:b")];
    const refusal = "--target db 2: another ferry run owns the copy now (a cutover took it over while this run was stalled, or finished it); stopped without writing more";
    try {
      await claimDbs(ctx.target, [2], ctx.owner);
      const taken = await prepareBatch(ctx, 2, keys, { kind: "bulk", cursor: "17" });
      const handedOver = await prepareBatch(ctx, 2, keys, { kind: "recopy" });
      // Another process (the cutover's own catch-up) takes the database over.
      await claimDbs(ctx.target, [2], newOwnerToken());
      await dst.set("k:a", "newer");
      await expect(commitBatch(ctx, taken)).rejects.toThrow(refusal);
      // The cutover finished and removed its token with the rest of ferry:state:*.
      await dst.del(OWNER);
      await expect(commitBatch(ctx, handedOver)).rejects.toThrow(refusal);
      await expect(prepareBatch(ctx, 2, [Buffer.from("big:set")], { kind: "recopy" })).rejects.toThrow(refusal);
      await expect(prepareBatch(ctx, 2, [Buffer.from("big:str")], { kind: "recopy" })).rejects.toThrow(refusal);
      // Nothing of any batch landed: not a key, not the cursor, not a temporary key.
      expect(await dst.get("k:a")).toBe("newer");
      expect(await dst.exists("k:b")).toBe(0);
      expect(await dst.keys("*")).toEqual(["k:a"]);
    } finally {
      await ctx.source.close();
      await ctx.target.close();
    }
  });

  test("with passwords, no follower: cutover repairs the untailed gap (changes, deletes, expirations) itself", async () => {
    const { source, target, src, dst } = await pair({ password: "p@ss:word/1" });
    // Slow enough (about 4.5 s) that the gap repair can tell keys copied early from keys changed later.
    const first = await runCopy({ source: src, target: dst, follow: false, batchSize: 50, maxRate: 250, limits: LIMITS });
    expect(first.copied).toBe(3 * 361 + 5);
    // Nobody tails now: change, delete and expire keys, and add a big key member.
    const c = client(source, 2);
    await c.set("k:str:1", "changed while nobody listened");
    await c.del("k:hash:2");
    await c.pexpire("k:list:3", 1);
    await c.sadd("k:set:4", "new-member");
    await client(source, 0).sadd("big:set", "late-member");
    await client(source, 5).set("brand:new", "1", "EX", 100);
    // (No source reads here: reading a key refreshes its idle time, as the app's reads do.)
    expect(await client(target, 2).get("k:str:1")).toBe("value-1");

    const result = await cutover({ source: src, target: dst, mode: "copy", timeoutMs: 30_000, samplePct: 100, ttlToleranceMs: 2000, batchSize: 200, limits: LIMITS });
    expect(result.catchUp?.by).toBe("cutover");
    expect(result.catchUp?.copy?.reconciled?.method).toBe("idletime");
    // Keys copied early and untouched since are not marked: no full re-copy.
    const reconciled = result.catchUp!.copy!.reconciled!;
    expect(reconciled.marked).toBeLessThan(reconciled.scanned - 200);
    expect(result.verify.differing).toEqual([]);
    expect(await differences(source, target, DBS)).toEqual([]);
  });

  test("conflict policy: a non-empty target needs --conflict; skip keeps the target's value and says so", async () => {
    const { source, target, src, dst } = await pair();
    await client(target, 2).set("k:str:7", "target's own");
    await expect(runCopy({ source: src, target: dst, follow: false, batchSize: 100, limits: LIMITS })).rejects.toThrow(/--conflict replace.*--conflict skip/);
    const r = await runCopy({ source: src, target: dst, conflict: "skip", follow: false, batchSize: 100, limits: LIMITS });
    expect(r.skipped).toBe(1);
    await client(source, 2).set("k:str:7", "changed on source");
    const v = await verify({ source: src, target: dst, samplePct: 100, ttlToleranceMs: 2000, batchSize: 200 });
    expect(v.differing).toEqual([{ db: 2, key: keyLabel(Buffer.from("k:str:7")), reason: "value differs" }]);
    expect(await client(target, 2).get("k:str:7")).toBe("target's own");
  });

  test("--follow stops cleanly on SIGTERM: fenced, backlog drained, state says up to when it is covered", async () => {
    const { source, target } = await pair();
    const env = urls(source, target);
    const run = spawnFerry(["--json", "redis", "replicate", "--strategy", "copy", "--follow", "--big-key-elements", "200"], env);
    await eventually("the follower to be following", async () => (await targetMeta(target))?.phase === "following");
    await client(source, 2).set("k:str:9", "written while following");
    await eventually("the change to reach the target", async () => (await client(target, 2).get("k:str:9")) === "written while following");
    run.child.kill("SIGTERM");
    const r = await run.result;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.json.stoppedBy).toBe("signal");
    const meta = await targetMeta(target);
    expect(meta).toMatchObject({ phase: "stopped", following: false });
    expect(meta!.coveredUntilMs).toBeGreaterThan(meta!.startedAtMs);
    const st = await ferry(["--json", "redis", "status"], env);
    expect(st.json.copy).toMatchObject({ phase: "stopped", followerAlive: false, backlog: 0 });
  });

  test("a copy killed halfway (kill -9) resumes from its cursor and misses nothing changed meanwhile", async () => {
    const { source, target } = await pair();
    const env = urls(source, target);
    const total = 3 * 361 + 5;
    const copiedSoFar = async () => {
      let n = 0;
      for (const db of DBS) n += Number((await client(target, db).hget("ferry:state:progress", "copied")) ?? 0);
      return n;
    };
    const run = spawnFerry(["redis", "replicate", "--strategy", "copy", "--batch", "50", "--max-rate", "500", "--big-key-elements", "200"], env);
    await eventually("the copy to be partly done", async () => (await copiedSoFar()) >= 400);
    run.child.kill("SIGKILL");
    expect((await run.result).code).toBeNull();
    const before = await copiedSoFar();
    expect(before).toBeLessThan(total);

    // While no copier runs: change keys that were copied already (db 0 goes first) and others.
    const c0 = client(source, 0);
    await c0.set("k:str:5", "changed after the crash");
    await c0.del("k:zset:6");
    await c0.hset("k:hash:7", "new", "field");
    await client(source, 5).rpush("k:list:8", "late");

    const resumed = await ferry(["--json", "redis", "replicate", "--strategy", "copy", "--batch", "100", "--big-key-elements", "200"], env);
    expect(resumed.code).toBe(0);
    expect(resumed.json.resumed).toBe(true);
    expect(resumed.json.copied).toBeLessThan(total); // went on from the cursor, did not start over
    expect(resumed.json.copied + before).toBeGreaterThanOrEqual(total);
    expect(resumed.json.reconciled.method).toBe("idletime");

    const status = await ferry(["--json", "redis", "status"], env);
    expect(status.json.mode).toBe("copy");
    expect(status.json.copy.copied).toBeGreaterThanOrEqual(total);
    expect(status.json.copy.backlog).toBe(0);

    const done = await ferry(["--json", "redis", "cutover", "--strategy", "copy"], env);
    expect(done.stderr).toBe("");
    expect(done.code).toBe(0);
    expect(done.json.verify.ok).toBe(true);
    expect(await differences(source, target, DBS)).toEqual([]);
  });

  test("a big key marked pending with its batch but not landed (crash in between) is copied by the next run", async () => {
    const { source, target, src, dst } = await pair();
    const first = await runCopy({ source: src, target: dst, follow: false, batchSize: 50, limits: LIMITS });
    expect(first.bigKeys).toBe(5);
    expect(await client(target).exists("ferry:state:bigpending")).toBe(0);
    // What a kill -9 after the batch's commit and before the background copy's leaves behind.
    await client(target).del("big:set", "big:stream");
    await client(target).sadd("ferry:state:bigpending", "big:set", "big:stream");
    await client(target).sadd("ferry:state:tmp:leftover", "half");

    const again = await runCopy({ source: src, target: dst, follow: false, batchSize: 50, limits: LIMITS });
    expect(again.resumed).toBe(true);
    expect(again.bigKeys).toBe(2);
    expect(await client(target).exists("ferry:state:bigpending", "ferry:state:tmp:leftover")).toBe(0);
    expect(await differences(source, target, DBS)).toEqual([]);
  });

  test("a connection lost mid-run fails with one line naming the side, not ioredis's bare message", async () => {
    const { source, src, dst } = await pair();
    const [sources, targets] = [new DbClients(src), new DbClients(dst)];
    try {
      const onSource = await sources.db(2);
      await targets.db(0);
      // The server drops ferry's connection, as a cut link or a restart would.
      await client(source).call("CLIENT", "KILL", "ID", String(await onSource.call("CLIENT", "ID")));
      await eventually("ferry's client to see its connection gone", () => sources.lost());
      const err = await onSource.get("k:str:1").then(() => undefined, (e: Error) => e);
      expect(err?.message).toMatch(/Connection is closed/);
      expect(targets.lost()).toBe(false);
      expect((explainLostConnection(err, [sources, targets]) as Error).message).toBe(
        `--source redis://127.0.0.1:${source.port}: connection lost mid-run; re-run to resume`,
      );
    } finally {
      await sources.close();
      await targets.close();
    }
  });
});
