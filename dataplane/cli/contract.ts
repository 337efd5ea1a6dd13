// The CLI contract: every `ferry` command that another part of the repository runs (the
// Pulumi stages, the Heroku source's reads, the app plane's steps), built here, next to the CLI that parses it,
// as its words plus the names of the environment variables it reads. The stages join the
// words with their shell quoting (components/shell.ts); a test or the rehearsal runs them
// as they are. Only names, strategies and numbers go into the words (Pulumi stores a
// Command's string in state); URLs and keys travel in the variables named here, and
// tests/dataplane/cli/contract.test.ts parses every command with the real CLI parser.
import type { RedisMode } from "../../config/strategy";
import type { Strategy as PostgresStrategy } from "../postgres/names";
import type { RedisFence } from "../redis/fence";

/** One `ferry` invocation: `argv[0]` is "ferry"; `env` names what it reads, never values. */
export interface FerryCommand {
  argv: string[];
  env: string[];
}

/** Env vars the data plane reads its connections and keys from. */
export const ENV = {
  sourceUrl: "FERRY_SOURCE_URL",
  targetUrl: "FERRY_TARGET_URL",
  sourceRedisUrl: "FERRY_SOURCE_REDIS_URL",
  targetRedisUrl: "FERRY_TARGET_REDIS_URL",
  /**
   * A Heroku source instead of a URL: the app and add-on (names, no secret) whose current
   * URL each step reads through the Platform API with HEROKU_API_KEY (../cli/source.ts).
   */
  sourceHerokuApp: "FERRY_SOURCE_HEROKU_APP",
  sourceHerokuAddon: "FERRY_SOURCE_HEROKU_ADDON",
  sourceRedisHerokuApp: "FERRY_SOURCE_REDIS_HEROKU_APP",
  sourceRedisHerokuAddon: "FERRY_SOURCE_REDIS_HEROKU_ADDON",
  herokuApiKey: "HEROKU_API_KEY",
  sshKey: "FERRY_SSH_KEY",
  /** The pooler replicas' admin password (`ferry pooler`, docs/pooler.md). */
  poolerAdminPassword: "FERRY_POOLER_ADMIN_PASSWORD",
  /** What a repoint points the pooler at: the app's own login on the target or the source (not ferry's). */
  poolerTargetUrl: "FERRY_POOLER_TARGET_URL",
  poolerSourceUrl: "FERRY_POOLER_SOURCE_URL",
  /** The same for the pooler's Redis proxy: the app's own rediss:// login on each side. */
  poolerRedisTargetUrl: "FERRY_POOLER_REDIS_TARGET_URL",
  poolerRedisSourceUrl: "FERRY_POOLER_REDIS_SOURCE_URL",
  /** PEM the replicas' control certificates chain to, where no --pooler-ca file is given (a Pulumi step's environment). */
  poolerCa: "FERRY_POOLER_CA",
  /** What the step's create printed: the Command provider sets it for update and delete. */
  previousStdout: "PULUMI_COMMAND_STDOUT",
} as const;

/** Every command prints JSON: the stages and the Heroku reads parse what it says. */
function ferry(env: string[], ...words: (string | number)[]): FerryCommand {
  return { argv: ["ferry", "--json", ...words.map(String)], env };
}

// The source is a URL (a box) or a Heroku add-on read at each step: either may be set.
const POSTGRES_ENV = [ENV.sourceUrl, ENV.sourceHerokuApp, ENV.sourceHerokuAddon, ENV.herokuApiKey, ENV.targetUrl];
const REDIS_ENV = [ENV.sourceRedisUrl, ENV.sourceRedisHerokuApp, ENV.sourceRedisHerokuAddon, ENV.herokuApiKey, ENV.targetRedisUrl];
const HEROKU_ENV = [ENV.herokuApiKey];
const SSH_ENV = [ENV.sshKey];

/**
 * What the cutover's fence may leave alone (`ferry pg cutover --help`): roles whose every
 * writer the operator stopped, and superusers that are the provider's own (a Heroku
 * source: Heroku gives customers no superuser). Without them, a writer ferry's role cannot
 * fence is refused by preflight and the cutover. Role names only: no secret.
 */
