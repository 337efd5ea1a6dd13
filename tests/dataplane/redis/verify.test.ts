// verify finds each kind of difference (and only real ones), lists the keys, exits 1.
import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { startRedis, LocalRedis } from "../../../rehearsal/servers";
import { keyFingerprint, keyLabel } from "../../../dataplane/redis/key-label";
import { verify, verifyKeys, inSample } from "../../../dataplane/redis/verify";
import { client, closeClients, endpoint, ferry, seed, seedBig } from "./helpers";
import { eventually } from "../../support/eventually";

let source: LocalRedis;
let target: LocalRedis;

beforeEach(async () => {
  if (!source) {
    source = await startRedis({ settings: { "repl-diskless-sync-delay": "0" } });
    target = await startRedis();
  }
  await client(source).flushall();
  await client(target).call("REPLICAOF", "NO", "ONE");
  await client(target).flushall();
  await seed(client(source, 0), 20);
  await seed(client(source, 6), 5);
  await seedBig(client(source, 0), 400);
  // An exact copy, made by replication so verify's own copy code is not involved.
  await client(target).call("REPLICAOF", "127.0.0.1", String(source.port));
  const t = client(target);
  await eventually("the replica's link to the source to be up (full sync loaded)", async () => /master_link_status:up/.test(await t.info("replication")));
  await t.call("REPLICAOF", "NO", "ONE");
});

afterAll(async () => {
  closeClients();
  await source?.stop();
  await target?.stop();
});

const options = () => ({ source: endpoint(source, "--source"), target: endpoint(target, "--target"), samplePct: 100, ttlToleranceMs: 2000, batchSize: 100, showKeys: true });
const run = () => verify(options());
/** A key as verify names it with showKeys: its whole name and its fingerprint. */
const named = (key: string) => `${key} #${keyFingerprint(Buffer.from(key))}`;

describe("verify", () => {
  test("equal servers verify clean, including big keys compared by digest", async () => {
    const r = await run();
    expect(r.differing).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(121 + 31 + 5);
    expect(r.dbs).toEqual([{ db: 0, sourceKeys: 126, targetKeys: 126 }, { db: 6, sourceKeys: 31, targetKeys: 31 }]);
  });

  test("each kind of difference is named with its key", async () => {
    const t0 = client(target, 0);
    await t0.del("k:str:1");
    await t0.set("k:extra", "x");
    await t0.del("k:hash:2");
    await t0.set("k:hash:2", "now a string");
    await t0.pexpire("k:list:4", 500_000);
    await t0.sadd("big:set", "one more");
    await client(target, 6).hset("k:hash:3", "a", "changed");
    const r = await run();
    expect(r.ok).toBe(false);
    expect(r.differing).toEqual(expect.arrayContaining([
      { db: 0, key: named("k:str:1"), reason: "missing on the target" },
      { db: 0, key: named("k:extra"), reason: "exists only on the target" },
      { db: 0, key: named("k:hash:2"), reason: "type differs: source hash, target string" },
      { db: 0, key: named("k:list:4"), reason: expect.stringMatching(/^TTL differs: source -1 ms, target \d+ ms$/) },
      { db: 0, key: named("big:set"), reason: "value differs" },
      { db: 6, key: named("k:hash:3"), reason: "value differs" },
    ]));
    expect(r.differingCount).toBe(6);
  });

  test("sampling checks the same subset each run: the same keys, not only as many", async () => {
    const picked = Array.from({ length: 1000 }, (_, i) => Buffer.from(`key-${i}`)).filter((k) => inSample(k, 10)).length;
    expect(picked).toBeGreaterThan(60);
    expect(picked).toBeLessThan(140);
    // Every key of the target changed: each key a run samples is listed, so the list is the sample.
    for (const db of [0, 6]) await client(target, db).flushdb();
    const sampled = async () => {
      const r = await verify({ ...options(), samplePct: 30, maxListed: 1000 });
      expect(r.differing.every((d) => d.reason === "missing on the target")).toBe(true);
      expect(r.differingCount).toBe(r.checked);
      return r.differing.map((d) => `${d.db} ${d.key}`).sort();
    };
    const first = await sampled();
    expect(first.length).toBeGreaterThan(0);
    expect(first.length).toBeLessThan(157);
    expect(await sampled()).toEqual(first);
  });

  test("the CLI exits 1 and lists keys", async () => {
    await client(target, 6).set("k:str:1", "tampered");
    const cli = await ferry(["--json", "redis", "verify", "--sample", "100"], { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() });
    expect(cli.code).toBe(1);
    // Without --show-keys, a key is its namespace and fingerprint (its name may be data).
    expect(cli.json.differing).toEqual([{ db: 6, key: keyLabel(Buffer.from("k:str:1")), reason: "value differs" }]);
    expect(keyLabel(Buffer.from("k:str:1"))).toMatch(/^k:…#[0-9a-f]{12}$/);
  });

  test("a full verify tells each differing key by its whole name, target-only ones too", async () => {
    await client(target, 0).set("k:str:1", "changed");
    await client(target, 6).set("k:only-here", "x");
    const told: string[] = [];
    const r = await verify({ ...options(), onDifferent: (db, key) => told.push(`${db}/${key.toString()}`) });
    expect(r.differingCount).toBe(2);
    expect(told.sort()).toEqual(["0/k:str:1", "6/k:only-here"]);
  });

  test("the window's verify compares the keys it is given and every database's count, and only those", async () => {
    const keys = (list: Array<[number, string]>) => {
      const m = new Map<number, Buffer[]>();
      for (const [db, k] of list) m.set(db, [...(m.get(db) ?? []), Buffer.from(k)]);
      return m;
    };
    expect((await verifyKeys(options(), keys([[0, "k:str:1"], [6, "k:hash:3"]]))).ok).toBe(true);
    // A listed key that differs, or was deleted on one side only.
    await client(target, 0).set("k:str:1", "changed");
    await client(source, 6).del("k:hash:3");
    const listed = await verifyKeys(options(), keys([[0, "k:str:1"], [6, "k:hash:3"]]));
    expect(listed.ok).toBe(false);
    expect(listed.differing.map((d) => d.key).filter((k) => k !== "*").sort()).toEqual([named("k:hash:3"), named("k:str:1")]);
    // An unlisted key whose value differs passes: the caller vouches it was equal and unchanged.
    await client(target, 6).del("k:hash:3");
    expect((await verifyKeys(options(), keys([[0, "k:str:2"]]))).ok).toBe(true);
    // But a key gone from one side changes the count, listed or not (where no key has a
    // TTL: a gap no larger than the keys with one may be expiry, as in the full verify).
    for (const side of [source, target]) await client(side, 9).mset("p:1", "1", "p:2", "2");
    expect((await verifyKeys(options(), keys([[0, "k:str:2"]]))).ok).toBe(true);
    await client(target, 9).del("p:2");
    const counted = await verifyKeys(options(), keys([[0, "k:str:2"]]));
    expect(counted.ok).toBe(false);
    expect(counted.differing).toEqual([{ db: 9, key: "*", reason: "key count differs: source 2, target 1" }]);
  });
});
