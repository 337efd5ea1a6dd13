// The `ferry` command lines the stages run, built from typed arguments. Only names,
// strategies and numbers go into a command line (Pulumi stores it in state); URLs and
// keys travel in environment variables named by the CLI contract.
import { shellQuote } from "../../components/shell";
import type { PostgresStrategy, RedisMode } from "../../config";

/** Env vars the data plane reads its connections and keys from. */
export const ENV = {
  sourceUrl: "FERRY_SOURCE_URL",
  targetUrl: "FERRY_TARGET_URL",
  sourceRedisUrl: "FERRY_SOURCE_REDIS_URL",
  targetRedisUrl: "FERRY_TARGET_REDIS_URL",
  herokuApiKey: "HEROKU_API_KEY",
  sshKey: "FERRY_SSH_KEY",
} as const;

function ferry(...words: (string | number)[]): string {
  return ["ferry", "--json", ...words.map((w) => shellQuote(String(w)))].join(" ");
}

export const pg = {
  preflight: (strategy: PostgresStrategy) => ferry("pg", "preflight", "--strategy", strategy),
  replicate: (strategy: PostgresStrategy) => ferry("pg", "replicate", "--strategy", strategy),
  verify: () => ferry("pg", "verify"),
  /** Exit 1 unless the cutover finished and the source is still fenced: the gate before releasing it. */
  cutoverDone: () => ferry("pg", "status", "--require-cutover"),
  cutover: (strategy: PostgresStrategy, maxLagBytes: number, timeoutSeconds: number) =>
    ferry("pg", "cutover", "--strategy", strategy, "--max-lag-bytes", maxLagBytes, "--timeout", timeoutSeconds),
  rollback: (strategy: PostgresStrategy) => ferry("pg", "rollback", "--strategy", strategy),
  /** Exit 1, changing nothing, when going back would lose writes the target took. */
  rollbackCheck: (strategy: PostgresStrategy) => ferry("pg", "rollback", "--check", "--strategy", strategy),
  cleanup: () => ferry("pg", "cleanup"),
};

/**
 * Redis steps. Heroku Redis serves TLS with self-signed certificates that no CA vouches
 * for, so its steps accept them explicitly (`--tls-insecure`), as Heroku documents.
 */
export function redisSteps(acceptSelfSignedTls: boolean) {
  const tls = acceptSelfSignedTls ? ["--tls-insecure"] : [];
  return {
    preflight: () => ferry("redis", "preflight", ...tls),
    replicate: (mode: RedisMode) => ferry("redis", "replicate", "--mode", mode, ...tls),
    verify: () => ferry("redis", "verify", ...tls),
    cutoverDone: () => ferry("redis", "status", "--require-cutover", ...tls),
    cutover: (mode: RedisMode) => ferry("redis", "cutover", "--mode", mode, ...tls),
    rollback: () => ferry("redis", "rollback", ...tls),
    cleanup: () => ferry("redis", "cleanup", ...tls),
    rollbackCheck: () => ferry("redis", "rollback", "--check", ...tls),
    drainSidekiq: (timeoutSeconds: number) => ferry("redis", "drain", "--sidekiq", "--timeout", timeoutSeconds, ...tls),
  };
}

/** How `ferry proxy` reaches the old box: it opens the SSH session itself. */
export interface OldHost {
  /** user@address[:port] */
  ssh: string;
  /** Run nginx changes through `sudo -n` (the SSH user is not root). */
  sudo: boolean;
}

const oldHostFlags = (host: OldHost) => ["--host", host.ssh, "--ssh-key-env", ENV.sshKey, ...(host.sudo ? ["--sudo"] : [])];

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

const siteFlags = (site: OldSite) => ["--conf-file", site.confFile];

export const traffic = {
  /**
   * Replaces the site's own file (every server block, 443 included) with one proxy block
   * on the same addresses and certificate; the origin is always verified TLS.
   */
  proxyApply: (host: OldHost, target: ProxyTarget) => {
    if (!target.origin.startsWith("https://")) throw new Error(`the old box may only forward to an https:// origin, got ${target.origin}`);
    return ferry(
      "proxy", "apply", ...oldHostFlags(host), ...siteFlags(target.site),
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
  proxyRevert: (host: OldHost, site: Pick<OldSite, "confFile">) => ferry("proxy", "revert", ...oldHostFlags(host), "--conf-file", site.confFile),
  health: (url: string, times: number, intervalSeconds: number) =>
    ferry("health", "--url", url, "--times", times, "--interval", intervalSeconds),
};

export const heroku = {
  maintenance: (app: string, on: boolean) => ferry("heroku", "maintenance", on ? "on" : "off", "--app", app),
  /**
   * Points `configVar` at the value of the env var `fromEnv` (never on argv). Heroku refuses
   * (422) to overwrite a var an add-on attachment owns (DATABASE_URL), so this is `ferry
   * heroku repoint`: it re-attaches the add-on as FERRY_SOURCE_<NAME> and detaches the owner
   * first. Pointing it back at the value the parked add-on holds (the source URL, as the
   * cutover's rollback does) attaches the add-on under its own name again.
   */
  configFromEnv: (app: string, configVar: string, fromEnv: string) =>
    ferry("heroku", "repoint", "--app", app, "--var", configVar, "--from-env", fromEnv),
  /** The explicit way back of `configFromEnv`: the add-on owns `configVar` again, whatever its value now. */
  repointRestore: (app: string, configVar: string) => ferry("heroku", "repoint", "--app", app, "--var", configVar, "--restore"),
  scale: (app: string, counts: Record<string, number>) =>
    ferry("heroku", "scale", "--app", app, ...Object.entries(counts).map(([type, n]) => `${type}=${n}`)),
  addonDestroy: (app: string, addon: string) => ferry("heroku", "addons", "destroy", "--app", app, "--addon", addon, "--confirm", app),
};

/** Stops (or restarts, on rollback) the app's systemd units on the old box; sudo unless root. */
export const systemd = {
  stop: (units: string[], sudo: boolean) => [...(sudo ? ["sudo", "-n"] : []), "systemctl", "disable", "--now", ...units].map(shellQuote).join(" "),
  start: (units: string[], sudo: boolean) => [...(sudo ? ["sudo", "-n"] : []), "systemctl", "enable", "--now", ...units].map(shellQuote).join(" "),
};

/** A URL without its password: identifies the source in `triggers` without storing a secret. */
export function urlIdentity(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ""}${u.host}${u.pathname}`;
}