export interface FenceFlags {
  unfencedRoles?: string[];
  providerSuperusers?: boolean;
}

const fenceWords = (f: FenceFlags = {}): string[] => [
  ...(f.unfencedRoles ?? []).flatMap((r) => ["--unfenced-role", r]),
  ...(f.providerSuperusers ? ["--provider-superusers"] : []),
];

/** Where a backup lives in the stack's bucket; names only (the AWS CLI finds its own credentials). */
export interface BackupTarget {
  bucket: string;
  key: string;
  region: string;
}

/**
 * The final backups' prefix in the stack's bucket, with a lifecycle rule of its own
 * (ferry:target.finalBackupDays), apart from backups/ (the hourly Redis snapshots).
 */
export const FINAL_BACKUP_PREFIX = "final-backup/";

/** Each store's final backup, at a fixed key: a later version of it is kept by the bucket's versioning. */
export const finalBackupKey = (store: "postgres" | "redis") => `${FINAL_BACKUP_PREFIX}${store === "postgres" ? "postgres.pgdump" : "redis.ferry-backup"}`;

const backupWords = (o: BackupTarget) => ["--bucket", o.bucket, "--key", o.key, "--region", o.region];

export const pg = {
  preflight: (strategy: PostgresStrategy, fence?: FenceFlags) => ferry(POSTGRES_ENV, "pg", "preflight", "--strategy", strategy, ...fenceWords(fence)),
  /** capture applies the log until stopped; `untilCaughtUp` returns once what was committed before it started is applied. */
  replicate: (strategy: PostgresStrategy, o: { untilCaughtUp?: boolean } = {}) =>
    ferry(POSTGRES_ENV, "pg", "replicate", "--strategy", strategy, ...(o.untilCaughtUp ? ["--until-caught-up"] : [])),
  verify: () => ferry(POSTGRES_ENV, "pg", "verify"),
  /** Read-only: where the move stands (phase, lag, the cutover's steps). */
  status: () => ferry(POSTGRES_ENV, "pg", "status"),
  /** Exit 1 unless the cutover finished and the source is still fenced: the gate before releasing it. */
  cutoverDone: () => ferry(POSTGRES_ENV, "pg", "status", "--require-cutover"),
  cutover: (strategy: PostgresStrategy, maxLagBytes: number, timeoutSeconds: number, fence?: FenceFlags) =>
    ferry(POSTGRES_ENV, "pg", "cutover", "--strategy", strategy, "--max-lag-bytes", maxLagBytes, "--timeout", timeoutSeconds, ...fenceWords(fence)),
  rollback: (strategy: PostgresStrategy) => ferry(POSTGRES_ENV, "pg", "rollback", "--strategy", strategy),
  /** Exit 1, changing nothing, when going back would lose writes the target took. */
  rollbackCheck: (strategy: PostgresStrategy) => ferry(POSTGRES_ENV, "pg", "rollback", "--check", "--strategy", strategy),
  cleanup: () => ferry(POSTGRES_ENV, "pg", "cleanup"),
  /** The source's custom-format dump into the bucket, checksummed and read back: the gate before releasing the source. */
  backup: (o: BackupTarget) => ferry([ENV.sourceUrl], "pg", "backup", ...backupWords(o)),
  /** The way back from decommission: a backup, its checksum checked, into the empty database in FERRY_TARGET_URL. */
  restore: (o: BackupTarget) => ferry([ENV.targetUrl], "pg", "restore", ...backupWords(o)),
};

/**
 * Redis steps. Heroku Redis serves TLS with self-signed certificates that no CA vouches
 * for, so its steps accept them explicitly (`--tls-insecure`), as Heroku documents.
 */
