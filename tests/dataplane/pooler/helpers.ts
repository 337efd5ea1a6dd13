// The pooler tests' world: a TLS source and target PostgreSQL (one private CA, as RDS
// serves), pooler replicas each run as `ferry pooler serve` (a real pgbouncer behind it)
// on their own certificate, and app clients that write through them and time every write.
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { withClient } from "../../../dataplane/postgres/connection";
import { freePort, makeCa, onExit, serverCertificate, tempDir, TlsFiles } from "../../../rehearsal/servers";

export const ADMIN_PASSWORD = "admin-\"pw' #;%-71f0";
export const CLIENT_PASSWORD = "client-pw 'x' \"y\" #9";
export const CLIENT_USER = "app";
export const ALIAS = "appdb";
/** For tests of the Redis proxy: pgbouncer starts without reaching its server, the Postgres half not under test. */
export const UNUSED_PG = "postgresql://app:unused@127.0.0.1:1/appdb?sslmode=require";

export interface PoolerCerts {
  tls: TlsFiles;
  ca: string;
}

/** The pooler's certificate (127.0.0.1), from a CA of its own: the app and ferry trust that CA. */
export async function poolerCertificate(): Promise<PoolerCerts> {
  const dir = tempDir("pooler-tls");
  const ca = await makeCa(dir, "pooler CA");
  const tls = await serverCertificate(dir, { kind: "private-ca", ca, hostnames: ["127.0.0.1"] });
  return { tls, ca: readFileSync(ca.caFile, "utf8") };
}

/** The server's CA as a file of its own. */
function writeCa(pem: string): string {
  const file = join(tempDir("pooler-server-ca"), "server-ca.pem");
  writeFileSync(file, pem);
  return file;
}

export interface Replica {
  /** The app's port (pgbouncer). */
  port: number;
  /** The Redis proxy's port, when started with `redis`. */
  redisPort?: number;
  /** https://127.0.0.1:port of the control API. */
  control: string;
  child: ChildProcess;
  log: string[];
  stop(): Promise<void>;
}

/** `ferry pooler serve` as a pooler task runs it, its secrets in the environment. */
export async function startReplica(
  certs: PoolerCerts, serverUrl: string, serverCa: string,
  opts: { poolMode?: "transaction" | "session"; serverCaFromFile?: boolean; redisUrl?: string } = {},
): Promise<Replica> {
  const [port, controlPort] = [await freePort(), await freePort()];
  const redisPort = opts.redisUrl ? await freePort() : undefined;
  const args = [
    join(__dirname, "../../../bin/ferry.js"), "--json", "pooler", "serve", "--database", ALIAS, "--client-user", CLIENT_USER,
    "--listen", "127.0.0.1", "--port", String(port), "--control-listen", "127.0.0.1", "--control-port", String(controlPort),
    "--pool-mode", opts.poolMode ?? "transaction", "--pool-size", "5", "--query-wait-timeout", "30", "--run-as", "postgres",
    ...(redisPort ? ["--redis-port", String(redisPort)] : []),
  ];
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      FERRY_POOLER_SERVER_URL: serverUrl,
      FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD,
      FERRY_POOLER_CLIENT_PASSWORD: CLIENT_PASSWORD,
      FERRY_POOLER_TLS_CERT: readFileSync(certs.tls.certFile, "utf8"),
      FERRY_POOLER_TLS_KEY: readFileSync(certs.tls.keyFile, "utf8"),
      // As a pooler task has it (components/target/pooler): a file, the RDS bundle being too large for a variable.
      ...(opts.serverCaFromFile ? { FERRY_POOLER_SERVER_CA_FILE: writeCa(serverCa) } : { FERRY_POOLER_SERVER_CA: serverCa }),
      ...(opts.redisUrl ? { FERRY_POOLER_REDIS_URL: opts.redisUrl } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const unhook = onExit(() => child.kill("SIGKILL"));
  const log: string[] = [];
  child.stderr.on("data", (d) => log.push(String(d)));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes('"serving": true')) resolve();
    });
    void exited.then(() => reject(new Error(`ferry pooler serve exited: ${log.join("")}`)));
  });
  return {
    port, redisPort, control: `https://127.0.0.1:${controlPort}`, child, log,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      unhook();
    },
  };
}

/** The app's URL at a replica (the alias, the client user), and its TLS: the pooler's CA, verified. */
export function appClient(replica: Replica, certs: PoolerCerts): Client {
  const c = new Client({
    host: "127.0.0.1", port: replica.port, database: ALIAS, user: CLIENT_USER, password: CLIENT_PASSWORD,
    ssl: { ca: certs.ca },
  });
  c.on("error", () => undefined);
  return c;
}

export interface Writers {
  acked: string[];
  failed: string[];
  /** The longest a write took, in ms: the wait a user would feel. */
  longestMs(): number;
  waitForMore(n: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `perReplica` clients on each replica, each on one connection for its whole life (as an
 * app's pool holds them), inserting one row per transaction and remembering which the
 * server acknowledged. A failed write is recorded, never retried.
 */
export async function startWriters(replicas: Replica[], certs: PoolerCerts, perReplica: number): Promise<Writers> {
  const acked: string[] = [];
  const failed: string[] = [];
  let longest = 0;
  let running = true;
  const run = randomBytes(4).toString("hex");
  const clients = replicas.flatMap((r) => Array.from({ length: perReplica }, () => appClient(r, certs)));
  await Promise.all(clients.map((c) => c.connect()));
  const loops = clients.map(async (c, w) => {
    for (let i = 0; running; i++) {
      const token = `${run}-w${w}-${i}`;
      const t0 = Date.now();
      try {
        await c.query("INSERT INTO audit_log (actor, token) VALUES ($1, $2)", [`writer-${w}`, token]);
        acked.push(token);
      } catch (err) {
        failed.push(`${token}: ${(err as Error).message}`);
      }
      longest = Math.max(longest, Date.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  return {
    acked, failed,
    longestMs: () => longest,
    waitForMore: async (n) => {
      const want = acked.length + n;
      const deadline = Date.now() + 30_000;
      while (acked.length < want) {
        if (Date.now() > deadline) throw new Error(`writers stalled at ${acked.length} acknowledged writes (${failed.length} failed)`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    },
  };
}

/** The acknowledged tokens missing from `url`'s audit_log. */
export async function missingTokens(url: string, tokens: string[]): Promise<string[]> {
  const found = await withClient(url, (c) => c.query<{ token: string }>("SELECT token FROM audit_log WHERE token = ANY($1)", [tokens]));
  const present = new Set(found.rows.map((r) => r.token));
  return tokens.filter((t) => !present.has(t));
}

/** Can a fresh session on `url` (TLS as the URL says) commit a write? Rolled back: nothing is left behind. */
export async function canWriteTls(url: string): Promise<boolean> {
  return withClient(url, async (c) => {
    try {
      await c.query("BEGIN");
      await c.query("INSERT INTO audit_log (actor, token) VALUES ('probe', 'probe')");
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === "25006") return false; // read-only: fenced
      throw err;
    } finally {
      await c.query("ROLLBACK");
    }
  });
}
