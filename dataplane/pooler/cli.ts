// `ferry pooler ...`: the Postgres pooler the cutover pauses, repoints and resumes
// (docs/pooler.md). `serve` is what a pooler task runs; `pause`, `repoint`, `resume` and
// `status` reach every replica's supervisor (--pooler, once per replica). Secrets come from
// the environment (or stdin), never argv: the admin password FERRY_POOLER_ADMIN_PASSWORD
// (or --password-stdin), the server URLs FERRY_POOLER_SERVER_URL (where serve starts) and
// FERRY_POOLER_TARGET_URL / FERRY_POOLER_SOURCE_URL (where a repoint points: the app's own
// login, not ferry's), the app's password FERRY_POOLER_CLIENT_PASSWORD, the TLS key. With
// --redis-port, serve also runs the Redis proxy (FERRY_POOLER_REDIS_URL), and the steps
// take `--store redis` to drive it (a repoint: FERRY_POOLER_REDIS_TARGET_URL / _SOURCE_URL).
// Exit codes: 0 ok, 1 a replica failed (the step says which), 2 bad input.
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { action, emit, FerryError, GlobalOptions, integer } from "../cli/common";
import { ENV } from "../cli/contract";
import { pauseAll, PoolerAccess, PoolerResult, PoolerStore, poolerStatus, repointAll, resumeAll, whereOf } from "./replicas";
import { serve } from "./serve";

export const POOLER_ENV = {
  adminPassword: ENV.poolerAdminPassword,
  serverUrl: "FERRY_POOLER_SERVER_URL",
  /** The Redis proxy's server (`serve --redis-port`): rediss://, the app's login there. */
  redisUrl: "FERRY_POOLER_REDIS_URL",
  clientPassword: "FERRY_POOLER_CLIENT_PASSWORD",
  tlsCert: "FERRY_POOLER_TLS_CERT",
  tlsKey: "FERRY_POOLER_TLS_KEY",
  serverCa: "FERRY_POOLER_SERVER_CA",
  /** The server's CA bundle as a file (the RDS bundle is larger than a variable may be). */
  serverCaFile: "FERRY_POOLER_SERVER_CA_FILE",
  /** PEM the replicas' control certificates chain to, where --pooler-ca names no file (a Pulumi step's environment). */
  controlCa: ENV.poolerCa,
} as const;

export interface AccessFlags extends GlobalOptions {
  pooler: string[];
  poolerCa?: string;
  passwordStdin?: boolean;
  store?: PoolerStore;
}

/** A required secret from the environment: one line naming the variable when it is missing. */
export function secretEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new FerryError(`missing ${name}: set it in the environment (never on the command line)`, 2);
  return value;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString().replace(/\r?\n$/, "");
}

export async function accessOf(flags: AccessFlags): Promise<PoolerAccess> {
  if (!flags.pooler.length) throw new FerryError("missing --pooler: name every replica's control URL (https://host:port), once each", 2);
  for (const url of flags.pooler) {
    if (!/^https:\/\/[^/@\s]+\/?$/.test(url)) throw new FerryError(`--pooler must be https://host:port (got ${url.replace(/\/\/[^@/]*@/, "//***@")})`, 2);
  }
  if (new Set(flags.pooler).size !== flags.pooler.length) throw new FerryError("--pooler names a replica twice", 2);
  const adminPassword = flags.passwordStdin ? await readStdin() : secretEnv(POOLER_ENV.adminPassword);
  if (!adminPassword) throw new FerryError("--password-stdin: stdin was empty", 2);
  let ca: string | undefined = process.env[POOLER_ENV.controlCa] || undefined;
  if (flags.poolerCa) {
    try {
      ca = readFileSync(flags.poolerCa, "utf8");
    } catch {
      throw new FerryError(`--pooler-ca: cannot read ${flags.poolerCa}`, 2);
    }
  }
  return { replicas: flags.pooler, adminPassword, ca };
}