export function redis(acceptSelfSignedTls: boolean) {
  const tls = acceptSelfSignedTls ? ["--tls-insecure"] : [];
  const step = (...words: (string | number)[]) => ferry(REDIS_ENV, "redis", ...words, ...tls);
  return {
    preflight: () => step("preflight"),
    replicate: (mode: RedisMode) => step("replicate", "--strategy", mode),
    verify: () => step("verify"),
    /** Read-only: where the move stands (offsets and lag, or keys copied). */
    status: () => step("status"),
    cutoverDone: () => step("status", "--require-cutover"),
    cutover: (mode: RedisMode, fence: RedisFence) => step("cutover", "--strategy", mode, ...fenceFlag(fence)),
    rollback: () => step("rollback"),
    cleanup: () => step("cleanup"),
    rollbackCheck: () => step("rollback", "--check"),
    drainSidekiq: (timeoutSeconds: number) => step("drain", "--sidekiq", "--timeout", timeoutSeconds),
    /** Every key of the source (DUMP payloads, absolute expiries) into the bucket, checksummed and read back. */
    backup: (o: BackupTarget) => ferry([ENV.sourceRedisUrl], "redis", "backup", ...backupWords(o), ...tls),
    /** The way back from decommission: a backup, its checksum checked, into the empty Redis in FERRY_TARGET_REDIS_URL. */
    restore: (o: BackupTarget) => ferry([ENV.targetRedisUrl], "redis", "restore", ...backupWords(o), ...tls),
  };
}

/**
 * What the Postgres fence may leave alone for a source: on Heroku Postgres the superusers
 * are Heroku's own (customers get none: https://devcenter.heroku.com/articles/heroku-postgresql#connection-permissions),
 * so no customer credential can fence them and the app never connects as one.
 */
export function pgFenceOf(sourceKind: "heroku" | "vultr"): FenceFlags {
  return sourceKind === "heroku" ? { providerSuperusers: true } : {};
}

/**
 * How a source's Redis writers are kept out at cutover. A self-managed Redis (the box)
 * takes an ACL fence on the app's user. Heroku Key-Value Store manages its one
 * credential itself (no ACL SETUSER for the app; see rehearsal/servers/redis.ts): there
 * the program's stopped dynos (maintenance + scale to 0, before the stores' cutover) are
 * the fence, and the cutover checks that no other client is still connected.
 */
export function redisFenceOf(sourceKind: "heroku" | "vultr"): RedisFence {
  return sourceKind === "heroku" ? "dynos-stopped" : "acl";
}

const fenceFlag = (fence: RedisFence) => (fence === "acl" ? [] : ["--fence", fence]);

/**
 * The whole stack's cutover in one process (`ferry cutover`), where Postgres and Redis
 * both move: both fences first, the app's Sidekiq queues drained between them, the slow
 * catch-ups and verifies side by side. Each store's strategy is passed (`--strategy` once
 * per store, as `ferry pg` and `ferry redis` take it; the value names the store) so that a
 * stack whose config disagrees with what replicate recorded is refused before anything moves.
 * Its rollbacks stay the per-store ones (`pg.rollback`, `redis().rollback`).
 */
export function stack(acceptSelfSignedTls: boolean) {
  const tls = acceptSelfSignedTls ? ["--tls-insecure"] : [];
  return {
    cutover: (args: {
      /**
       * strategy: Postgres moves; mode and fence: Redis does. One alone moves through this
       * command where the pooler holds the app's connections to it.
       */
      strategy?: PostgresStrategy; mode?: RedisMode; fence?: RedisFence; pgFence?: FenceFlags; maxLagBytes: number; timeoutSeconds: number; drainSidekiq: boolean;
      /**
       * The Postgres pooler paused before the fence and repointed at the target
       * (docs/pooler.md); `redis`: its Redis proxy too, around the Redis fence.
       */
      pooler?: { replicas: PoolerReplicas; pauseTimeoutSeconds: number; redis?: boolean };
    }) =>
      ferry(
        [...new Set([
          ...(args.strategy ? POSTGRES_ENV : []), ...(args.mode ? REDIS_ENV : []), ...(args.pooler && args.strategy ? [...POOLER_ENV, ENV.poolerTargetUrl] : []),
          ...(args.pooler?.redis ? [...POOLER_ENV, ENV.poolerRedisTargetUrl] : []),
        ])],
        "cutover", ...(args.strategy ? ["--strategy", args.strategy] : []), ...(args.mode ? ["--strategy", args.mode, ...fenceFlag(args.fence ?? "acl")] : []), "--max-lag-bytes", args.maxLagBytes, "--timeout", args.timeoutSeconds,
        ...(args.drainSidekiq ? ["--sidekiq"] : []), ...fenceWords(args.pgFence), ...tls,
        ...(args.pooler ? [...poolerWords(args.pooler.replicas), "--pooler-timeout", args.pooler.pauseTimeoutSeconds, ...(args.pooler.redis ? ["--pooler-redis"] : [])] : []),
      ),
  };
}

