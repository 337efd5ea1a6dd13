// The server leg's TLS follows the URL a replica points at: a Heroku-like source on a
// self-signed certificate (sslmode=require: nothing can verify it), then a repoint to an
// RDS-like target with verify-full against its CA. server_tls_sslmode is global in
// PgBouncer 1.18, so the repoint's RELOAD must apply it: a target whose certificate does
// not name the host it is reached by is refused, and the right name works.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalPostgres, startPostgres } from "../../../rehearsal/servers";
import { pooler } from "../../../dataplane/cli/contract";
import { runFerry } from "../postgres/helpers";
import { ADMIN_PASSWORD, appClient, PoolerCerts, poolerCertificate, Replica, startReplica } from "./helpers";

let heroku: LocalPostgres;
let rds: LocalPostgres;
let certs: PoolerCerts;
let replica: Replica;

beforeAll(async () => {
  [heroku, rds, certs] = await Promise.all([
    startPostgres({ tls: { kind: "self-signed" } }),
    // Named as RDS names its endpoints: the certificate carries a name, never 127.0.0.1.
    startPostgres({ tls: { kind: "private-ca", hostnames: ["localhost"] } }),
    poolerCertificate(),
  ]);
  for (const pg of [heroku, rds]) await pg.query("CREATE ROLE app LOGIN PASSWORD 'app-pw'");
  replica = await startReplica(certs, `postgresql://app:app-pw@127.0.0.1:${heroku.port}/postgres?sslmode=require`, readFileSync(rds.tls!.caFile, "utf8"));
}, 120_000);

afterAll(async () => {
  await replica?.stop();
  await Promise.all([heroku?.stop("immediate"), rds?.stop("immediate")]);
}, 60_000);

/** pause, repoint at `url`, resume: each must succeed. */
async function moveTo(url: string): Promise<void> {
  const r = { urls: [replica.control], caFile: certs.tls.caFile };
  for (const command of [pooler.pause(r, 5), pooler.repoint(r, "target"), pooler.resume(r)]) {
    const run = await runFerry(command.argv.slice(1), { FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_TARGET_URL: url });
    expect(run.code, run.stderr).toBe(0);
  }
}

describe("the pooler's server TLS across a repoint", () => {
  it("serves a require source, then verifies the target's name after the repoint", async () => {
    const c = appClient(replica, certs);
    await c.connect();
    try {
      expect((await c.query("SELECT inet_server_port() AS port")).rows[0].port).toBe(heroku.port);

      await moveTo(`postgresql://app:app-pw@127.0.0.1:${rds.port}/postgres?sslmode=verify-full`);
      const refused = c.query("SELECT 1").then(() => "answered", () => "failed");
      await expect.poll(() => replica.log.join(""), { timeout: 15_000 }).toContain("name `127.0.0.1' not present in server certificate");
      expect(await Promise.race([refused, new Promise((r) => setTimeout(() => r("waiting"), 200))])).toBe("waiting");

      await moveTo(`postgresql://app:app-pw@localhost:${rds.port}/postgres?sslmode=verify-full`);
      await refused;
      const onTarget = await c.query("SELECT inet_server_port() AS port, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
      expect(onTarget.rows[0]).toEqual({ port: rds.port, ssl: true });
    } finally {
      await c.end().catch(() => undefined);
    }
  });
});
