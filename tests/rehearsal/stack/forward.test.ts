// The stand-ins' TCP forwards (an RDS endpoint, Heroku's Redis host) carry the app's
// connections while the rehearsal's main thread is busy evaluating the program: a busy
// main thread must not stall them (Redis clients time out, a blocking pop's job is lost).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawnSync } from "node:child_process";
import { forward, Forward } from "../../../rehearsal/stack/forward";
import { freePort, startRedis, LocalRedis } from "../../../rehearsal/servers";

describe("a stand-in's TCP forward", () => {
  let redis: LocalRedis;
  let fwd: Forward;
  let port: number;

  beforeAll(async () => {
    redis = await startRedis();
    port = await freePort();
    fwd = await forward("127.0.0.1", port, redis.port);
  });

  afterAll(async () => {
    await fwd?.close();
    await redis?.stop();
  });

  test("passes bytes while the rehearsal's main thread is blocked", () => {
    // spawnSync blocks this thread (and its event loop) until redis-cli is done; the bound
    // only keeps a stalled forward from hanging the test.
    const r = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "PING"], { encoding: "utf8", timeout: 15_000 });
    expect(r.stdout.trim()).toBe("PONG");
  });

  test("closes: nothing listens on its port afterwards", async () => {
    const other = await forward("127.0.0.1", await freePort(), redis.port);
    const listen = other.listen;
    await other.close();
    const r = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", listen.split(":")[1], "PING"], { encoding: "utf8", timeout: 15_000 });
    expect(r.stdout + r.stderr).toMatch(/refused/i);
  });
});