/** The pooler's replicas: their control URLs (https://host:port, no secret) and the CA their certificates chain to. */
export interface PoolerReplicas {
  urls: string[];
  caFile?: string;
}

const poolerWords = (r: PoolerReplicas) => [...r.urls.flatMap((u) => ["--pooler", u]), ...(r.caFile ? ["--pooler-ca", r.caFile] : [])];
const POOLER_ENV = [ENV.poolerAdminPassword, ENV.poolerCa];

/** Which half of the pooler a step drives: PgBouncer (the default, no flag) or the Redis proxy. */
export type PoolerStore = "postgres" | "redis";
const storeWords = (store: PoolerStore) => (store === "redis" ? ["--store", "redis"] : []);
const REPOINT_ENV = {
  postgres: { target: ENV.poolerTargetUrl, source: ENV.poolerSourceUrl },
  redis: { target: ENV.poolerRedisTargetUrl, source: ENV.poolerRedisSourceUrl },
} as const;

/** The pooler the cutover pauses, repoints and resumes (docs/pooler.md); the server URL a repoint sends is read from the environment. */
export const pooler = {
  pause: (r: PoolerReplicas, timeoutSeconds: number, store: PoolerStore = "postgres") =>
    ferry(POOLER_ENV, "pooler", "pause", ...poolerWords(r), "--timeout", timeoutSeconds, ...storeWords(store)),
  repoint: (r: PoolerReplicas, to: "target" | "source", store: PoolerStore = "postgres") =>
    ferry([...POOLER_ENV, REPOINT_ENV[store][to]], "pooler", "repoint", ...poolerWords(r), "--to", to, ...storeWords(store)),
  resume: (r: PoolerReplicas, store: PoolerStore = "postgres") => ferry(POOLER_ENV, "pooler", "resume", ...poolerWords(r), ...storeWords(store)),
  status: (r: PoolerReplicas, store: PoolerStore = "postgres") => ferry(POOLER_ENV, "pooler", "status", ...poolerWords(r), ...storeWords(store)),
};

/** How ferry reaches the old box over SSH: it opens the session itself. */
export interface OldHost {
  /** user@address[:port] */
  ssh: string;
  /** Run changes through `sudo -n` (the SSH user is not root). */
  sudo: boolean;
  /** The box's public host key (ferry:source.ssh.hostKey): the only key ssh trusts for it. */
  hostKey: string;
}

/** The old box's nginx site the proxy takes over (ferry:source.nginx). */
export interface OldSite {
  confFile: string;
  listen: string[];
  sslListen: string[];
  sslCertificate: string;
  sslCertificateKey: string;
}

export interface ProxyTarget {
  /** https:// only: users' traffic crosses the internet to the ALB. */
  origin: string;
  serverName: string;
  /** Name the origin's certificate is checked against (the hostname; the ACM cert does not cover the ALB name). */
  originServerName: string;
  site: OldSite;
}

const sshFlags = (host: Pick<OldHost, "ssh" | "hostKey">) => ["--host", host.ssh, "--ssh-key-env", ENV.sshKey, "--host-key", host.hostKey];
const oldHostFlags = (host: OldHost) => [...sshFlags(host), ...(host.sudo ? ["--sudo"] : [])];

