// TLS to PostgreSQL, against real servers: an RDS-like one (private CA), a Heroku-like
// one (self-signed), both refusing plain connections, and one without TLS (the whole
// copy runs between two that take plain connections too, watched while it runs). Every
// sslmode, with no CA, the right CA and a wrong one, through ferry's node connection
// and through a libpq program run by ferry's tool runner: both must do what libpq's
// table "SSL Mode Descriptions" says, and fail with the same one-line reason.
// https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-SSLMODE-STATEMENTS
import { copyFileSync, readFileSync } from "node:fs";
import { createServer, Server, Socket } from "node:net";
import { join } from "node:path";
import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, libpqArgs, withClient } from "../../../dataplane/postgres/connection";
import { SSL_MODES, SslMode, pgTls } from "../../../dataplane/postgres/tls";
import { runTool } from "../../../dataplane/postgres/tools";
import { LocalPostgres, makeCa, startPostgres, tempDir, waitFor } from "../../../rehearsal/servers";
import { replicatePhysical, stopStandby } from "../../../dataplane/postgres/replication/physical";
import { createTestSchema, seedRows } from "./fixtures";
import { runFerry, standbyPath, standbyUrl, withDatabase } from "./helpers";
import { precondition } from "../../support/precondition";

const RDS_NAME = "db.ferry-rds.test";

let rds: LocalPostgres;
let heroku: LocalPostgres;
let plain: LocalPostgres;
/** A server whose certificate names only RDS_NAME, as RDS's does (never 127.0.0.1). */
let named: LocalPostgres;
let wrongCa: string;
let forward: { port: number; close(): Promise<void> };

/** A TCP forward on a loopback port to `port`: the runner's SSH tunnel to RDS. */
function tcpForward(port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = new Socket();
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    outbound.connect(port, "127.0.0.1", () => inbound.pipe(outbound).pipe(inbound));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  })));
}

beforeAll(async () => {
  [rds, heroku, plain, named] = await Promise.all([
    startPostgres({ tls: { kind: "private-ca", hostnames: ["127.0.0.1", RDS_NAME] } }),
    startPostgres({ tls: { kind: "self-signed" } }),
    startPostgres(),
    startPostgres({ tls: { kind: "private-ca", hostnames: [RDS_NAME] } }),
  ]);
  wrongCa = (await makeCa(tempDir("wrong-ca"), "someone else's CA")).caFile;
  forward = await tcpForward(named.port);
}, 120_000);

afterAll(async () => {
  await forward?.close();
});

