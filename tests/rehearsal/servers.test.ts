import { describe, expect, test } from "vitest";
import Redis from "ioredis";
import { getPriority } from "node:os";
import { startPostgres, startRedis, startNginx, nginxMainContext, nginxHttpPaths, freePort, moveOffServingPath, OFF_PATH_NICENESS } from "../../rehearsal/servers";

describe("local servers", () => {
  test("postgres starts with a password, restarts, and refuses a wrong password", async () => {
    const pg = await startPostgres();
    expect((await pg.query<{ v: number }>("select 1 as v"))[0].v).toBe(1);
    await pg.restart();
    expect((await pg.query<{ wal_level: string }>("show wal_level"))[0].wal_level).toBe("logical");
    const { Client } = await import("pg");
    const bad = new Client({ connectionString: pg.url("postgres", "postgres", "wrong") });
    await expect(bad.connect()).rejects.toThrow(/password authentication failed/);
    await pg.stop();
    expect(pg.isRunning()).toBe(false);
  });

  test("redis with TLS on a self-signed certificate and a password", async () => {
    const r = await startRedis({ tls: true, password: "s3cret-pass", disableCommands: ["SYNC", "PSYNC"] });
    const client = new Redis(r.url(), { tls: { ca: r.caCert }, lazyConnect: true });
    await client.connect();
    expect(await client.ping()).toBe("PONG");
    await expect(client.call("PSYNC", "?", "-1")).rejects.toThrow(/unknown command/i);
    client.disconnect();
    await r.stop();
  });

  test("nginx serves a config from a temp prefix", async () => {
    const port = await freePort();
    const ngx = await startNginx(
      (prefix) => `${nginxMainContext(prefix)}\nevents {}\nhttp {\n${nginxHttpPaths(prefix)}\nserver { listen 127.0.0.1:${port}; location / { return 200 "hello"; } }\n}\n`,
      port,
    );
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe("hello");
    await ngx.stop();
  });

  test("a retired store moves off the serving path: the postmaster, its backends, and the backends it starts later", async () => {
    const pg = await startPostgres();
    const { Client } = await import("pg");
    const before = new Client({ connectionString: pg.url() });
    await before.connect();
    const backendPid = async (c: InstanceType<typeof Client>) => (await c.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0].pid;
    const earlier = await backendPid(before);
    expect(getPriority(pg.pid()!)).toBe(0);
    moveOffServingPath(pg.pid()!);
    const after = new Client({ connectionString: pg.url() });
    await after.connect();
    expect([getPriority(pg.pid()!), getPriority(earlier), getPriority(await backendPid(after))]).toEqual([OFF_PATH_NICENESS, OFF_PATH_NICENESS, OFF_PATH_NICENESS]);
    await before.end();
    await after.end();
    await pg.stop();
    const r = await startRedis();
    moveOffServingPath(r.pid()!);
    expect(getPriority(r.pid()!)).toBe(OFF_PATH_NICENESS);
    await r.stop();
    expect(r.pid()).toBeUndefined();
  });
});
