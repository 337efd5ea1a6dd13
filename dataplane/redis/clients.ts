// `--fence dynos-stopped`: the fence where the source refuses ACL SETUSER (Heroku
// Key-Value Store keeps its one credential's rules to itself). The program stopped the
// app's own processes before the stores' cutover (Heroku: maintenance on, every dyno
// scaled to 0); that is the fence, and it holds only if nothing else still writes: the
// app on AWS still pointed at the source, a worker on another host, a console. So the
// cutover does not take it on trust: the source's CLIENT LIST (Heroku allows it and
// CLIENT SETNAME: https://blog.heroku.com/real-world-redis-tips) must show no client but
// ferry's own connections and the server's replication links. Checked before anything
// changes, and again right before the switch.
import type Redis from "ioredis";
import { FerryError } from "../cli/common";
import { DbClients, FERRY_CLIENT_NAME } from "./connection";

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
      `--fence dynos-stopped: --source refuses CLIENT LIST (${(err as Error).message.split("\n")[0]}), so ferry cannot check that no writer is left: give ferry a user that may run CLIENT LIST; nothing was changed`,
      1,
    );
  }
}

/** One line naming what is still connected, or undefined when only ferry is. Read-only. */
export async function writersLeft(source: DbClients): Promise<string | undefined> {
  const { ownId, clients } = await listClients(await source.db(0));
  const others = otherClients(clients, ownId);
  if (others.length === 0) return undefined;
  const shown = others.slice(0, 3).map(describe).join("; ");
  return `--fence dynos-stopped: ${others.length} client(s) besides ferry still connected to the source Redis (${shown}${others.length > 3 ? "; ..." : ""}); with the app's dynos stopped these are other writers (the app on AWS still pointed at the source? a worker elsewhere? a console?): stop them and rerun`;
}

export async function assertNoWritersLeft(source: DbClients): Promise<void> {
  const left = await writersLeft(source);
  if (left) throw new FerryError(left, 1);
}
