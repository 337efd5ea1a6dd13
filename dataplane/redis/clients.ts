// `--fence dynos-stopped`: the fence where the source refuses ACL SETUSER (Heroku
// Key-Value Store keeps its one credential's rules to itself). The program stopped the
// app's own processes before the stores' cutover (Heroku: maintenance on, every dyno
// scaled to 0). Other clients may still write: the app on AWS, pointed at the source
// until the cutover's new environment rolls its tasks (it serves every request by then),
// a worker on another host, a console. Their writes are held, not refused: CLIENT PAUSE
// WRITE (Redis 6.2+; Heroku keeps CLIENT, its own advice is CLIENT SETNAME and CLIENT
// LIST: https://blog.heroku.com/real-world-redis-tips) makes every client's write wait
// until the pause is lifted, so none lands in a copy about to be left behind: a task the
// roll stops dies with its write unanswered (a failed request, not a lost write), and a
// rollback unpauses (fence.ts unfenceWriters), the held writes then going to the source,
// which is the app's store again. The fence record is written before the pause (the
// pause holds ferry's own writes too), and the pause is applied again on every rerun: a
// restart or failover forgets it.
import type Redis from "ioredis";
import { FerryError } from "../cli/common";
import { DbClients, FERRY_CLIENT_NAME } from "./connection";
import { FENCE_KEY, FenceRecord } from "./fence";

/** How long the pause may hold (Redis needs a timeout): a week, well past any cutover; a rollback lifts it. */
export const PAUSE_MS = 7 * 24 * 3600 * 1000;

export interface ConnectedClient {
  id: string;
  addr: string;
  name: string;
  user: string;
  /** The last command the client ran (`client|list`, `set`, ...). */
  cmd: string;
  idleSeconds: number;
  flags: string;
}

/** CLIENT LIST's text: one client per line, `key=value` fields separated by spaces. */
export function parseClientList(text: string): ConnectedClient[] {
  return text.split(/\r?\n/).filter(Boolean).map((line) => {
    const f: Record<string, string> = {};
    for (const field of line.split(" ")) {
      const i = field.indexOf("=");
      if (i > 0) f[field.slice(0, i)] = field.slice(i + 1);
    }
    return { id: f.id ?? "", addr: f.addr ?? "", name: f.name ?? "", user: f.user ?? "", cmd: f.cmd ?? "", idleSeconds: Number(f.idle ?? 0), flags: f.flags ?? "" };
  });
}

/**
 * Clients that could write: everything but this connection, ferry's other connections
 * (named `ferry`: a copy's tail, a follower) and replication links (flags S: a replica
 * of this server, M: its master), which carry no client's writes.
 */
export function otherClients(clients: ConnectedClient[], ownId: string): ConnectedClient[] {
  return clients.filter((c) => c.id !== ownId && c.name !== FERRY_CLIENT_NAME && !/[SM]/.test(c.flags));
}

function describe(c: ConnectedClient): string {
  return `${c.addr}${c.name ? ` name ${c.name}` : ""}${c.user ? ` user ${c.user}` : ""}, last command ${c.cmd || "none"}, idle ${c.idleSeconds} s`;
}

async function listClients(redis: Redis): Promise<{ ownId: string; clients: ConnectedClient[] }> {
  try {
    const ownId = String(await redis.call("CLIENT", "ID"));
    return { ownId, clients: parseClientList(String(await redis.call("CLIENT", "LIST"))) };
  } catch (err) {
    throw new FerryError(
      `--fence dynos-stopped: --source refuses CLIENT LIST (${(err as Error).message.split("\n")[0]}), so ferry cannot hold the other clients' writes: give ferry a user that may run CLIENT LIST and CLIENT PAUSE; nothing was changed`,
      1,
    );
  }
}

/**
 * Hold every client's writes on the source (CLIENT PAUSE WRITE), the record kept first.
 * Idempotent: a rerun keeps the record and pauses again. Returns the record and the
 * clients whose writes are now held (named in the report, never refused).
 */
export async function pauseWriters(source: DbClients): Promise<FenceRecord> {
  const redis = await source.db(0);
  const { ownId, clients } = await listClients(redis);
  const existing = await redis.get(FENCE_KEY);
  const record: FenceRecord = existing ? (JSON.parse(existing) as FenceRecord) : { pausedWrites: true, user: "", commands: "", at: new Date().toISOString() };
  if (!existing) await redis.set(FENCE_KEY, JSON.stringify(record));
  try {
    await redis.call("CLIENT", "PAUSE", String(PAUSE_MS), "WRITE");
  } catch (err) {
    if (!existing) await redis.del(FENCE_KEY);
    throw new FerryError(`--fence dynos-stopped: --source refuses CLIENT PAUSE WRITE (${(err as Error).message.split("\n")[0]}), so ferry cannot hold the writes of clients other than the stopped dynos; nothing was changed`, 1);
  }
  return { ...record, held: otherClients(clients, ownId).map(describe) };
}
