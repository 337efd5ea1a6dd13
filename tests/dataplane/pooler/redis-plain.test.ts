// The Redis proxy in front of a server that speaks no TLS (docs/pooler.md, "How the program
// declares it"): a box's own Redis, which the app reached with `redis://` before, and Redis
// on EC2 inside the VPC. The proxy's server leg follows the URL: plain for `redis://`,
// and a `rediss://` URL to the same server fails rather than falling back to plain.
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalRedis, startRedis } from "../../../rehearsal/servers";
import { CLIENT_PASSWORD, CLIENT_USER, poolerCertificate, PoolerCerts, Replica, startReplica, UNUSED_PG } from "./helpers";

const BOX_PASSWORD = "box-redis-pw-0123";

let certs: PoolerCerts;
let box: LocalRedis;
const replicas: Replica[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  certs = await poolerCertificate();
  box = await startRedis({ password: BOX_PASSWORD });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all(replicas.map((r) => r.stop()));
  await box?.stop();
});

/** A client of the box itself, not through the proxy. */
async function onBox(key: string): Promise<string | null> {
  const c = new Redis(box.url(0), { maxRetriesPerRequest: 1 });
  try {
    return await c.get(key);
  } finally {
    c.disconnect();
  }
}

async function proxyTo(url: string): Promise<Redis> {
  const replica = await startReplica(certs, UNUSED_PG, certs.ca, { redisUrl: url });
  replicas.push(replica);
  const c = new Redis({ host: "127.0.0.1", port: replica.redisPort, username: CLIENT_USER, password: CLIENT_PASSWORD, tls: { ca: certs.ca }, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on("error", () => undefined);
  clients.push(c);
  return c;
}

describe("the Redis proxy in front of a plain redis:// server", () => {
  it("forwards over plain TCP where the URL says redis://, the client's leg still TLS", async () => {
    const app = await proxyTo(box.url(0));
    expect(box.url(0)).toMatch(/^redis:\/\//);
    expect(await app.set("box:key", "v1")).toBe("OK");
    expect(await onBox("box:key")).toBe("v1");
  });

  it("does not fall back to plain where the URL says rediss://: the command fails", async () => {
    const app = await proxyTo(box.url(0).replace(/^redis:/, "rediss:"));
    await expect(app.set("box:other", "v2")).rejects.toThrow();
    expect(await onBox("box:other")).toBeNull();
  });
});
