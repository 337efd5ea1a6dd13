// The source's data stores, read only: Redis keyspace notifications (the copy's tail
// misses every write made during the copy without them), and the PostgreSQL client
// tools against the source server (pg_dump refuses a server newer than itself:
// https://www.postgresql.org/docs/current/app-pgdump.html, "cannot dump from PostgreSQL
// servers newer than its own major version"; pg_restore reads only archives of a pg_dump
// no newer than itself).
import { execFile } from "node:child_process";
import { redact } from "../cli/common";
import { withClient } from "../postgres/connection";
import { probeNotifications } from "../redis/probes";
import { Finding, finding } from "./findings";

const oneLine = (e: unknown) => redact((e as Error).message ?? String(e)).split("\n")[0];

const NETWORK = /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|connection refused|timed? ?out/i;

/**
 * A source this machine cannot reach. Heroku's stores are on the internet: that blocks. A
 * box may let in only the runner's address (which exists after the first `pulumi up`), so
 * a network failure there is a warning; a refused password blocks either way.
 */
function unreachable(check: string, e: unknown, selfManaged: boolean): Finding {
  const why = oneLine(e);
  if (selfManaged && NETWORK.test(why)) {
    return finding(check, "warn", `not reachable from here (${why}); the steps reach it from the runner, whose address the box must allow: run ferry doctor there to check it`);
  }
  return finding(check, "block", `cannot connect: ${why}`);
}

/**
 * Keyspace notifications on the source, when the move copies keys (a REPLICAOF move does
 * not need them). Heroku blocks CONFIG: then ferry listens for events the app makes;
 * silence proves nothing, so that is a warning with the command that settles it.
 */
export async function checkRedisNotifications(url: string, acceptSelfSignedTls: boolean, listenMs: number, selfManaged: boolean): Promise<Finding> {
  const check = "source redis";
  try {
    const probe = await probeNotifications({ url, flag: "--source", trust: acceptSelfSignedTls ? { insecure: true } : {} }, listenMs, false);
    const enable = acceptSelfSignedTls ? "heroku redis:keyspace-notifications -c KA" : "CONFIG SET notify-keyspace-events KA (and in redis.conf)";
    if (probe.state === "on") return finding(check, "ok", `keyspace notifications on (${probe.detail})`);
    if (probe.state === "off") return finding(check, "block", `keyspace notifications do not cover every write (${probe.detail}): the copy would lose writes made while it runs; run ${enable}`);
    return finding(check, "warn", `keyspace notifications unknown: CONFIG is blocked and the app made no write in ${listenMs / 1000} s; run ${enable} to be sure`);
  } catch (e) {
    return unreachable(check, e, selfManaged);
  }
}

/** `pg_dump --version` -> its major ("pg_dump (PostgreSQL) 17.2 (Debian 17.2-1)" -> 17); undefined when absent. */
function toolMajor(tool: string, env: NodeJS.ProcessEnv): Promise<{ major?: number; line: string }> {
  return new Promise((resolve) => {
    execFile(tool, ["--version"], { env, timeout: 30_000 }, (err, stdout) => {
      if (err) {
        resolve({ line: (err as NodeJS.ErrnoException).code === "ENOENT" ? "not on PATH" : oneLine(err) });
        return;
      }
      const m = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
      resolve({ major: m ? Number(m[1]) : undefined, line: stdout.trim() });
    });
  });
}

export async function checkPostgresTools(url: string, env: NodeJS.ProcessEnv, selfManaged: boolean): Promise<Finding[]> {
  let serverNum: number;
  try {
    serverNum = await withClient(url, async (c) => Number((await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v));
  } catch (e) {
    return [unreachable("source postgres", e, selfManaged)];
  }
  const server = Math.floor(serverNum / 10_000);
  const findings = [finding("source postgres", "ok", `server ${server} (server_version_num ${serverNum})`)];
  for (const tool of ["pg_dump", "pg_restore"]) {
    const { major, line } = await toolMajor(tool, env);
    if (major === undefined) findings.push(finding(tool, "block", `${line}: install the PostgreSQL ${server} client tools or newer (postgresql-client-${server})`));
    else if (major < server) findings.push(finding(tool, "block", `${line} is older than the source server (${server}): install postgresql-client-${server} or newer`));
    else findings.push(finding(tool, "ok", `${line} (the source server is ${server})`));
  }
  return findings;
}
