// Redis over TLS on both sides: a Heroku-like source (self-signed certificate, password)
// copied into an ElastiCache-like target (certificate from a private CA, naming the
// cache's endpoint and 127.0.0.1). One --tls-ca bundle holding both trusts both; the
// copy moves every key and verify finds the sides equal.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LocalRedis, startRedis, tempDir } from "../../../rehearsal/servers";
import { client, closeClients, differences, ferry, seed } from "./helpers";

let source: LocalRedis;
let target: LocalRedis;
let bundle: string;
let env: Record<string, string>;

beforeAll(async () => {
  [source, target] = await Promise.all([
    startRedis({ tls: { kind: "self-signed" }, password: "heroku-tls-secret" }),
    startRedis({ tls: { kind: "private-ca", hostnames: ["master.ferry-cache.test", "127.0.0.1"] }, password: "elasticache-secret" }),
  ]);
  bundle = join(tempDir("redis-bundle"), "bundle.pem");
  writeFileSync(bundle, readFileSync(source.tls!.caFile, "utf8") + readFileSync(target.tls!.caFile, "utf8"));
  env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() };
  await seed(client(source, 0), 30);
});

afterAll(async () => {
  closeClients();
  await source.stop();
  await target.stop();
});

describe("TLS on both sides (self-signed source, private-CA target)", () => {
  test("the target's private CA alone does not vouch for the source: one line naming --source", async () => {
    const r = await ferry(["redis", "verify", "--tls-ca", target.tls!.caFile], env);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^ferry: --source rediss:\/\/127\.0\.0\.1:\d+: TLS certificate not trusted \(self-signed certificate\); pass --tls-ca FILE or, knowingly, --tls-insecure$/);
  });

  test("with a bundle of both, the copy moves every key and verify finds no difference", async () => {
    const copied = await ferry(["--json", "redis", "replicate", "--strategy", "copy", "--tls-ca", bundle], env);
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    expect(await differences(source, target, [0])).toEqual([]);
    const verified = await ferry(["--json", "redis", "verify", "--tls-ca", bundle], env);
    expect(verified.code).toBe(0);
    for (const run of [copied, verified]) expect(run.stdout + run.stderr).not.toMatch(/heroku-tls-secret|elasticache-secret/);
  }, 60_000);

  test("a CA the machine adds with NODE_EXTRA_CA_CERTS stays trusted beside --tls-ca, as Node trusts it without one", async () => {
    // After the copy (above): the sides are equal. --tls-ca vouches for the source; the
    // target's CA only through the machine's extra file.
    const r = await ferry(["redis", "verify", "--tls-ca", source.tls!.caFile], { ...env, NODE_EXTRA_CA_CERTS: target.tls!.caFile });
    expect(r.stderr).not.toMatch(/not trusted/);
    expect(r.code).toBe(0);
  });
});