/** The server's CA: the PEM in FERRY_POOLER_SERVER_CA, else the file FERRY_POOLER_SERVER_CA_FILE names. */
function serverCaOf(): string | undefined {
  const pem = process.env[POOLER_ENV.serverCa];
  if (pem) return pem;
  const file = process.env[POOLER_ENV.serverCaFile];
  if (!file) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch {
    throw new FerryError(`${POOLER_ENV.serverCaFile}: cannot read ${file}`, 2);
  }
}

const collect = (value: string, acc: string[]) => [...acc, value];

/** Where a repoint's URL comes from: the app's own login on that side, for that store. */
function repointEnv(store: PoolerStore, to: "target" | "source"): string {
  if (store === "redis") return to === "target" ? ENV.poolerRedisTargetUrl : ENV.poolerRedisSourceUrl;
  return to === "target" ? ENV.poolerTargetUrl : ENV.poolerSourceUrl;
}

function replicaCommand(parent: Command, name: string, description: string): Command {
  return parent.command(name).description(description)
    .option("--pooler <url>", "a replica's control URL, https://host:port (once per replica)", collect, [] as string[])
    .option("--pooler-ca <file>", `PEM the replicas' certificates chain to (default: the PEM in ${POOLER_ENV.controlCa}, else the system's CA store)`)
    .option("--password-stdin", `read the admin password from stdin instead of ${POOLER_ENV.adminPassword}`)
    .addOption(new Option("--store <store>", "which half of the replicas: postgres (PgBouncer) or redis (the Redis proxy, serve --redis-port)").choices(["postgres", "redis"]).default("postgres"));
}

function render(r: PoolerResult): string {
  const lines = [...r.steps.map((s) => `  ${s.name} (${s.ms} ms): ${s.detail ?? ""}`),
    ...r.replicas.map((x) => `${x.replica}: ${"database" in x ? x.database : "redis"} -> ${whereOf(x)}${x.paused ? " (paused)" : ""}`)];
  return r.ok ? lines.join("\n") : [`pooler step failed: ${r.error}`, ...lines].join("\n");
}

/** Print the result; a failed step is also the one-line reason on stderr. */
function finish(flags: GlobalOptions, r: PoolerResult): number {
  emit(flags, r, render);
  if (!r.ok) process.stderr.write(`ferry: ${r.error}\n`);
  return r.ok ? 0 : 1;
}

