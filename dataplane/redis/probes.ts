// Probes that find out what a server allows instead of assuming it from the host's name.
// None of them writes to the source (the notification probe writes one expiring key
// only when the user passes --probe-write).
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { sleep } from "../cli/common";
import { connect, Endpoint } from "./connection";
import { readKeys } from "./read-keys";
import { TMP_PREFIX } from "./state";

export interface ReplicationProbe {
  canFeedReplica: boolean;
  commands: Record<"SYNC" | "PSYNC" | "REPLCONF", "present" | "absent" | "denied" | "unknown">;
  detail: string;
}

/** Which of the commands exist, from the command table (nil = renamed or removed). */
async function commandTable(client: Redis, names: string[]): Promise<Map<string, boolean> | undefined> {
  try {
    const reply = (await client.call("COMMAND", "INFO", ...names)) as unknown[];
    return new Map(names.map((n, i) => [n, reply[i] !== null]));
  } catch {
    return undefined; // COMMAND itself blocked
  }
}

/**
 * Call `command` with too few arguments: the server checks existence, then arity, then
 * permissions, then runs it, so an arity error proves it exists and nothing ran.
 */
async function arityProbe(client: Redis, command: string): Promise<"present" | "absent" | "denied" | "unknown"> {
  try {
    await client.call(command);
    return "present";
  } catch (err) {
    const msg = (err as Error).message;
    if (/unknown command/i.test(msg)) return "absent";
    if (/NOPERM/i.test(msg)) return "denied";
    if (/wrong number of arguments/i.test(msg)) return "present";
    return "unknown";
  }
}

/** Can the source feed an outside replica? Replicas since Redis 2.8 need PSYNC. */
export async function probeReplication(source: Redis): Promise<ReplicationProbe> {
  const table = await commandTable(source, ["SYNC", "PSYNC", "REPLCONF"]);
  const fromTable = (n: string) => (table ? (table.get(n) ? "present" : "absent") : "unknown") as ReplicationProbe["commands"]["SYNC"];
  const commands: ReplicationProbe["commands"] = {
    SYNC: fromTable("SYNC"), // never call SYNC itself: with any arguments it starts a full sync
    PSYNC: await arityProbe(source, "PSYNC"),
    REPLCONF: fromTable("REPLCONF"),
  };
  const canFeedReplica = commands.PSYNC === "present" && commands.REPLCONF !== "absent";
  const missing = Object.entries(commands).filter(([, v]) => v !== "present").map(([k, v]) => `${k} ${v}`);
  return {
    canFeedReplica,
    commands,
    detail: canFeedReplica ? "PSYNC and REPLCONF are available" : `replication commands unavailable: ${missing.join(", ")}`,
  };
}

/** Can the target be turned into a replica (REPLICAOF and CONFIG SET allowed)? */
export async function probeCanBecomeReplica(target: Redis): Promise<{ ok: boolean; detail: string }> {
  const replicaof = await arityProbe(target, "REPLICAOF");
  let config = "present";
  try {
    await target.call("CONFIG", "GET", "masterauth");
  } catch (err) {
    config = (err as Error).message;
  }
  const ok = replicaof === "present" && config === "present";
  return { ok, detail: ok ? "REPLICAOF and CONFIG are available" : `REPLICAOF ${replicaof}, CONFIG ${config === "present" ? "present" : "blocked"}` };
}

export interface NotificationProbe {
  state: "on" | "off" | "unknown";
  flags?: string;
  how: "config" | "observed" | "probe-write" | "none";
  detail: string;
}

/** Flags cover what the tail needs: a channel (K or E) and every data-changing class. */
export function flagsSufficient(flags: string): boolean {
  const channel = flags.includes("K") || flags.includes("E");
  const classes = flags.includes("A") || ["g", "$", "l", "s", "h", "z", "x", "e", "t"].every((c) => flags.includes(c));
  return channel && classes;
}

/**
 * Keyspace notifications: from CONFIG when allowed; otherwise listen for events the app
 * makes anyway; with `probeWrite`, write one short-lived key `ferry:probe:*` and watch for it.
 */
export async function probeNotifications(source: Endpoint, listenMs: number, probeWrite: boolean): Promise<NotificationProbe> {
  const client = await connect(source);
  try {
    try {
      const [, flags] = (await client.call("CONFIG", "GET", "notify-keyspace-events")) as string[];
      const on = flagsSufficient(flags ?? "");
      return { state: on ? "on" : "off", flags, how: "config", detail: `notify-keyspace-events is "${flags}"` };
    } catch {
      // CONFIG blocked (Heroku): observe instead.
    }
    const sub = await connect(source);
    try {
      let seen = false;
      sub.on("pmessage", () => (seen = true));
      await sub.psubscribe("__keyspace@*__:*", "__keyevent@*__:*");
      if (probeWrite) await client.set(`ferry:probe:${randomBytes(6).toString("hex")}`, "1", "PX", 2000);
      const deadline = Date.now() + listenMs;
      while (!seen && Date.now() < deadline) await sleep(50);
      if (seen) return { state: "on", how: probeWrite ? "probe-write" : "observed", detail: "keyspace events arrived" };
      if (probeWrite) return { state: "off", how: "probe-write", detail: "a probe write raised no keyspace event" };
      return { state: "unknown", how: "none", detail: `CONFIG is blocked and no event arrived in ${listenMs / 1000}s (quiet app?); re-run with --probe-write to be sure` };
    } finally {
      sub.disconnect();
    }
  } finally {
    client.disconnect();
  }
}

/**
 * Can the target load the source's DUMP payloads? Restore one real key (the first small
 * one SCAN finds) under a temporary name on the target, then delete it.
 */
export async function probeRestore(source: Redis, target: Redis): Promise<{ ok: boolean; detail: string }> {
  const [, keys] = (await source.callBuffer("SCAN", "0", "COUNT", 100)) as [Buffer, Buffer[]];
  const sample = (await readKeys(source, keys.slice(0, 20))).find((s) => s.dump);
  if (!sample?.dump) return { ok: true, detail: "no key to try in database 0; versions decide" };
  const tmp = `${TMP_PREFIX}probe:${randomBytes(6).toString("hex")}`;
  try {
    await target.callBuffer("RESTORE", tmp, 60_000, sample.dump);
    return { ok: true, detail: `restored a ${sample.type} payload on the target` };
  } catch (err) {
    return { ok: false, detail: `the target rejected a ${sample.type} payload: ${(err as Error).message}` };
  } finally {
    await target.del(tmp);
  }
}