/** `url` with query parameters added. */
function withParams(url: string, params: Record<string, string | undefined>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

type CaChoice = "no CA" | "right CA" | "wrong CA";
const CA_CHOICES: CaChoice[] = ["no CA", "right CA", "wrong CA"];

/** What a connection did: "tls", "plain", or the one line it failed with. */
async function throughNode(url: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await withClient(url, async (c) => {
      const { rows } = await c.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
      return rows[0].ssl ? "tls" : "plain";
    });
  } catch (err) {
    return (err as Error).message;
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

/** The same through psql, run the way ferry runs every libpq program. */
async function throughLibpq(url: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { conninfo, env: childEnv } = libpqArgs(url, { ...process.env, ...env });
    const out = await runTool("psql", ["--dbname", conninfo, "--no-psqlrc", "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"], childEnv);
    return out.trim() === "t" ? "tls" : "plain";
  } catch (err) {
    return (err as Error).message.replace(/^psql: /, "");
  }
}

const NO_SSL = /^TLS requested \(sslmode=(require|verify-ca|verify-full), sslmode in the URL\) but the server at 127\.0\.0\.1:\d+\/postgres does not support SSL: turn ssl on there, or use sslmode=prefer$/;
const NEEDS_CA = /^TLS: sslmode=verify-(ca|full) \(sslmode in the URL\) needs a CA to verify against: set FERRY_PG_CA_FILE \(or sslrootcert in the URL\) to the CA bundle, for RDS the global bundle$/;
const NOT_SIGNED = /^TLS: the certificate of 127\.0\.0\.1:\d+\/postgres is not signed by the CA in sslrootcert in the URL \(.*\/ca\.pem\): give the CA that signed it \(for RDS, the global bundle\) in FERRY_PG_CA_FILE or sslrootcert$/;
const PLAIN_REFUSED = /^the server at 127\.0\.0\.1:\d+\/postgres refuses connections without TLS \(sslmode=disable, sslmode in the URL\): use sslmode=require or stronger$/;

/**
 * libpq's table, written out: what each mode does against a server that requires TLS
 * and one without TLS, given no CA, the right CA or a wrong one (a CA file makes
 * allow, prefer and require verify the chain too).
 */
function expected(server: "tls-only" | "no-tls", mode: SslMode, ca: CaChoice): string | RegExp {
  if (mode.startsWith("verify-") && ca === "no CA") return NEEDS_CA;
  if (server === "no-tls") return ["disable", "allow", "prefer"].includes(mode) ? "plain" : NO_SSL;
  if (mode === "disable") return PLAIN_REFUSED;
  return ca === "wrong CA" ? NOT_SIGNED : "tls";
}

function matches(actual: string, want: string | RegExp): void {
  if (typeof want === "string") expect(actual).toBe(want);
  else expect(actual).toMatch(want);
}

const servers = () => [["RDS-like (private CA)", rds, "tls-only"], ["Heroku-like (self-signed)", heroku, "tls-only"], ["without TLS", plain, "no-tls"]] as const;

describe("every sslmode, node-postgres and libpq agree", () => {
  const cases = SSL_MODES.flatMap((mode) => CA_CHOICES.map((ca) => [mode, ca] as const));
  for (const serverIndex of [0, 1, 2]) {
    it.each(cases)(`server ${serverIndex}: sslmode=%s, %s`, async (mode, ca) => {
      const [, server, kind] = servers()[serverIndex];
      const caFile = ca === "right CA" ? server.tls?.caFile ?? wrongCa : ca === "wrong CA" ? wrongCa : undefined;
      const url = withParams(server.url(), { sslmode: mode, sslrootcert: caFile });
      const want = expected(kind, mode, ca);
      const [node, libpq] = await Promise.all([throughNode(url), throughLibpq(url)]);
      matches(node, want);
      matches(libpq, want);
    }, 30_000);
  }
});

describe("defaults and ferry's CA variable", () => {
  it("a URL without sslmode (Heroku's DATABASE_URL) uses TLS where the server has it, plain where it has not", async () => {
    expect(await throughNode(heroku.url())).toBe("tls");
    expect(await throughLibpq(heroku.url())).toBe("tls");
    expect(await throughNode(plain.url())).toBe("plain");
    expect(await throughLibpq(plain.url())).toBe("plain");
  });

  it("FERRY_PG_CA_FILE is the CA of verify-full and verify-ca", async () => {
    const env = { FERRY_PG_CA_FILE: rds.tls!.caFile };
    for (const mode of ["verify-ca", "verify-full"]) {
      const url = withParams(rds.url(), { sslmode: mode });
      expect(await throughNode(url, env)).toBe("tls");
      expect(await throughLibpq(url, env)).toBe("tls");
    }
  });

  it("FERRY_PG_CA_FILE does not turn the source's require or prefer into a verification (Heroku's certificate cannot be verified)", async () => {
    const env = { FERRY_PG_CA_FILE: rds.tls!.caFile };
    for (const url of [heroku.url(), withParams(heroku.url(), { sslmode: "require" })]) {
      expect(await throughNode(url, env)).toBe("tls");
      expect(await throughLibpq(url, env)).toBe("tls");
    }
  });

  it("a wrong FERRY_PG_CA_FILE is named in the line", async () => {
    const url = withParams(rds.url(), { sslmode: "verify-full" });
    const line = `TLS: the certificate of 127.0.0.1:${rds.port}/postgres is not signed by the CA in FERRY_PG_CA_FILE (${wrongCa}): give the CA that signed it (for RDS, the global bundle) in FERRY_PG_CA_FILE or sslrootcert`;
    expect(await throughNode(url, { FERRY_PG_CA_FILE: wrongCa })).toBe(line);
  });

  it("a missing or non-PEM CA file, an unknown sslmode and unsupported parameters are bad input, each named", () => {
    const url = withParams(rds.url(), { sslmode: "verify-full" });
    expect(() => pgTls(url, { FERRY_PG_CA_FILE: "/nonexistent/rds.pem" })).toThrow(/^TLS: the CA file in FERRY_PG_CA_FILE \(\/nonexistent\/rds\.pem\) cannot be read: give the path of a PEM CA bundle$/);
    expect(() => pgTls(withParams(url, { sslrootcert: "/etc/hostname" }), {})).toThrow(/^TLS: the CA file in sslrootcert in the URL \(\/etc\/hostname\) holds no PEM certificate/);
    expect(() => pgTls(withParams(url, { sslmode: "no-verify" }), {})).toThrow(/^TLS: sslmode in the URL must be one of disable, allow, prefer, require, verify-ca, verify-full \(got "no-verify"\)$/);
    expect(() => pgTls(withParams(url, { hostaddr: RDS_NAME }), {})).toThrow(/^TLS: hostaddr must be a numeric IP address/);
    expect(() => pgTls(withParams(url, { sslnegotiation: "direct" }), {})).toThrow(/^TLS: URL parameter sslnegotiation .* is not supported by ferry: remove it$/);
    expect(() => pgTls(withParams(url, { ssl: "true" }), {})).toThrow(/^TLS: URL parameter ssl is node-postgres only and libpq refuses it/);
    expect(() => pgTls(withParams(url, { sslcert: "/tmp/client.pem" }), {})).toThrow(/^TLS: URL parameter sslcert \(client certificates\) is not supported by ferry/);
  });
});

const namedUrl = () => withParams(named.url(), { sslmode: "verify-full", sslrootcert: named.tls!.caFile });

describe("host names and hostaddr (the runner reaches RDS through a forward)", () => {
  // libpq counts the certificate's CN beside its SAN entry: "(and 1 other name)".
  const WRONG_NAME = new RegExp(`^TLS: the certificate of 127\\.0\\.0\\.1:\\d+/postgres is for ${RDS_NAME.replace(/\./g, "\\.")}( \\(and 1 other name\\))?, not 127\\.0\\.0\\.1: connect by a name in the certificate \\(add hostaddr=IP to go through a forward\\) or use sslmode=verify-ca$`);

  it("verify-full to an address the certificate does not name fails, naming both", async () => {
    matches(await throughNode(namedUrl()), WRONG_NAME);
    matches(await throughLibpq(namedUrl()), WRONG_NAME);
  });

  it("verify-ca checks the chain only", async () => {
    const url = withParams(namedUrl(), { sslmode: "verify-ca" });
    expect(await throughNode(url)).toBe("tls");
    expect(await throughLibpq(url)).toBe("tls");
  });

  it("verify-full through a forward: host is the certificate's name, hostaddr the forward", async () => {
    const u = new URL(namedUrl());
    u.hostname = RDS_NAME;
    u.port = String(forward.port);
    u.searchParams.set("hostaddr", "127.0.0.1");
    expect(await throughNode(u.toString())).toBe("tls");
    expect(await throughLibpq(u.toString())).toBe("tls");
    const c = await connect(u.toString());
    try {
      const { rows } = await c.query<{ port: number }>("SELECT current_setting('port')::int AS port");
      expect(rows[0].port).toBe(named.port);
    } finally {
      await c.end();
    }
  });
});

describe("the ferry CLI and pg_dump", () => {
  it("ferry pg status: Heroku-like source without sslmode, RDS-like target with require (the reported failure)", async () => {
    const r = await runFerry(["--json", "pg", "status", "--strategy", "dump"], {
      FERRY_SOURCE_URL: heroku.url(),
      FERRY_TARGET_URL: withParams(rds.url(), { sslmode: "require" }),
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 60_000);

  it("ferry pg status: verify-full with the CA in FERRY_PG_CA_FILE; a wrong CA is one line", async () => {
    const env = { FERRY_SOURCE_URL: heroku.url(), FERRY_TARGET_URL: withParams(rds.url(), { sslmode: "verify-full" }) };
    const ok = await runFerry(["--json", "pg", "status", "--strategy", "dump"], { ...env, FERRY_PG_CA_FILE: rds.tls!.caFile });
    expect(ok.code).toBe(0);
    const bad = await runFerry(["pg", "status", "--strategy", "dump"], { ...env, FERRY_PG_CA_FILE: wrongCa });
    expect(bad.stderr.trimEnd().split("\n").pop()).toBe(`ferry: --target: TLS: the certificate of 127.0.0.1:${rds.port}/postgres is not signed by the CA in FERRY_PG_CA_FILE (${wrongCa}): give the CA that signed it (for RDS, the global bundle) in FERRY_PG_CA_FILE or sslrootcert`);
    expect(bad.code).toBe(1);
    for (const secret of [rds.password, heroku.password]) expect(bad.stdout + bad.stderr).not.toContain(secret);
  }, 60_000);

  it("pg_dump through ferry's tool runner, verify-full through the forward, and with a wrong CA", async () => {
    await named.query("CREATE TABLE IF NOT EXISTS tls_probe (id int PRIMARY KEY)");
    const u = new URL(namedUrl());
    u.hostname = RDS_NAME;
    u.port = String(forward.port);
    u.searchParams.set("hostaddr", "127.0.0.1");
    const { conninfo, env } = libpqArgs(u.toString());
    expect(conninfo).not.toContain(named.password);
    expect(await runTool("pg_dump", ["--dbname", conninfo, "--schema-only", "--table", "tls_probe"], env)).toContain("CREATE TABLE public.tls_probe");
    const wrong = libpqArgs(withParams(named.url(), { sslmode: "verify-ca", sslrootcert: wrongCa }));
    await expect(runTool("pg_dump", ["--dbname", wrong.conninfo, "--schema-only"], wrong.env)).rejects.toThrow(/^pg_dump: TLS: the certificate of 127\.0\.0\.1:\d+\/postgres is not signed by the CA in sslrootcert in the URL/);
  }, 60_000);
});

interface SeenSession { pid: number; app: string; ssl: boolean }

/** Distinct application names of the sessions seen (ferry-copy and the like count as ferry). */
const names = (sessions: SeenSession[]) => [...new Set(sessions.map((s) => (s.app.startsWith("ferry") ? "ferry" : s.app)))].sort();

/**
 * Every TCP client session on each of `servers` while `during` runs, sampled every few
 * ms from pg_stat_ssl joined with pg_stat_activity (ferry's sessions are gone once it
 * exits). A session seen plain even once is kept as plain.
 */
async function sessionsDuring<T>(servers: LocalPostgres[], during: () => Promise<T>): Promise<{ result: T; seen: SeenSession[][] }> {
  const samplers = await Promise.all(servers.map(async (s) => {
    const c = new Client({ connectionString: s.url(), ssl: { ca: readFileSync(s.tls!.caFile, "utf8"), checkServerIdentity: () => undefined } });
    await c.connect();
    return c;
  }));
  const seen = servers.map(() => new Map<number, SeenSession>());
  let running = true;
  const sampling = Promise.all(samplers.map(async (c, i) => {
    while (running) {
      const { rows } = await c.query<SeenSession>(`
        SELECT a.pid, a.application_name AS app, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.client_port IS NOT NULL AND a.pid <> pg_backend_pid()`);
      for (const row of rows) if (seen[i].get(row.pid)?.ssl !== false) seen[i].set(row.pid, row);
      await new Promise((r) => setTimeout(r, 2));
    }
  }));
  try {
    return { result: await during(), seen: seen.map((m) => [...m.values()]) };
  } finally {
    running = false;
    await sampling;
    await Promise.all(samplers.map((c) => c.end()));
  }
}

describe("a whole copy over TLS on both sides", () => {
  it.runIf(precondition(process.getuid?.() === 0, "root (the CA file is hidden in a directory only root reads)"))("physical: a CA file pg_basebackup (run as postgres) cannot read is named", async () => {
    const hidden = join(tempDir("root-only"), "ca.pem"); // a 0700 directory owned by root
    copyFileSync(rds.tls!.caFile, hidden);
    const dir = standbyPath();
    const sourceUrl = withParams(rds.url(), { sslmode: "verify-full", sslrootcert: hidden });
    await expect(replicatePhysical({ sourceUrl, targetUrl: await standbyUrl(rds), standbyDir: dir })).rejects.toThrow(
      `pg_basebackup: TLS: the CA file ${hidden} cannot be read by the program's user: make it readable (e.g. chmod 644, or copy it outside /root)`,
    );
  }, 60_000);

  it("dump strategy: Heroku-like source without sslmode, RDS-like target in verify-full with FERRY_PG_CA_FILE; every session ferry opened was encrypted", async () => {
    // Servers that also take plain connections (`host` beside `hostssl`): a session that
    // forgot TLS would get in here, and show up as such in pg_stat_ssl.
    const [source, target] = await Promise.all([
      startPostgres({ tls: { kind: "self-signed", required: false } }),
      startPostgres({ tls: { kind: "private-ca", hostnames: ["127.0.0.1", RDS_NAME], required: false } }),
    ]);
    try {
      for (const server of [source, target]) expect(await throughNode(withParams(server.url(), { sslmode: "disable" }))).toBe("plain");
      await Promise.all([source.query("CREATE DATABASE app"), target.query("CREATE DATABASE app")]);
      const sourceUrl = withDatabase(source.url(), "app");
      await createTestSchema(sourceUrl);
      await seedRows(sourceUrl, 200);
      const env = {
        FERRY_SOURCE_URL: sourceUrl,
        FERRY_TARGET_URL: withParams(withDatabase(target.url(), "app"), { sslmode: "verify-full" }),
        FERRY_PG_CA_FILE: target.tls!.caFile,
      };
      const { result: [copied, verified], seen } = await sessionsDuring([source, target], async () => [
        await runFerry(["--json", "pg", "replicate", "--strategy", "dump"], env),
        await runFerry(["--json", "pg", "verify"], env),
      ]);
      expect(copied.stderr).toBe("");
      expect(copied.code).toBe(0);
      expect(verified.code).toBe(0);
      expect(JSON.parse(verified.stdout).ok).toBe(true);
      // ferry's own sessions (node-postgres, named ferry*) and its libpq programs' were seen on each side, none in plain text.
      const [onSource, onTarget] = seen;
      expect(names(onSource)).toEqual(expect.arrayContaining(["ferry", "pg_dump"]));
      expect(names(onTarget)).toEqual(expect.arrayContaining(["ferry", "pg_restore"]));
      expect([...onSource, ...onTarget].filter((s) => !s.ssl)).toEqual([]);
    } finally {
      await Promise.all([source.stop("immediate"), target.stop("immediate")]);
    }
  }, 180_000);

  it("physical strategy: pg_basebackup in verify-full from a TLS-only primary; the standby streams over TLS", async () => {
    const dir = standbyPath();
    try {
      const sourceUrl = withParams(rds.url(), { sslmode: "verify-full", sslrootcert: rds.tls!.caFile });
      const r = await replicatePhysical({ sourceUrl, targetUrl: await standbyUrl(rds), standbyDir: dir });
      expect(r.created).toBe(true);
      // The walsender's row appears once the standby's walreceiver has connected.
      let ssl: boolean | undefined;
      await waitFor("the standby's walreceiver", async () => {
        [{ ssl } = { ssl: undefined }] = await rds.query<{ ssl: boolean }>("SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)");
        return ssl !== undefined;
      });
      expect(ssl).toBe(true);
    } finally {
      await stopStandby(dir).catch(() => undefined);
    }
  }, 180_000);
});
