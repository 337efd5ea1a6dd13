// `preflight`: everything that decides whether and how the move can run, found out by
// asking the servers: can the source feed an outside replica, TLS and who we are logged
// in as, keyspace notifications, which databases hold keys, memory and key counts, and
// whether the target can load the source's DUMP payloads. Reads only, except one
// temporary key restored (and deleted) on the target.
import Redis from "ioredis";
import { connect, DbClients, describeEndpoint, Endpoint, parseRedisUrl } from "./connection";
import { compareVersions, info, keyspaceCounts } from "./info";
import { canReadWithScript } from "./read-keys";
import { probeCanBecomeReplica, probeNotifications, probeReplication, probeRestore } from "./probes";
import { dataKeyCounts } from "./data-keys";

export type Mode = "replicaof" | "copy";
export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** Modes this check blocks when it fails. */
  blocks: Mode[];
}

export interface PreflightResult {
  ok: boolean;
  mode?: Mode;
  recommendedMode?: Mode;
  source: { endpoint: string; version: string; tls: boolean; user: string; usedMemory: number; keys: Record<string, number> };
  target: { endpoint: string; version: string; tls: boolean; maxMemory: number; keys: Record<string, number> };
  checks: Check[];
}

export interface PreflightOptions {
  source: Endpoint;
  target: Endpoint;
  mode?: Mode;
  listenMs: number;
  probeWrite: boolean;
}

const HEROKU_NOTIFICATIONS = "on Heroku: `heroku redis:keyspace-notifications -c KA`; elsewhere: CONFIG SET notify-keyspace-events KA";

function tlsDetail(ep: Endpoint): string {
  if (!parseRedisUrl(ep.url, ep.flag).tls) return "plain TCP (no TLS)";
  if (ep.trust.insecure) return "TLS, certificate NOT verified (--tls-insecure)";
  return ep.trust.caFile ? "TLS, certificate verified against --tls-ca" : "TLS, certificate verified against the system roots";
}

async function whoami(client: Redis, ep: Endpoint): Promise<string> {
  try {
    return String(await client.call("ACL", "WHOAMI"));
  } catch {
    return parseRedisUrl(ep.url, ep.flag).username ?? "default";
  }
}

const asRecord = (m: Map<number, number>) => Object.fromEntries([...m].map(([db, n]) => [`db${db}`, n]));
const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);

export async function preflight(opts: PreflightOptions): Promise<PreflightResult> {
  const checks: Check[] = [];
  const add = (name: string, status: CheckStatus, detail: string, blocks: Mode[] = []) => checks.push({ name, status, detail, blocks });
  const source = await connect(opts.source);
  const targetDbs = new DbClients(opts.target);
  try {
    const target = await targetDbs.db(0);
    const [srcInfo, dstInfo] = await Promise.all([info(source), info(target)]);
    const srcKeys = keyspaceCounts(srcInfo);
    const dstKeys = await dataKeyCounts(targetDbs);
    const user = await whoami(source, opts.source);
    const srcParsed = parseRedisUrl(opts.source.url, "--source");

    add("source.connection", "ok", `${describeEndpoint(opts.source)} as user "${user}" (${srcParsed.password ? "password" : "no password"}); ${tlsDetail(opts.source)}`);
    add("target.connection", "ok", `${describeEndpoint(opts.target)}; ${tlsDetail(opts.target)}`);

    const replication = await probeReplication(source);
    add("source.feeds-replica", replication.canFeedReplica ? "ok" : "fail", replication.detail, ["replicaof"]);
    const becomeReplica = await probeCanBecomeReplica(target);
    add("target.can-be-replica", becomeReplica.ok ? "ok" : "fail", becomeReplica.detail, ["replicaof"]);

    const notifications = await probeNotifications(opts.source, opts.listenMs, opts.probeWrite);
    add(
      "source.keyspace-notifications",
      notifications.state === "on" ? "ok" : notifications.state === "off" ? "fail" : "warn",
      notifications.state === "on" ? notifications.detail : `${notifications.detail}; enable them ${HEROKU_NOTIFICATIONS}`,
      ["copy"],
    );
    const script = await canReadWithScript(source);
    add("source.eval", script ? "ok" : "fail", script ? "read-only Lua scripts run (batched DUMP)" : "EVAL refused; the copy reads keys with a read-only script", ["copy"]);

    const sv = srcInfo.redis_version ?? "0";
    const tv = dstInfo.redis_version ?? "0";
    const versionOk = compareVersions(tv, sv) >= 0;
    add("versions", versionOk ? "ok" : "fail", `source ${sv}, target ${tv}${versionOk ? "" : ": RESTORE payloads need a target at least as new as the source"}`, ["copy", "replicaof"]);
    const firstDb = [...srcKeys.keys()][0];
    if (firstDb !== undefined && !script) {
      add("target.restore-payload", "warn", "untested: the probe reads a payload with the same script EVAL refuses");
    } else if (firstDb !== undefined) {
      const srcDb = await connect(opts.source, firstDb);
      try {
        const restore = await probeRestore(srcDb, await targetDbs.db(firstDb));
        add("target.restore-payload", restore.ok ? "ok" : "fail", restore.detail, ["copy"]);
      } finally {
        srcDb.disconnect();
      }
    }

    add("source.databases", "ok", srcKeys.size ? `keys in ${[...srcKeys].map(([db, n]) => `db${db}=${n}`).join(", ")}` : "the source is empty");
    const used = Number(srcInfo.used_memory ?? 0);
    const maxMemory = Number(dstInfo.maxmemory ?? 0);
    add(
      "target.memory",
      maxMemory === 0 || maxMemory > used * 1.2 ? "ok" : "fail",
      `source uses ${srcInfo.used_memory_human ?? used}; target maxmemory ${maxMemory === 0 ? "unlimited" : dstInfo.maxmemory_human}`,
      ["copy", "replicaof"],
    );
    const targetKeys = sum(dstKeys);
    add("target.empty", targetKeys === 0 ? "ok" : "warn", targetKeys === 0 ? "the target holds no keys" : `the target holds ${targetKeys} keys: choose --conflict replace or skip`);
    if (dstInfo.role === "slave" && opts.mode !== "replicaof") add("target.role", "warn", "the target is a replica (read-only) right now");

    const failed = (mode: Mode) => checks.some((c) => c.status === "fail" && c.blocks.includes(mode));
    const recommendedMode: Mode | undefined = !failed("replicaof") ? "replicaof" : !failed("copy") ? "copy" : undefined;
    return {
      ok: opts.mode ? !failed(opts.mode) : recommendedMode !== undefined,
      mode: opts.mode,
      recommendedMode,
      source: { endpoint: describeEndpoint(opts.source), version: sv, tls: srcParsed.tls, user, usedMemory: used, keys: asRecord(srcKeys) },
      target: { endpoint: describeEndpoint(opts.target), version: tv, tls: parseRedisUrl(opts.target.url, "--target").tls, maxMemory, keys: asRecord(dstKeys) },
      checks,
    };
  } finally {
    source.disconnect();
    await targetDbs.close();
  }
}