export function registerPoolerCommands(program: Command): void {
  const pooler = program.command("pooler").description("the pooler the cutover pauses, repoints and resumes: PgBouncer for Postgres, and the Redis proxy (--store redis)");

  replicaCommand(pooler, "pause", "pause every replica (in-flight transactions, or Redis commands, finish; new ones wait); if one cannot be paused, every replica is resumed and the step fails")
    .addOption(new Option("--timeout <seconds>", "how long the pause may wait for what is in flight").default(10).argParser(integer("--timeout", 1, 3600)))
    .action(action(async (_o: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals() as AccessFlags & { timeout: number };
      return finish(flags, await pauseAll(await accessOf(flags), flags.timeout * 1000, flags.store));
    }));

  replicaCommand(pooler, "repoint", `point every replica at the target (${ENV.poolerTargetUrl}; --store redis: ${ENV.poolerRedisTargetUrl}) or the source (${ENV.poolerSourceUrl}; ${ENV.poolerRedisSourceUrl}): the app's login there; the URL travels to the replicas over TLS only`)
    .addOption(new Option("--to <side>", "which server the replicas point at").choices(["target", "source"]).default("target"))
    .action(action(async (_o: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals() as AccessFlags & { to: "target" | "source" };
      const url = secretEnv(repointEnv(flags.store ?? "postgres", flags.to));
      return finish(flags, await repointAll(await accessOf(flags), url, flags.store));
    }));

  replicaCommand(pooler, "resume", "resume every replica on the server it points at")
    .action(action(async (_o: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals() as AccessFlags;
      return finish(flags, await resumeAll(await accessOf(flags), flags.store));
    }));

  replicaCommand(pooler, "status", "where every replica points and whether it is paused (read-only)")
    .action(action(async (_o: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals() as AccessFlags;
      return finish(flags, await poolerStatus(await accessOf(flags), flags.store));
    }));

  pooler.command("serve").description("run pgbouncer and its control API (what a pooler task runs); secrets from FERRY_POOLER_* variables")
    .requiredOption("--database <alias>", "the database name the app connects to (its DATABASE_URL's database)")
    .requiredOption("--client-user <user>", "the user the app logs in as (password FERRY_POOLER_CLIENT_PASSWORD)")
    .option("--admin-user <user>", "the admin console's user (password FERRY_POOLER_ADMIN_PASSWORD)", "ferry")
    .option("--listen <addr>", "pgbouncer's address for the app", "0.0.0.0")
    .addOption(new Option("--port <n>", "pgbouncer's port").default(6432).argParser(integer("--port", 1, 65535)))
    .option("--control-listen <addr>", "the control API's address", "0.0.0.0")
    .addOption(new Option("--control-port <n>", "the control API's port (HTTPS)").default(6433).argParser(integer("--control-port", 0, 65535)))
    .addOption(new Option("--pool-mode <mode>", "transaction (PAUSE waits for transactions) or session (it waits for clients to leave)").choices(["transaction", "session"]).default("transaction"))
    .addOption(new Option("--pool-size <n>", "server connections per replica").default(20).argParser(integer("--pool-size", 1, 10_000)))
    .addOption(new Option("--query-wait-timeout <seconds>", "how long a query may wait (while paused, too)").default(120).argParser(integer("--query-wait-timeout", 1, 86_400)))
    .option("--run-as <user>", "the Unix user pgbouncer switches to when started as root (it refuses to run as root)")
    .option("--dir <dir>", "where the private directory (0700) is made")
    .addOption(new Option("--redis-port <n>", `also run the Redis proxy on this port (TLS, the client user's password; its server: ${POOLER_ENV.redisUrl}); off when not given`).argParser(integer("--redis-port", 0, 65535)))
    .option("--redis-listen <addr>", "the Redis proxy's address (default: --listen)")
    .action(action(async (_o: unknown, cmd: Command) => {
      const f = cmd.optsWithGlobals() as GlobalOptions & {
        database: string; clientUser: string; adminUser: string; listen: string; port: number; controlListen: string; controlPort: number;
        poolMode: "transaction" | "session"; poolSize: number; queryWaitTimeout: number; runAs?: string; dir?: string; redisPort?: number; redisListen?: string;
      };
      const supervisor = await serve({
        database: f.database, clientUser: f.clientUser, adminUser: f.adminUser, listenAddr: f.listen, listenPort: f.port,
        controlAddr: f.controlListen, controlPort: f.controlPort, poolMode: f.poolMode, defaultPoolSize: f.poolSize,
        queryWaitTimeout: f.queryWaitTimeout, runAs: f.runAs, parentDir: f.dir,
        serverUrl: secretEnv(POOLER_ENV.serverUrl), adminPassword: secretEnv(POOLER_ENV.adminPassword), clientPassword: secretEnv(POOLER_ENV.clientPassword),
        tlsCert: secretEnv(POOLER_ENV.tlsCert), tlsKey: secretEnv(POOLER_ENV.tlsKey), serverCa: serverCaOf(),
        redis: f.redisPort === undefined ? undefined : { listenAddr: f.redisListen ?? f.listen, port: f.redisPort, serverUrl: secretEnv(POOLER_ENV.redisUrl) },
      });
      emit(f, { serving: true, port: f.port, controlPort: supervisor.controlPort, ...(supervisor.redisPort !== undefined ? { redisPort: supervisor.redisPort } : {}) },
        (r) => `pooler serving ${f.database} on port ${r.port}${r.redisPort !== undefined ? `, Redis on ${r.redisPort}` : ""}, control on ${r.controlPort}`);
      for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void supervisor.close());
      const code = await supervisor.exited;
      return code === 0 || code === null ? 0 : 1;
    }));
}
