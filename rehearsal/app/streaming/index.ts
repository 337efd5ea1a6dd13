// The app's streaming server, shaped like Mastodon's (streaming/index.js): node-postgres
// with DATABASE_URL exactly as the platform hands it over, whatever sslmode it carries
// (`new pg.Pool({ connectionString })`, no ssl object of its own), and Redis pub/sub with
// ioredis. A stream opens once the account is found in Postgres and its timeline channel
// is subscribed in Redis: then `:)` and the events, as Server-Sent Events.
//
// Built into the slug as streaming/index.js (esbuild, with pg and ioredis from the lock
// file), started by `node ./streaming/index.js`.
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import pg from "pg";
import Redis from "ioredis";

const env = process.env;
const port = Number(env.PORT ?? 4000);
const schema = env.APP_SCHEMA ?? "public";
if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`APP_SCHEMA: not a schema name: ${schema}`);
const servedBy = env.APP_NAME ?? env.DYNO ?? "streaming";

/**
 * Heroku Key-Value Store's certificate is self-signed; Heroku tells Node users to turn
 * verification off for it (https://devcenter.heroku.com/articles/connecting-heroku-redis#connecting-in-node-js).
 * Only for Heroku's hosts, as the Rails side does (app/lib/redis_configuration.rb).
 */
function redisOptions(url: string): { tls?: { rejectUnauthorized: boolean } } {
  const u = new URL(url);
  return u.protocol === "rediss:" && /\.compute(-1)?\.amazonaws\.com$/.test(u.hostname) ? { tls: { rejectUnauthorized: false } } : {};
}

/**
 * libpq's host list: in the URL's query (`?host=a,b`), or in PGHOST when the URL names no
 * host (ferry's pooler: `postgresql:///db?user=...` with every replica in PGHOST, since
 * Rails cannot read a list inside the URL). node-postgres takes one host, so the server keeps
 * one pool per host and tries them in order, as libpq does: the next host only when a
 * connection to this one cannot be made (docs/pooler.md, "A Node client"). One host is one
 * pool, as before; node-postgres reads PGPORT and PGPASSWORD itself.
 */
function urlsPerHost(url: string): string[] {
  const u = new URL(url);
  const list = u.searchParams.get("host") ?? (u.hostname ? "" : env.PGHOST ?? "");
  const hosts = list.split(",").filter(Boolean);
  if (hosts.length < 2) return [url];
  return hosts.map((h) => {
    const one = new URL(url);
    one.searchParams.set("host", h);
    return one.toString();
  });
}

const pools = urlsPerHost(env.DATABASE_URL ?? "").map((connectionString) => {
  const p = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 5000 });
  // A terminated session (the cutover's fence) surfaces here; the pool replaces it.
  p.on("error", (err) => process.stderr.write(`streaming: postgres: ${err.message}\n`));
  return p;
});

/** No connection could be made to that host (down, unknown, not answering): the next one is tried. */
const unreachable = (err: unknown) => ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ECONNRESET"].includes((err as { code?: string }).code ?? "")
  || /timeout exceeded when trying to connect/.test((err as Error).message);

const pool = {
  async query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    let last: unknown;
    for (const p of pools) {
      try {
        return await p.query(text, values);
      } catch (err) {
        if (!unreachable(err)) throw err;
        last = err;
      }
    }
    throw last;
  },
  end: () => Promise.all(pools.map((p) => p.end())),
};

const redisUrl = env.REDIS_URL ?? "";
const subscriber = new Redis(redisUrl, { ...redisOptions(redisUrl), maxRetriesPerRequest: 1, connectTimeout: 3000 });
subscriber.on("error", (err) => process.stderr.write(`streaming: redis: ${err.message}\n`));

/** Listeners per channel: one Redis subscription per channel, however many streams. */
const listeners = new Map<string, Set<(message: string) => void>>();
subscriber.on("message", (channel: string, message: string) => {
  for (const l of listeners.get(channel) ?? []) l(message);
});

async function subscribe(channel: string, listener: (message: string) => void): Promise<() => void> {
  let set = listeners.get(channel);
  if (!set) {
    set = new Set();
    listeners.set(channel, set);
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      listeners.delete(channel);
      throw err;
    }
  }
  set.add(listener);
  return () => {
    set!.delete(listener);
    if (set!.size === 0 && listeners.get(channel) === set) {
      listeners.delete(channel);
      subscriber.unsubscribe(channel).catch(() => undefined);
    }
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "x-served-by": servedBy });
  res.end(JSON.stringify(body));
}

const streams = new Set<ServerResponse>();

/** GET /api/v1/streaming/user?account_id=N: the account's home timeline as Server-Sent Events. */
async function userStream(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const accountId = Number(url.searchParams.get("account_id"));
  if (!Number.isInteger(accountId)) return json(res, 400, { error: "account_id is required" });
  const { rows } = await pool.query(`SELECT id FROM ${schema === "public" ? "public" : `"${schema}"`}.accounts WHERE id = $1`, [accountId]);
  if (!rows.length) return json(res, 401, { error: "Invalid access token" });
  const unsubscribe = await subscribe(`timeline:${accountId}`, (message) => {
    const { event, payload } = JSON.parse(message) as { event: string; payload: unknown };
    res.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`);
  });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "private, no-store", "x-served-by": servedBy, "x-accel-buffering": "no" });
  res.write(":)\n");
  streams.add(res);
  const heartbeat = setInterval(() => res.write(":thump\n"), 15_000);
  req.on("close", () => {
    clearInterval(heartbeat);
    streams.delete(res);
    unsubscribe();
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://streaming");
  const handle = async () => {
    if (url.pathname === "/api/v1/streaming/health") {
      res.writeHead(200, { "content-type": "text/plain", "x-served-by": servedBy });
      return void res.end("OK");
    }
    if (req.method === "GET" && url.pathname === "/api/v1/streaming/user") return userStream(req, res, url);
    json(res, 404, { error: "Not found" });
  };
  handle().catch((err: Error) => {
    process.stderr.write(`streaming: ${req.url}: ${err.message}\n`);
    if (!res.headersSent) json(res, 503, { error: err.message.split("\n")[0] });
    else res.end();
  });
});

server.listen(port, env.BIND ?? "127.0.0.1", () => process.stdout.write(`streaming: listening on ${port}\n`));

function shutdown(): void {
  server.close();
  for (const res of streams) res.end();
  server.closeIdleConnections();
  Promise.allSettled([pool.end(), subscriber.quit()]).then(() => process.exit(0));
}
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