export const traffic = {
  /**
   * Replaces the site's own file (every server block, 443 included) with one proxy block
   * on the same addresses and certificate; the origin is always verified TLS.
   */
  proxyApply: (host: OldHost, target: ProxyTarget) => {
    if (!target.origin.startsWith("https://")) throw new Error(`the old box may only forward to an https:// origin, got ${target.origin}`);
    return ferry(
      SSH_ENV, "proxy", "apply", ...oldHostFlags(host), "--conf-file", target.site.confFile,
      "--origin", target.origin,
      "--origin-server-name", target.originServerName,
      "--server-name", target.serverName,
      ...target.site.listen.flatMap((l) => ["--listen", l]),
      ...target.site.sslListen.flatMap((l) => ["--ssl-listen", l]),
      "--ssl-certificate", target.site.sslCertificate,
      "--ssl-certificate-key", target.site.sslCertificateKey,
    );
  },
  /** Must name the same file as the apply: the kept original is found by it. */
  proxyRevert: (host: OldHost, site: Pick<OldSite, "confFile">) => ferry(SSH_ENV, "proxy", "revert", ...oldHostFlags(host), "--conf-file", site.confFile),
  health: (url: string, times: number, intervalSeconds: number) =>
    ferry([], "health", "--url", url, "--times", times, "--interval", intervalSeconds),
};

export const heroku = {
  /** Read-only: the app's add-ons, as the Heroku source checks them against ferry:source. */
  addons: (app: string) => ferry(HEROKU_ENV, "heroku", "addons", "--app", app),
  /** Read-only: the app's domains (the DNS targets Cloudflare's records point at). */
  domains: (app: string) => ferry(HEROKU_ENV, "heroku", "domains", "--app", app),
  maintenance: (app: string, on: boolean) => ferry(HEROKU_ENV, "heroku", "maintenance", on ? "on" : "off", "--app", app),
  /**
   * Points `configVar` at the value of the env var `fromEnv` (never on argv). Heroku refuses
   * (422) to overwrite a var an add-on attachment owns (DATABASE_URL), so this is `ferry
   * heroku repoint`: it re-attaches the add-on as FERRY_SOURCE_<NAME> and detaches the owner
   * first. Pointing it back at the value the parked add-on holds (the source URL, as the
   * cutover's rollback does) attaches the add-on under its own name again.
   */
  configFromEnv: (app: string, configVar: string, fromEnv: string) =>
    ferry([...HEROKU_ENV, fromEnv], "heroku", "repoint", "--app", app, "--var", configVar, "--from-env", fromEnv),
  /** The explicit way back of `configFromEnv`: the add-on owns `configVar` again, whatever its value now. */
  repointRestore: (app: string, configVar: string) => ferry(HEROKU_ENV, "heroku", "repoint", "--app", app, "--var", configVar, "--restore"),
  /**
   * The cutover's way back: `configVar` holds `addon`'s current value again (its attachment
   * restored, or the URL its own attachments hold now), with no copy of the source URL,
   * which Heroku's credential rotation would have made stale.
   */
  repointToAddon: (app: string, configVar: string, addon: string) => ferry(HEROKU_ENV, "heroku", "repoint", "--app", app, "--var", configVar, "--to-addon", addon),
  scale: (app: string, counts: Record<string, number>) =>
    ferry(HEROKU_ENV, "heroku", "scale", "--app", app, ...Object.entries(counts).map(([type, n]) => `${type}=${n}`)),
  addonDestroy: (app: string, addon: string) => ferry(HEROKU_ENV, "heroku", "destroy-addon", "--app", app, "--addon", addon, "--confirm", app),
  /** Heroku Scheduler off: its add-on destroyed (the one lever the Platform API documents); prints what `schedulerOn` restores. */
  schedulerOff: (app: string) => ferry(HEROKU_ENV, "heroku", "scheduler", "off", "--app", app),
  /** The way back: the add-ons `schedulerOff` printed (in PULUMI_COMMAND_STDOUT) provisioned again; `jobs` printed to enter again. */
  schedulerOn: (app: string, jobs: string[]) =>
    ferry([...HEROKU_ENV, ENV.previousStdout], "heroku", "scheduler", "on", "--app", app, "--from-env", ENV.previousStdout, ...jobs.flatMap((j) => ["--job", j])),
  /** Read-only: the app's current release (slug, stack, process types), what the app plane runs. */
  release: (app: string) => ferry(HEROKU_ENV, "heroku", "release", "--app", app),
  /** Download a release's slug to `out`, checked against Heroku's SHA-256. */
  slug: (app: string, slugId: string, out: string) => ferry(HEROKU_ENV, "heroku", "slug", "--app", app, "--slug", slugId, "--out", out),
  /**
   * Copy the app's config vars into a Secrets Manager secret, values piped to the AWS
   * CLI's stdin; `exclude` names vars left out (ferry's own). Prints names, never values.
   */
  configCopy: (app: string, a: SecretTarget) =>
    ferry(HEROKU_ENV, "heroku", "config", "copy", "--app", app, ...secretFlags(a)),
};

