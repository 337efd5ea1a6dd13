// The pooler's Redis half (docs/pooler.md, "The Redis half"), for real: `ferry pooler
// serve --redis-port` (a real pgbouncer beside it) in front of a Heroku-like source (TLS
// on a self-signed certificate, a password, SYNC/PSYNC/CONFIG/ACL refused) and an
// ElastiCache-like target (TLS on a private CA, its own password), with ioredis clients
// (RESP2 and RESP3, as ioredis and Sidekiq's redis-client speak) going through it. The
// last test is the whole cutover: ferry's own copy, then `ferry cutover --pooler-redis`
// while writers, a blocking BRPOP worker and subscribers keep going: no command fails,
// no client reconnects, and every acknowledged write is on the target.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { connect as tlsConnect, TLSSocket } from "node:tls";
import Redis, { RedisOptions } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HEROKU_REDIS_REFUSES, LocalRedis, startRedis, tempDir } from "../../../rehearsal/servers";
import { pooler } from "../../../dataplane/cli/contract";
import { pauseAll, poolerStatus, resumeAll, switchAll } from "../../../dataplane/pooler/replicas";
import { eventually } from "../../support/eventually";
import { findLeaks } from "../../safety/leaks";
import { ferry } from "../redis/helpers";
import { ADMIN_PASSWORD, CLIENT_PASSWORD, CLIENT_USER, poolerCertificate, PoolerCerts, Replica, startReplica, UNUSED_PG } from "./helpers";

/** Spaces, # and % must survive the URL and the AUTH (the stand-in's config file cannot carry quotes). */
const SOURCE_PASSWORD = "heroku redis pw #1 %x";
const TARGET_PASSWORD = "elasticache-auth-token-0123456789";

let certs: PoolerCerts;
let source: LocalRedis;
let target: LocalRedis;
let replica: Replica;
/** Both servers' certificates in one PEM file: ferry's own copy and cutover check both. */
let bundle: string;

const sourceProxyUrl = () => `${source.url()}?ssl_cert_reqs=none`;
const replicas = () => ({ urls: [replica.control], caFile: certs.tls.caFile });

/** What the test opened, closed at the end. */
const opened: Redis[] = [];

/** An app client of the proxy: the pooler's CA, the client login; no retry, so nothing is hidden. */
function viaProxy(opts: RedisOptions = {}): Redis {
  const c = new Redis({
    host: "127.0.0.1", port: replica.redisPort, username: CLIENT_USER, password: CLIENT_PASSWORD, tls: { ca: certs.ca },
    maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false, ...opts,
  });
  c.on("error", () => undefined);
  opened.push(c);
  return c;
}

/** A plain client of a server itself (not through the proxy). */
function direct(server: LocalRedis, db = 0): Redis {
  const c = new Redis(server.url(db), { tls: { ca: server.caCert }, retryStrategy: () => null, protocol: 2 });
  c.on("error", () => undefined);
  opened.push(c);
  return c;
}

/** A raw TLS connection: bytes in, bytes out, nothing interpreted. */
async function rawClient(port: number, ca: string): Promise<{ socket: TLSSocket; received: () => string; send: (s: string) => void; waitFor: (text: string) => Promise<string>; closed: Promise<void> }> {
  const socket = tlsConnect({ host: "127.0.0.1", port, ca });
  let got = "";
  socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  await new Promise<void>((r, j) => {
    socket.once("secureConnect", () => r());
    socket.once("error", j);
  });
  return {
    socket, received: () => got, send: (s) => socket.write(s), closed,
    waitFor: (text) => eventually(`the reply ${JSON.stringify(text)}`, () => (got.includes(text) ? got : undefined), { timeoutMs: 10_000 }),
  };
}

/** The control API directly: its HTTP status too. */
function control(path: string, body?: object): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = body ? JSON.stringify(body) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, replica.control), {
      method: body ? "POST" : "GET", ca: certs.ca,
      headers: { authorization: `Bearer ${ADMIN_PASSWORD}`, ...(payload ? { "content-type": "application/json" } : {}) },
    }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** One plain client per server, for the checks that read its state. */
const admins = new Map<LocalRedis, Redis>();
const adminOf = (server: LocalRedis) => admins.get(server) ?? admins.set(server, direct(server)).get(server)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until each named client's upstream is blocked on `server` (CLIENT LIST's flag b). */
async function blockedOn(server: LocalRedis, ...names: string[]): Promise<void> {
  const admin = adminOf(server);
  await eventually(`${names.join(", ")} blocked on the server`, async () => {
    const list = String(await admin.call("CLIENT", "LIST"));
    return names.every((n) => new RegExp(`name=${n} [^\n]*flags=[a-zA-Z]*b`).test(list));
  });
}

