// Redis on EC2's listener for clients outside the VPC (ferry:source.access): the same
// certificate script and configuration lines the boot script writes, run against a real
// redis-server. The source app (rediss://, as with Heroku Redis) gets TLS and must give
// the password; the plain port beside it keeps serving the app and runner in the VPC.
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisTlsCertScript, redisTlsConfig } from "../../components/target/userData";

const PASSWORD = "redis-tls-Pw-5e0c7d22";
let dir: string;
let server: ChildProcess;
let plainPort: number;
let tlsPort: number;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }).on("error", reject);
  });
}

async function ready(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = client(port, { password: PASSWORD });
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      probe.disconnect();
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-redis-tls-"));
  const cert = spawnSync("bash", ["-euo", "pipefail", "-c", redisTlsCertScript(join(dir, "tls"))], { encoding: "utf8" });
  expect(cert.status, cert.stderr).toBe(0);
  [plainPort, tlsPort] = [await freePort(), await freePort()];
  const conf = join(dir, "redis.conf");
  writeFileSync(conf, [`port ${plainPort}`, "bind 127.0.0.1", `dir ${dir}`, "save \"\"", `requirepass ${PASSWORD}`, redisTlsConfig(join(dir, "tls"), tlsPort), ""].join("\n"));
  server = spawn("redis-server", [conf], { stdio: "ignore" });
  await ready(plainPort);
}, 30_000);

afterAll(() => {
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client(port: number, options: Record<string, unknown>): Redis {
  const c = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000, ...options });
  c.on("error", () => undefined); // each test asserts on the command's own outcome
  return c;
}

async function attempt(c: Redis, run: (c: Redis) => Promise<unknown>): Promise<unknown> {
  try {
    await c.connect();
    return await run(c);
  } finally {
    c.disconnect();
  }
}

describe("Redis on EC2's TLS listener", () => {
  it("serves TLS with the password, as a rediss:// client connects (the certificate is self-signed, like Heroku Redis's)", async () => {
    const tls = client(tlsPort, { password: PASSWORD, tls: { rejectUnauthorized: false } });
    expect(await attempt(tls, async (c) => { await c.set("k", "v"); return c.get("k"); })).toBe("v");
  });

  it("refuses a TLS client without the password", async () => {
    // A raw TLS session: what the server answers a command before AUTH.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ port: tlsPort, host: "127.0.0.1", rejectUnauthorized: false }, () => socket.write("GET k\r\n"));
      socket.once("data", (d) => { resolve(String(d)); socket.destroy(); });
      socket.once("error", reject);
    });
    expect(answer).toMatch(/^-NOAUTH /);
  });

  it("speaks no plain text on the TLS port", async () => {
    const plain = client(tlsPort, { password: PASSWORD });
    await expect(attempt(plain, (c) => c.ping())).rejects.toThrow();
  });

  it("keeps the plain port for the app and runner inside the VPC", async () => {
    expect(await attempt(client(plainPort, { password: PASSWORD }), (c) => c.get("k"))).toBe("v");
  });
});
