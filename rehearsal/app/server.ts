// The rehearsal's app: a tiny Mastodon. POST /statuses inserts a status without
// naming its id (the sequence picks it), pushes it to the followers' home feeds in
// Redis and enqueues a job; GET /feeds/:account reads a home feed. A write is
// acknowledged (201 with the id) only after the row is committed.
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { Client, Pool } from "pg";
import { clientConfig } from "../../dataplane/postgres/connection";
import { Attempt, PgTls, pgTls } from "../../dataplane/postgres/tls";
import Redis from "ioredis";
import { AppConfig } from "./config";
import { followerIds, feedKey, pushToFeeds } from "./feeds";
import { enqueue, startWorker } from "./queue";
import { startTicker } from "./ticker";
import { quoteSchema } from "./schema";
import { MaintenanceFlag, watchMaintenance } from "./maintenance";

export interface RunningApp {
  server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, name: string): void {
  res.writeHead(status, { "content-type": "application/json", "x-served-by": name, connection: res.shouldKeepAlive ? "keep-alive" : "close" });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
}

/** A database or Redis that refuses writes is the fence or a cutover in progress: 503, retry later. */
function failure(err: unknown): { status: number; error: string } {
  const message = err instanceof Error ? err.message : String(err);
  return { status: 503, error: message.split("\n")[0] };
}

/**
 * libpq's order of attempts (prefer: TLS, then plain); the last one when none connects yet.
 * A round where none connects (a TLS handshake slower than the timeout on a busy machine,
 * the plain one refused by a TLS-only server) is tried again: settling on plain then would
 * fail every query of the process's life ("no pg_hba.conf entry ... no encryption").
 */
export async function workingAttempt(url: string, tls: PgTls): Promise<Attempt> {
  for (let round = 0; round < 5; round++) {
    for (const attempt of tls.attempts) {
      const client = new Client(clientConfig(url, tls, attempt, { connectionTimeoutMillis: 2000 }));
      try {
        await client.connect();
        return attempt;
      } catch {
        // try the next one
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }
  return tls.attempts[tls.attempts.length - 1];
}

export async function startApp(config: AppConfig): Promise<RunningApp> {
  const s = quoteSchema(config.schema);
  // The app reads its URL as libpq would (a Heroku URL has no sslmode: TLS is tried
  // first, and a server without TLS is then reached in the clear): the pool uses the
  // first attempt that connects, found once at start.
  const tls = pgTls(config.databaseUrl);
  const db = new Pool({ ...clientConfig(config.databaseUrl, tls, await workingAttempt(config.databaseUrl, tls)), max: 8, connectionTimeoutMillis: 2000, statement_timeout: 5000, application_name: `rehearsal-${config.name}` });
  // Terminated sessions (the cutover fence does that) surface here; the pool replaces them.
  db.on("error", () => undefined);
  const redisOpts = { maxRetriesPerRequest: 1, connectTimeout: 2000, enableOfflineQueue: true };
  const redis = new Redis(config.redisUrl, redisOpts);
  const workerRedis = new Redis(config.redisUrl, redisOpts);
  redis.on("error", () => undefined);
  workerRedis.on("error", () => undefined);
  const stopWorker = config.worker ? startWorker(workerRedis) : async () => undefined;
  const stopTicker = config.worker && config.tickFile ? startTicker(workerRedis, config.name, config.tickFile) : async () => undefined;
  const maintenance: MaintenanceFlag | undefined = config.heroku ? watchMaintenance(config.heroku) : undefined;

  const postStatus = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJson(req);
    const accountId = Number(body.account_id);
    const text = String(body.text ?? "");
    if (!Number.isInteger(accountId) || !text) return send(res, 422, { error: "account_id and text are required" }, config.name);
    const { rows } = await db.query(`INSERT INTO ${s}.statuses (account_id, text) VALUES ($1, $2) RETURNING id::text AS id`, [accountId, text]);
    const id = rows[0].id as string;
    const owners = [String(accountId), ...(await followerIds(db, config.schema, accountId))];
    await pushToFeeds(redis, id, owners);
    const multi = redis.multi();
    enqueue(multi, "DistributionWorker", [id]);
    await multi.exec();
    send(res, 201, { id, text, account_id: accountId }, config.name);
  };

  const readFeed = async (accountId: number, res: ServerResponse) => {
    const ids = await redis.zrevrange(feedKey(accountId), 0, 19);
    const { rows } = ids.length
      ? await db.query(`SELECT id::text AS id, account_id, text FROM ${s}.statuses WHERE id = ANY($1::bigint[]) ORDER BY id DESC`, [ids])
      : { rows: [] };
    send(res, 200, { account_id: accountId, statuses: rows }, config.name);
  };

  let closing = false;
  const server = createServer((req, res) => {
    // Shutting down: answer, then drop the connection. server.close() only refuses new
    // connections, so a client keeping its keep-alive connection busy would be served on
    // and on, and close() would not end while it keeps sending.
    if (closing) res.shouldKeepAlive = false;
    const url = new URL(req.url ?? "/", "http://app");
    const handle = async () => {
      // Each process type's health path (web's /health, streaming's /api/v1/streaming/health).
      if (url.pathname.endsWith("/health")) return send(res, 200, { name: config.name }, config.name);
      if (maintenance?.on()) return send(res, 503, { error: "application in maintenance" }, config.name);
      if (req.method === "POST" && url.pathname === "/statuses") return postStatus(req, res);
      const feed = /^\/feeds\/(\d+)$/.exec(url.pathname);
      if (req.method === "GET" && feed) return readFeed(Number(feed[1]), res);
      send(res, 404, { error: "not found" }, config.name);
    };
    handle().catch((err) => {
      const f = failure(err);
      if (!res.headersSent) send(res, f.status, { error: f.error }, config.name);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, "127.0.0.1", () => resolve());
  });
  return {
    server,
    close: async () => {
      maintenance?.stop();
      closing = true;
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeIdleConnections();
      });
      await stopTicker();
      await stopWorker();
      redis.disconnect();
      workerRedis.disconnect();
      await db.end().catch(() => undefined);
    },
  };
}
