// The rehearsal app reads DATABASE_URL as libpq would: a Heroku URL has no sslmode, so
// TLS is tried first, then plain (rehearsal/app/server.ts workingAttempt). A TLS
// handshake slower than the 2 s timeout (a busy machine) must not leave the app on plain
// against a TLS-only server for the rest of its life: a staging run had one AWS task fail
// 2774 requests with "no pg_hba.conf entry ... no encryption".
import { createConnection, createServer, Socket } from "node:net";
import { afterAll, describe, expect, test } from "vitest";
import { pgTls } from "../../../dataplane/postgres/tls";
import { workingAttempt } from "../../../rehearsal/app/server";
import { freePort, LocalPostgres, startPostgres } from "../../../rehearsal/servers";

let pg: LocalPostgres | undefined;
afterAll(() => pg?.stop());

describe("the rehearsal app's first connection", () => {
  test("a TLS attempt that times out once is tried again, rather than settling on plain against a TLS-only server", async () => {
    pg = await startPostgres({ tls: { kind: "self-signed", required: true } });
    const port = await freePort();
    let connections = 0;
    const held: Socket[] = [];
    // The first connection hangs (a handshake slower than the timeout); the others pass.
    const proxy = createServer((client) => {
      if (++connections === 1) {
        held.push(client);
        return;
      }
      const upstream = createConnection({ host: "127.0.0.1", port: pg!.port });
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(port, "127.0.0.1", r));
    try {
      const url = `postgres://postgres:${encodeURIComponent(pg.password)}@127.0.0.1:${port}/postgres`;
      expect(await workingAttempt(url, pgTls(url, {}))).toBe("tls");
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  }, 60_000);
});