/** Where a config copy writes: the secret (its ARN is no secret), its region, and the vars left out. */
export interface SecretTarget {
  secretArn: string;
  region: string;
  exclude: string[];
}

const secretFlags = (a: SecretTarget) => [
  "--secret-id", a.secretArn, "--region", a.region, ...(a.exclude.length > 0 ? ["--exclude", a.exclude.join(",")] : []),
];

/** Which crontab of the box holds the jobs that move (ferry:source.cron): a user's, or a cron file. */
export type BoxCrontab = { user?: string; file?: string };

const crontabFlags = (c: BoxCrontab) => (c.file ? ["--file", c.file] : c.user ? ["--user", c.user] : []);

export const box = {
  /** The box's job lines whose commands are `declared` (every job line must be) commented out over SSH. */
  crontabOff: (host: Pick<OldHost, "ssh" | "hostKey">, crontab: BoxCrontab, declared: string[]) =>
    ferry(SSH_ENV, "box", "crontab", "off", ...sshFlags(host), ...crontabFlags(crontab), ...declared.flatMap((d) => ["--declared", d])),
  /** The way back: what `crontabOff` commented out, uncommented. */
  crontabOn: (host: Pick<OldHost, "ssh" | "hostKey">, crontab: BoxCrontab) => ferry(SSH_ENV, "box", "crontab", "on", ...sshFlags(host), ...crontabFlags(crontab)),
  /** Copy a box's env file, read over SSH, into a Secrets Manager secret (like `heroku.configCopy`). */
  configCopy: (host: Pick<OldHost, "ssh" | "hostKey">, envFile: string, a: SecretTarget) =>
    ferry(SSH_ENV, "box", "config", "copy", ...sshFlags(host), "--env-file", envFile, ...secretFlags(a)),
  /**
   * Point `variable` in the box's env file at the value of the env var `fromEnv` (never on
   * argv), keeping its old lines on the box for the way back, then (re)start `units` on it:
   * the app stays on the box and serves from a moved store.
   */
  repoint: (host: OldHost, envFile: string, variable: string, fromEnv: string, units: string[]) =>
    ferry([...SSH_ENV, fromEnv], "box", "repoint", ...oldHostFlags(host), "--env-file", envFile, "--var", variable, "--from-env", fromEnv, ...units.flatMap((u) => ["--unit", u])),
  /** The way back of `repoint`: `units` stopped, then `variable`'s lines as they were before it. */
  repointRestore: (host: OldHost, envFile: string, variable: string, units: string[]) =>
    ferry(SSH_ENV, "box", "repoint", ...oldHostFlags(host), "--env-file", envFile, "--var", variable, "--restore", ...units.flatMap((u) => ["--unit", u])),
  /** Stop (disable --now) or start (enable --now) the app's systemd units on the box. */
  units: (host: OldHost, action: "stop" | "start", units: string[]) =>
    ferry(SSH_ENV, "box", "units", action, ...oldHostFlags(host), ...units.flatMap((u) => ["--unit", u])),
};