/** How often `server` ran a command (INFO commandstats; a subcommand is `client|unblock`). */
async function calls(server: LocalRedis, command: string): Promise<number> {
  const stats = String(await adminOf(server).info("commandstats"));
  return Number(new RegExp(`cmdstat_${command.replace("|", "\\|")}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
}

async function blockedClients(server: LocalRedis): Promise<number> {
  return Number(/blocked_clients:(\d+)/.exec(String(await adminOf(server).info("clients")))?.[1]);
}

/** Paused, pointed at `url`, resumed: how the tests move the proxy between servers. */
async function moveProxy(url: string, port: number): Promise<void> {
  const paused = await control("/redis/pause", { timeoutMs: 5000 });
  expect(paused.status, JSON.stringify(paused.body)).toBe(200);
  expect((await control("/redis/repoint", { url })).body).toMatchObject({ port });
  expect((await control("/redis/resume", {})).body).toMatchObject({ resumed: true, port });
}

const proxyStatus = async () => (await control("/redis/status")).body as { paused: boolean; unblocked: number; resent: number; inFlight: number; held: number; unblockRefused?: string; port: number };

/** `ferry pooler <step> --store redis`, as the contract builds it. */
function poolerStep(command: { argv: string[] }, env: Record<string, string> = {}) {
  expect(command.argv.join(" ")).not.toContain(ADMIN_PASSWORD);
  return ferry(command.argv.slice(1), { FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env });
}

beforeAll(async () => {
  certs = await poolerCertificate();
  [source, target] = await Promise.all([
    startRedis({
      tls: true, password: SOURCE_PASSWORD, disableCommands: [...HEROKU_REDIS_REFUSES],
      settings: { "notify-keyspace-events": "KA" }, // `heroku redis:keyspace-notifications -c KA`, which ferry's copy needs
    }),
    startRedis({ tls: { kind: "private-ca" }, password: TARGET_PASSWORD }),
  ]);
  bundle = join(tempDir("redis-proxy-ca"), "bundle.pem");
  writeFileSync(bundle, `${source.caCert}${target.caCert}`);
  replica = await startReplica(certs, UNUSED_PG, target.caCert!, { redisUrl: sourceProxyUrl() });
}, 60_000);

// A test that fails while the proxy is paused fails alone: the next one starts on a resumed proxy.
afterEach(async () => {
  if (replica && (await proxyStatus()).paused) await control("/redis/resume", {});
});

afterAll(async () => {
  for (const c of opened) c.disconnect();
  await replica?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
}, 30_000);

describe("the pooler's Redis proxy", () => {
  it("answers a client that is not logged in, or logs in wrongly, with the very bytes Redis answers", async () => {
    const asked = "GET k\r\nAUTH wrong\r\nHELLO 3 AUTH default wrong\r\nHELLO 3\r\n";
    const answers: string[] = [];
    // A real Redis with a password first (the source, TLS on its self-signed certificate), then the proxy.
    for (const [port, ca] of [[source.port, source.caCert!], [replica.redisPort!, certs.ca]] as const) {
      const raw = await rawClient(port, ca);
      raw.send(asked);
      answers.push(await eventually("four error replies", () => (raw.received().split("\r\n").length > 4 ? raw.received() : undefined), { timeoutMs: 10_000 }));
      raw.socket.destroy();
    }
    expect(answers[1]).toBe(answers[0]);
    expect(answers[1]).toMatch(/^-NOAUTH Authentication required\.\r\n-WRONGPASS invalid username-password pair or user is disabled\.\r\n-WRONGPASS/);

    // ioredis with a wrong password (HELLO 3 AUTH, its default) sees what it sees from Redis itself.
    const seen: string[][] = [];
    for (const options of [{ port: source.port, tls: { ca: source.caCert } }, { port: replica.redisPort }]) {
      const errors: string[] = [];
      const wrong = viaProxy({ ...options, username: undefined, password: "not-the-password", lazyConnect: true, retryStrategy: () => null });
      wrong.on("error", (err: Error) => errors.push(err.message));
      await wrong.connect().catch((err: Error) => errors.push(`connect: ${err.message}`));
      await eventually("ioredis's error", () => errors.some((m) => /WRONGPASS/.test(m)));
      seen.push(errors);
    }
    expect(seen[1]).toEqual(seen[0]);
    expect(await viaProxy().ping()).toBe("PONG");
  });

  it("forwards byte for byte: a 5 MB binary value, a 1,000-command pipeline, an inline command, RESP3 maps", async () => {
    const c = viaProxy();
    const value = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7919) & 0xff;
    await c.set("big:value", value);
    expect((await c.getBuffer("big:value"))!.equals(value)).toBe(true);
    const p = c.pipeline();
    for (let i = 0; i < 1000; i++) p.incr("pipelined");
    expect((await p.exec())!.map(([err, n]) => (err ? String(err) : n))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    await c.hset("h", { a: "1", b: "2" });
    expect(await viaProxy({ protocol: 3, replyMapping: "resp3" }).hgetall("h")).toEqual({ a: "1", b: "2" });
    const raw = await rawClient(replica.redisPort!, certs.ca);
    raw.send(`*3\r\n$4\r\nAUTH\r\n$${CLIENT_USER.length}\r\n${CLIENT_USER}\r\n$${Buffer.byteLength(CLIENT_PASSWORD)}\r\n${CLIENT_PASSWORD}\r\nSET inline 1\r\nGET inline\r\n`);
    expect(await raw.waitFor("$1\r\n1\r\n")).toBe("+OK\r\n+OK\r\n$1\r\n1\r\n");
    raw.socket.destroy();
    await c.del("big:value", "pipelined", "h", "inline");
  });

  it("pause ends a blocked BRPOP 5 and a BLPOP 0 (forever) with CLIENT UNBLOCK and sends them again at the resume, holds new commands until resume, and a MULTI left open (a BRPOP queued in it) times out (409) and resumes", async () => {
    const worker = viaProxy({ connectionName: "idle-brpop" });
    const forever = viaProxy({ connectionName: "forever-blpop" });
    const other = viaProxy();
    await other.ping();
    const replies: string[] = [];
    // 5 s, not 1: the pause is a `ferry` process, whose first start in a fresh checkout
    // builds its bundle; a BRPOP that timed out on its own first would not be unblocked.
    const popped = worker.brpop("queue:empty", 5).then((r) => (replies.push("brpop"), r));
    const waited = forever.blpop("forever:list", 0).then((r) => (replies.push("blpop"), r));
    await blockedOn(source, "idle-brpop", "forever-blpop");
    const [unblockCalls, before] = [await calls(source, "client|unblock"), await proxyStatus()];
    const paused = await poolerStep(pooler.pause(replicas(), 5, "redis"));
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout).steps[0].detail).toMatch(/, 2 blocked command\(s\) unblocked, to be sent again at the resume$/);
    // Ended on the server, by CLIENT UNBLOCK, and their nulls never reached the clients.
    expect(await blockedClients(source)).toBe(0);
    expect(await calls(source, "client|unblock")).toBeGreaterThanOrEqual(unblockCalls + 2);
    expect(await proxyStatus()).toMatchObject({ inFlight: 0, unblocked: before.unblocked + 2, resent: before.resent });
    expect(replies).toEqual([]);
    let answered = false;
    const held = other.incr("held:counter").then((n) => ((answered = true), n));
    await eventually("the INCR held", async () => (await control("/redis/status")).body.held === 1);
    // Clients that arrive while paused: AUTH is the proxy's to answer, so it is answered;
    // the first command that must reach the server waits (ioredis's HELLO 3 among them).
    const late = await rawClient(replica.redisPort!, certs.ca);
    late.send(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(CLIENT_PASSWORD)}\r\n${CLIENT_PASSWORD}\r\nGET held:counter\r\n`);
    await late.waitFor("+OK\r\n");
    const arriving = viaProxy({ lazyConnect: true });
    let ready = false;
    const connecting = arriving.connect().then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 300));
    expect([answered, ready, late.received()]).toEqual([false, false, "+OK\r\n"]);
    const whilePaused = (await control("/redis/status")).body;
    expect(whilePaused.paused).toBe(true);
    // The INCR, the late GET, and ioredis's connection setup (HELLO, then CLIENT SETINFO ...).
    expect(whilePaused.held).toBeGreaterThanOrEqual(3);
    const resumed = await poolerStep(pooler.resume(replicas(), "redis"));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await held).toBe(1);
    await connecting;
    expect(await late.waitFor("+OK\r\n$1\r\n1\r\n")).toBe("+OK\r\n$1\r\n1\r\n");
    late.socket.destroy();
    // Sent again: the BRPOP with what was left of its 5 s (its client sees one longer
    // BRPOP and its nil), the BLPOP with 0 again, blocked until something is pushed.
    expect((await proxyStatus()).resent).toBe(before.resent + 2);
    expect(await popped).toBeNull();
    await blockedOn(source, "forever-blpop");
    await direct(source).lpush("forever:list", "at-last");
    expect(await waited).toEqual(["forever:list", "at-last"]);
    expect(replies).toEqual(["brpop", "blpop"]);
    const unblockedSoFar = (await proxyStatus()).unblocked;

    const open = viaProxy({ protocol: 2 });
    expect(await open.call("MULTI")).toBe("OK");
    expect(await open.call("INCR", "tx:left-open")).toBe("QUEUED");
    expect(await open.call("BRPOP", "queue:empty", "1")).toBe("QUEUED"); // queued, it blocks nothing: left alone
    const timedOut = await poolerStep(pooler.pause(replicas(), 1, "redis"));
    expect(timedOut.code).toBe(1);
    expect(JSON.parse(timedOut.stdout).error).toMatch(/^could not pause every pooler replica \(pooler 127\.0\.0\.1:\d+: the Redis proxy's pause did not complete within 1 s: 0 command\(s\) still in flight .*, 1 client\(s\) inside MULTI or WATCH; resumed\); every replica was resumed/);
    const direct409 = await control("/redis/pause", { timeoutMs: 300 });
    expect(direct409.status).toBe(409);
    expect((await control("/redis/status")).body).toMatchObject({ paused: false, openTransactions: 1, unblocked: unblockedSoFar });
    expect(await other.incr("held:counter")).toBe(2); // nothing stays held after a failed pause
    expect(await open.call("EXEC")).toEqual([1, null]);
    await other.del("held:counter", "tx:left-open");
  });

  it("two idle workers' BRPOP q 2: the pause ends both, they move with the repoint, and a job pushed on the target reaches one of them, once", async () => {
    // RESP2 and RESP3: the null a timeout answers is `*-1` in one, `_` in the other.
    const workers = (["idle-1", "idle-2"] as const).map((name, i) => viaProxy({ connectionName: name, protocol: i === 0 ? 2 : 3 }));
    const fetches = workers.map((w) => w.brpop("jobs:moved", 2));
    await blockedOn(source, "idle-1", "idle-2");
    const before = await proxyStatus();
    const [unblockCalls, targetBrpops] = [await calls(source, "client|unblock"), await calls(target, "brpop")];
    const paused = await control("/redis/pause", { timeoutMs: 5000 });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ unblockedByPause: 2, inFlight: 0, held: 0 });
    expect(await blockedClients(source)).toBe(0);
    expect(await calls(source, "client|unblock")).toBeGreaterThanOrEqual(unblockCalls + 2);
    expect((await control("/redis/repoint", { url: target.url() })).body).toMatchObject({ changed: true, port: target.port });
    await adminOf(target).lpush("jobs:moved", "job-1");
    expect((await control("/redis/resume", {})).body).toMatchObject({ resumed: true, resent: before.resent + 2 });
    const got = await Promise.all(fetches);
    // One worker got the job, once; the other its nil once what was left of its 2 s ran out.
    expect(got.filter((g) => g !== null)).toEqual([["jobs:moved", "job-1"]]);
    expect(got.filter((g) => g === null)).toHaveLength(1);
    expect(await adminOf(target).llen("jobs:moved")).toBe(0);
    expect(await calls(target, "brpop")).toBe(targetBrpops + 2); // both sent again, on the target
    await moveProxy(sourceProxyUrl(), source.port);
  });

  it("a job pushed at the moment of the unblock reaches the worker exactly once, whichever of the two the server runs first (40 rounds)", async () => {
    const worker = viaProxy({ connectionName: "racer" });
    const [pusher, pauser] = [direct(source), direct(source)];
    const won = { byJob: 0, byUnblock: 0 };
    for (let i = 0; i < 40; i++) {
      const job = `race-${i}`;
      const fetched = worker.brpop("race:q", 3);
      await blockedOn(source, "racer");
      const resentBefore = (await proxyStatus()).resent;
      // The server holds every command for 200 ms, then runs them in the order they came:
      // the LPUSH before the proxy's CLIENT UNBLOCK in even rounds, after it in odd ones.
      expect(await pauser.call("CLIENT", "PAUSE", "200", "ALL")).toBe("OK");
      const jobFirst = i % 2 === 0;
      const pushed = jobFirst ? pusher.lpush("race:q", job) : undefined;
      if (jobFirst) await sleep(50);
      const pausing = control("/redis/pause", { timeoutMs: 5000 });
      await sleep(50);
      const paused = await Promise.all([pausing, pushed ?? pusher.lpush("race:q", job)]).then(([p]) => p);
      expect(paused.status, JSON.stringify(paused.body)).toBe(200);
      expect((await control("/redis/resume", {})).status).toBe(200);
      expect(await fetched).toEqual(["race:q", job]);
      if ((await proxyStatus()).resent > resentBefore) won.byUnblock++;
      else won.byJob++;
    }
    expect(await adminOf(source).llen("race:q")).toBe(0); // nothing left behind, nothing popped twice (each round's fetch got its own job)
    console.log(`race: ${won.byJob} round(s) the job came first (the BRPOP's element forwarded), ${won.byUnblock} the unblock did (sent again, the job popped then)`);
    expect(won.byJob).toBeGreaterThan(0);
    expect(won.byUnblock).toBeGreaterThan(0);
  }, 60_000);

  it("a pause that times out (a MULTI left open) sends the BRPOP it unblocked again at its resume, and the job pushed then reaches the worker", async () => {
    const worker = viaProxy({ connectionName: "late-worker" });
    const holder = viaProxy({ protocol: 2 });
    expect(await holder.call("MULTI")).toBe("OK");
    const fetched = worker.brpop("late:q", 5);
    await blockedOn(source, "late-worker");
    const before = await proxyStatus();
    const late = await control("/redis/pause", { timeoutMs: 500 });
    expect(late.status).toBe(409);
    expect(await proxyStatus()).toMatchObject({ paused: false, unblocked: before.unblocked + 1, resent: before.resent + 1 });
    await blockedOn(source, "late-worker"); // sent again, blocked again
    await adminOf(source).lpush("late:q", "job-late");
    expect(await fetched).toEqual(["late:q", "job-late"]);
    expect(await holder.call("DISCARD")).toBe("OK");
  });

  it("a command pipelined after a BRPOP keeps its order: the pause waits for the BRPOP instead of unblocking it", async () => {
    const raw = await rawClient(replica.redisPort!, certs.ca);
    raw.send(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(CLIENT_PASSWORD)}\r\n${CLIENT_PASSWORD}\r\nBRPOP order:q 1\r\nSET order:after 1\r\n`);
    await raw.waitFor("+OK\r\n");
    await eventually("both in flight", async () => (await proxyStatus()).inFlight === 2);
    const paused = await control("/redis/pause", { timeoutMs: 5000 });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.unblockedByPause).toBe(0);
    expect(await raw.waitFor("+OK\r\n*-1\r\n+OK\r\n")).toBe("+OK\r\n*-1\r\n+OK\r\n");
    expect((await control("/redis/resume", {})).status).toBe(200);
    raw.socket.destroy();
    await adminOf(source).del("order:after");
  });

  it("where the server refuses CLIENT UNBLOCK (a user without @dangerous, as an ElastiCache RBAC access string may have), the pause waits for the BRPOP as before and says why", async () => {
    await adminOf(target).call("ACL", "SETUSER", "no-dangerous", "on", ">no-dangerous-pw-0123", "~*", "&*", "+@all", "-@dangerous");
    await moveProxy(`rediss://no-dangerous:no-dangerous-pw-0123@127.0.0.1:${target.port}/0`, target.port);
    try {
      const worker = viaProxy({ connectionName: "limited-worker", enableReadyCheck: false }); // INFO is @dangerous too
      const fetched = worker.brpop("limited:q", 1);
      await blockedOn(target, "limited-worker");
      const paused = await poolerStep(pooler.pause(replicas(), 5, "redis"));
      expect(paused.code, paused.stderr).toBe(0);
      expect(JSON.parse(paused.stdout).steps[0].detail).toMatch(/; blocked commands waited out: the server refused CLIENT UNBLOCK \(NOPERM .*client\|unblock/);
      expect(await fetched).toBeNull(); // its own timeout, forwarded as it came
      expect(await proxyStatus()).toMatchObject({ resent: expect.any(Number), unblockRefused: expect.stringMatching(/^NOPERM/) });
      expect(replica.log.join("")).toMatch(/redis proxy: CLIENT UNBLOCK is not available on 127\.0\.0\.1:\d+ \(NOPERM/);
      expect((await control("/redis/resume", {})).status).toBe(200);
    } finally {
      await moveProxy(sourceProxyUrl(), source.port);
    }
  });

  it("counts every (un)subscribe confirmation in RESP2 and RESP3, so nothing stays in flight and a pause completes", async () => {
    const got: string[] = [];
    for (const protocol of [2, 3] as const) {
      const sub = viaProxy({ protocol });
      sub.on("message", (channel: string, message: string) => got.push(`${protocol} ${channel} ${message}`));
      await sub.subscribe("a", "b", "a"); // three confirmations, one per name
      await sub.psubscribe("p.*");
      // ioredis resolves an UNSUBSCRIBE of everything only once the server's count is 0,
      // so the pattern goes first, by name.
      await sub.punsubscribe("p.*");
      await sub.unsubscribe(); // one confirmation per channel subscribed
      await sub.punsubscribe(); // none left: one confirmation all the same
      await sub.subscribe("c");
      expect(await direct(source).publish("c", "hi")).toBeGreaterThanOrEqual(1);
      await eventually(`the RESP${protocol} subscriber's message`, () => got.includes(`${protocol} c hi`));
      await sub.unsubscribe("c");
      if (protocol === 3) expect(await sub.get("no-such-key")).toBeNull(); // RESP3 may run commands after unsubscribing
    }
    expect((await control("/redis/status")).body.inFlight).toBe(0);
    const paused = await control("/redis/pause", { timeoutMs: 2000 });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect((await control("/redis/resume", {})).body.resumed).toBe(true);
  });

  it("refuses a repoint while not paused (409) and a target that refuses the login, leaving every client where it was", async () => {
    const notPaused = await control("/redis/repoint", { url: target.url() });
    expect(notPaused.status).toBe(409);
    expect(String(notPaused.body.error)).toMatch(/not paused: pause it first/);
    const paused = await control("/redis/pause", { timeoutMs: 5000 });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    const badLogin = target.url().replace(encodeURIComponent(TARGET_PASSWORD), "wrong-token");
    const refused = await control("/redis/repoint", { url: badLogin });
    expect(refused.status).toBe(500);
    expect(String(refused.body.error)).toMatch(/WRONGPASS.*every client stays where it was/);
    expect(JSON.stringify(refused.body)).not.toContain("wrong-token");
    expect((await control("/redis/resume", {})).body).toMatchObject({ resumed: true, host: "127.0.0.1", port: source.port });
  });

  it("switches each replica on its own: one whose repoint fails stays paused on the source while the other resumes on the target", async () => {
    // The second replica's server CA is the source's only: the target's certificate fails its probe.
    const distrusting = await startReplica(certs, UNUSED_PG, source.caCert!, { redisUrl: sourceProxyUrl() });
    const clientOf = (r: Replica) => {
      const c = new Redis({ host: "127.0.0.1", port: r.redisPort, username: CLIENT_USER, password: CLIENT_PASSWORD, tls: { ca: certs.ca }, maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false });
      c.on("error", () => undefined);
      opened.push(c);
      return c;
    };
    const [onGood, onBad] = [clientOf(replica), clientOf(distrusting)];
    try {
      await Promise.all([onGood.ping(), onBad.ping()]);
      const access = { replicas: [replica.control, distrusting.control], adminPassword: ADMIN_PASSWORD, ca: certs.ca };
      expect((await pauseAll(access, 5000, "redis")).ok).toBe(true);
      const switched = await switchAll(access, target.url(), "redis");
      expect(switched.ok).toBe(false);
      expect(switched.error).toMatch(new RegExp(`^could not repoint and resume every pooler replica: pooler ${new URL(distrusting.control).host}: .*certificate.*every client stays where it was$`));
      expect(switched.replicas.map((r) => [r.replica, r.port, r.paused])).toEqual([[replica.control, target.port, false]]);
      const [good, bad] = (await poolerStatus(access, "redis")).replicas;
      expect([good.port, good.paused, bad.port, bad.paused]).toEqual([target.port, false, source.port, true]);
      expect(await onGood.set("switched:good", "1")).toBe("OK");
      expect(await direct(target).get("switched:good")).toBe("1");
      let answered = false;
      const held = onBad.set("switched:bad", "1").then(() => (answered = true));
      await sleep(300);
      expect(answered).toBe(false);
      expect((await resumeAll({ ...access, replicas: [distrusting.control] }, "redis")).ok).toBe(true);
      await held;
      expect(await direct(source).get("switched:bad")).toBe("1");
    } finally {
      onBad.disconnect();
      await distrusting.stop();
      await moveProxy(sourceProxyUrl(), source.port);
      await Promise.all([direct(target).del("switched:good"), direct(source).del("switched:bad")]);
    }
  });

  it("closes a client whose server connection is lost, with its BLPOP unanswered, and ioredis reconnects", async () => {
    const raw = await rawClient(replica.redisPort!, certs.ca);
    raw.send(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(CLIENT_PASSWORD)}\r\n${CLIENT_PASSWORD}\r\nCLIENT SETNAME victim\r\nBLPOP never:list 0\r\n`);
    await raw.waitFor("+OK\r\n+OK\r\n");
    const admin = direct(source);
    const victim = await eventually("the victim's upstream blocked", async () => /id=(\d+) [^\n]*name=victim [^\n]*cmd=blpop/.exec(String(await admin.call("CLIENT", "LIST")))?.[1]);
    await admin.call("CLIENT", "KILL", "ID", victim);
    await Promise.race([raw.closed, new Promise((_, j) => setTimeout(() => j(new Error("the client was not closed")), 5000))]);
    expect(raw.received()).toBe("+OK\r\n+OK\r\n"); // never a made-up reply to the BLPOP
    expect(replica.log.join("")).toMatch(/lost the server connection 127\.0\.0\.1:\d+ of a client with 1 command\(s\) in flight/);

    const app = viaProxy({ connectionName: "victim2", retryStrategy: () => 50 });
    let reconnects = 0;
    app.on("reconnecting", () => reconnects++);
    await app.set("survivor", "1");
    const id = await eventually("victim2's upstream", async () => /id=(\d+) [^\n]*name=victim2 /.exec(String(await admin.call("CLIENT", "LIST")))?.[1]);
    await admin.call("CLIENT", "KILL", "ID", id);
    await eventually("ioredis reconnected", () => reconnects > 0 && app.status === "ready");
    expect(await app.get("survivor")).toBe("1");
    await app.del("survivor");
  });
});

/** What the app's clients did through the proxy, and what they felt. */
interface Load {
  failed: string[];
  reconnects: () => number;
  longestMs: () => number;
  commands: () => number;
  acked: { counter2: number; counter3: number; tokens: string[]; tx: string[]; db2: string[]; jobs: string[]; popped: string[]; idleFetches: number };
  messages: string[];
  waitForMore(n: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An app's traffic through the proxy, each client on one connection for its whole life:
 * INCR (RESP2 and RESP3), LPUSH, MULTI/EXEC, writes in database 2 (SELECT 2 at connect),
 * a Sidekiq-like producer and BRPOP workers (2 s timeout, Sidekiq's fetch), and two
 * subscribers (RESP2 and RESP3) to a channel and a pattern. A failed command is recorded,
 * never retried; a reconnect is counted.
 */
async function startLoad(): Promise<Load> {
  const failed: string[] = [];
  const messages: string[] = [];
  const acked: Load["acked"] = { counter2: 0, counter3: 0, tokens: [], tx: [], db2: [], jobs: [], popped: [], idleFetches: 0 };
  let longest = 0;
  let commands = 0;
  let reconnects = 0;
  let running = true;
  const clients = {
    incr2: viaProxy({ protocol: 2, connectionName: "web.1" }),
    incr3: viaProxy({ connectionName: "web.2" }),
    lists: viaProxy({ protocol: 2 }),
    tx: viaProxy(),
    db2: viaProxy({ db: 2, protocol: 2 }),
    worker: viaProxy({ connectionName: "sidekiq.1" }),
    idle: viaProxy({ connectionName: "sidekiq.2" }),
    sub2: viaProxy({ protocol: 2 }),
    sub3: viaProxy(),
  };
  for (const c of Object.values(clients)) c.on("reconnecting", () => reconnects++);
  for (const [name, sub] of [["resp2", clients.sub2], ["resp3", clients.sub3]] as const) {
    sub.on("message", (channel: string, message: string) => messages.push(`${name} ${channel} ${message}`));
    sub.on("pmessage", (_p: string, channel: string, message: string) => messages.push(`${name} p:${channel} ${message}`));
    await sub.subscribe("news");
    await sub.psubscribe("news.*");
  }
  /** `blocking`: a BRPOP waits by design (up to its timeout), so its time is not a wait the app felt. */
  const timed = async (what: string, fn: () => Promise<unknown>, blocking = false) => {
    const t0 = Date.now();
    try {
      await fn();
      commands++;
    } catch (err) {
      failed.push(`${what}: ${(err as Error).message}`);
    }
    if (!blocking) longest = Math.max(longest, Date.now() - t0);
  };
  const loop = async (body: (i: number) => Promise<void>) => {
    for (let i = 0; running; i++) {
      await body(i);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const loops = [
    loop((i) => timed(`INCR ${i}`, async () => (await clients.incr2.incr("counter:2"), acked.counter2++))),
    loop((i) => timed(`INCR ${i}`, async () => (await clients.incr3.incr("counter:3"), acked.counter3++))),
    loop((i) => timed(`LPUSH ${i}`, async () => {
      await clients.lists.lpush("tokens", `t${i}`);
      acked.tokens.push(`t${i}`);
      await clients.lists.lpush("queue:default", `job-${i}`);
      acked.jobs.push(`job-${i}`);
    })),
    loop((i) => timed(`MULTI/EXEC ${i}`, async () => {
      const r = await clients.tx.multi().incr("tx:count").rpush("tx:tokens", `x${i}`).exec();
      const errors = (r ?? []).filter(([err]) => err);
      if (!r || errors.length) throw new Error(`EXEC: ${JSON.stringify(r)}`);
      acked.tx.push(`x${i}`);
    })),
    loop((i) => timed(`SET db2 ${i}`, async () => (await clients.db2.set(`db2:${i}`, String(i)), acked.db2.push(`db2:${i}`)))),
    loop((i) => timed(`BRPOP ${i}`, async () => {
      const job = await clients.worker.brpop("queue:default", 2);
      if (job) acked.popped.push(job[1]);
    }, true)),
    // A worker on a queue nobody fills: its BRPOP blocks for its 2 s, which a pause ends
    // with CLIENT UNBLOCK and sends again after the resume (its client sees a longer BRPOP).
    loop((i) => timed(`BRPOP queue:low ${i}`, async () => {
      if (await clients.idle.brpop("queue:low", 2)) throw new Error("queue:low is never filled");
      acked.idleFetches++;
    }, true)),
  ];
  return {
    failed, acked, messages,
    reconnects: () => reconnects, longestMs: () => longest, commands: () => commands,
    waitForMore: async (n) => {
      const want = commands + n;
      await eventually(`${n} more commands through the proxy (${failed.length} failed)`, () => commands >= want, { timeoutMs: 30_000 });
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe("ferry cutover --pooler-redis", () => {
  it("pauses the proxy before the Redis fence, repoints and resumes it on the target: no command fails, no client reconnects, every acknowledged write is on the target", async () => {
    const env = { FERRY_SOURCE_REDIS_URL: source.url(), FERRY_TARGET_REDIS_URL: target.url() };
    const load = await startLoad();
    try {
      await load.waitForMore(200);
      await direct(source).publish("news", "before");
      await eventually("both subscribers got the source's message", () => load.messages.filter((m) => m.endsWith("news before")).length === 2);

      // ferry's own copy (the bulk), while the app writes; the cutover's follower and switch do the rest.
      const copied = await ferry(["--json", "redis", "replicate", "--strategy", "copy", "--tls-ca", bundle], env);
      expect(copied.code, copied.stderr).toBe(0);
      await load.waitForMore(200);

      const cutover = (fence: string[], pauseTimeout = 10) => ferry([
        "--json", "cutover", "--strategy", "copy", ...fence, "--tls-ca", bundle,
        "--pooler", replica.control, "--pooler-ca", certs.tls.caFile, "--pooler-redis", "--pooler-timeout", String(pauseTimeout),
      ], { ...env, FERRY_POOLER_ADMIN_PASSWORD: ADMIN_PASSWORD, FERRY_POOLER_REDIS_TARGET_URL: target.url() });

      // A client holding a MULTI open: the proxy cannot be paused, and the cutover gives
      // back before anything is fenced; the app keeps its source.
      const holder = viaProxy({ protocol: 2 });
      expect(await holder.call("MULTI")).toBe("OK");
      const unpaused = await cutover(["--fence", "dynos-stopped"], 1);
      expect(unpaused.code).toBe(1);
      expect(unpaused.json.error).toMatch(/could not pause every pooler replica \(pooler 127\.0\.0\.1:\d+: the Redis proxy's pause did not complete within 1 s: .*1 client\(s\) inside MULTI or WATCH/);
      expect(unpaused.json.steps.map((s: { name: string }) => s.name)).not.toContain("redis-fence");
      expect(await direct(source).exists("ferry:state:fence")).toBe(0);
      expect(await holder.call("EXEC")).toEqual([]);
      await load.waitForMore(200);
      expect(load.failed).toEqual([]);
      // The ACL fence, which Heroku's Redis refuses: the cutover gives back after the proxy
      // was paused, and the proxy resumes on the source; the app felt a wait, no failure.
      let t0 = Date.now();
      const givenBack = await cutover([]);
      const givenBackMs = Date.now() - t0;
      expect(givenBack.code).toBe(1);
      expect(givenBack.json.steps.map((s: { name: string }) => s.name)).toContain("redis-pooler-pause");
      expect(givenBack.json.error).toMatch(/refuses ACL SETUSER/);
      expect((await control("/redis/status")).body).toMatchObject({ paused: false, port: source.port, held: 0 });
      await load.waitForMore(200);
      expect(load.failed).toEqual([]);

      const unblockedBefore = await proxyStatus();
      t0 = Date.now();
      const cut = await cutover(["--fence", "dynos-stopped"]);
      const cutoverMs = Date.now() - t0;
      expect(cut.code, cut.stderr).toBe(0);
      const steps = (cut.json.steps as { name: string; ms: number; detail?: string }[]);
      const order = steps.map((s) => s.name);
      expect(order.indexOf("redis-pooler-pause")).toBeLessThan(order.indexOf("redis-fence"));
      expect(order.indexOf("redis-open")).toBeLessThan(order.indexOf("redis-pooler-repoint"));
      expect(steps.find((s) => s.name === "redis-pooler-repoint")?.detail).toBe(`1 replica(s) repointed at 127.0.0.1:${target.port}/0 and resumed`);

      const idleBefore = load.acked.idleFetches;
      await load.waitForMore(200);
      await eventually("the idle worker's BRPOP returning on the target", () => load.acked.idleFetches > idleBefore, { timeoutMs: 10_000 });
      const published = direct(target);
      await published.publish("news", "after");
      await published.publish("news.eu", "after");
      await eventually("both subscribers got the target's messages, on the channel and the pattern", () =>
        ["resp2 news after", "resp3 news after", "resp2 p:news.eu after", "resp3 p:news.eu after"].every((m) => load.messages.includes(m)));
      await load.stop();
      // The pause did not wait out the idle worker's BRPOP: it ended it, and it went again on the target.
      const unblockedAfter = await proxyStatus();
      expect(unblockedAfter.unblocked).toBeGreaterThan(unblockedBefore.unblocked);
      // Each one unblocked went again; so may one whose own timeout ran out while it was
      // being unblocked (its null is held back all the same: a null carries no job).
      expect(unblockedAfter.resent - unblockedBefore.resent).toBeGreaterThanOrEqual(unblockedAfter.unblocked - unblockedBefore.unblocked);

      const { acked } = load;
      console.log(`redis proxy cutover: ${load.commands()} commands acknowledged, ${load.failed.length} failed, ${load.reconnects()} reconnects, longest wait ${load.longestMs()} ms (BRPOP's own blocking left out); ferry's write-unavailable window ${cut.json.writeUnavailableMs} ms, the pause ${steps.find((s) => s.name === "redis-pooler-pause")?.ms} ms (${unblockedAfter.unblocked - unblockedBefore.unblocked} blocked BRPOP(s) unblocked and sent again), the whole cutover command ${cutoverMs} ms (the given-back one ${givenBackMs} ms)`);
      expect(load.failed).toEqual([]);
      expect(load.reconnects()).toBe(0);
      // A command waits out a pause and no longer: never longer than the cutover command that paused it.
      expect(load.longestMs()).toBeLessThanOrEqual(Math.max(cutoverMs, givenBackMs));

      // Every acknowledged write is on the target, once.
      const t = direct(target);
      expect(Number(await t.get("counter:2"))).toBe(acked.counter2);
      expect(Number(await t.get("counter:3"))).toBe(acked.counter3);
      expect((await t.lrange("tokens", 0, -1)).sort()).toEqual([...acked.tokens].sort());
      expect(Number(await t.get("tx:count"))).toBe(acked.tx.length);
      expect(await t.lrange("tx:tokens", 0, -1)).toEqual(acked.tx);
      const db2 = direct(target, 2);
      expect((await db2.mget(...acked.db2)).filter((v) => v === null)).toEqual([]);
      expect(await direct(target, 0).exists(acked.db2.at(-1)!)).toBe(0); // SELECT 2 survived the repoint
      // Every job pushed was popped once or is still queued, on the target.
      const queued = await t.lrange("queue:default", 0, -1);
      expect([...acked.popped, ...queued].sort()).toEqual([...acked.jobs].sort());
      // The writes after the repoint went to the target only: the fenced source lacks them.
      expect(await direct(source).llen("tokens")).toBeLessThan(acked.tokens.length);

      const status = await poolerStep(pooler.status(replicas(), "redis"));
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).replicas[0]).toMatchObject({ host: "127.0.0.1", port: target.port, db: 0, tls: "verify", paused: false, held: 0 });
      // No password in what ferry printed, in the supervisor's log, or in the process list.
      const secrets = [SOURCE_PASSWORD, TARGET_PASSWORD, CLIENT_PASSWORD, ADMIN_PASSWORD];
      const captured = { cutover: cut.stdout + cut.stderr, givenBack: givenBack.stdout + givenBack.stderr, status: status.stdout, log: replica.log.join(""), ps: execFileSync("ps", ["-eo", "args"]).toString() };
      expect(Object.entries(captured).flatMap(([where, text]) => findLeaks(where, text, secrets))).toEqual([]);
    } finally {
      await load.stop();
    }
  }, 180_000);
});
