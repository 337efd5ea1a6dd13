// What TLS means for one PostgreSQL URL, decided once, so that ferry's own node-postgres
// connections and the libpq programs it starts (pg_dump, pg_restore, psql,
// pg_basebackup) agree. The semantics are libpq's, table "SSL Mode Descriptions":
// https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-SSLMODE-STATEMENTS
//
//   disable      plain only
//   allow        plain first; TLS if the server refuses plain
//   prefer       TLS first; plain if TLS fails (libpq's default, and ferry's)
//   require      TLS, no verification; but with a root CA file, the chain is verified
//                (libpq keeps this for backwards compatibility: require acts as verify-ca)
//   verify-ca    TLS, chain verified against the root CA file
//   verify-full  TLS, chain and host name verified
//
// node-postgres differs (pg-connection-string 2.x treats prefer/require/verify-ca as
// verify-full against Node's CA store, and a URL without sslmode as plain), so ferry
// never lets it read these parameters: it builds the `ssl` object itself and does the
// prefer/allow fallback itself. libpq also verifies the chain in allow and prefer when
// a root CA file is known (and falls back to plain when that fails); ferry does the same.
//
// A URL without sslmode gets libpq's default, prefer: Heroku Postgres (TLS only, on
// certificates nothing can verify) works, and so does a local server without TLS.
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConnectionOptions, checkServerIdentity, PeerCertificate } from "node:tls";
import { FerryError } from "../cli/common";
import { caContext } from "../cli/trust";

export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** ferry's variable for the CA bundle (on the runner: the RDS global bundle). */
export const CA_ENV = "FERRY_PG_CA_FILE";

/** URL parameters node-postgres reads but libpq rejects ("invalid URI query parameter"). */
const NODE_ONLY_PARAMS = ["ssl", "uselibpqcompat"];
/** Client certificates: libpq reads them, ferry does not pass them to node-postgres yet. */
const CLIENT_CERT_PARAMS = ["sslcert", "sslkey", "sslpassword"];

/** One connection attempt: with TLS or without. */
export type Attempt = "tls" | "plain";

export interface PgTls {
  mode: SslMode;
  /** Where the mode came from, for messages: "sslmode in the URL", "PGSSLMODE" or "the default". */
  modeFrom: string;
  /** The root CA file libpq would use, if any, and where it came from. */
  caFile?: string;
  caFrom?: string;
  /** What is checked when TLS is used. */
  verify: "nothing" | "chain" | "chain and host name";
  /** Attempts in order (allow and prefer fall back to the other). */
  attempts: Attempt[];
  /** The name the certificate must carry (the URL's host). */
  host: string;
  /** The IP to connect to instead of resolving `host` (libpq's hostaddr). */
  hostaddr?: string;
  port: number;
}

const modeAttempts: Record<SslMode, Attempt[]> = {
  disable: ["plain"],
  allow: ["plain", "tls"],
  prefer: ["tls", "plain"],
  require: ["tls"],
  "verify-ca": ["tls"],
  "verify-full": ["tls"],
};

function parseMode(value: string, from: string): SslMode {
  if (!(SSL_MODES as readonly string[]).includes(value)) {
    throw new FerryError(`TLS: ${from} must be one of ${SSL_MODES.join(", ")} (got "${value}")`, 2);
  }
  return value as SslMode;
}

/** The mode: the URL's sslmode wins over PGSSLMODE, which wins over libpq's default (prefer). */
function resolveMode(u: URL, env: NodeJS.ProcessEnv): { mode: SslMode; modeFrom: string } {
  const fromUrl = u.searchParams.get("sslmode");
  if (fromUrl !== null) return { mode: parseMode(fromUrl, "sslmode in the URL"), modeFrom: "sslmode in the URL" };
  if (env.PGSSLMODE) return { mode: parseMode(env.PGSSLMODE, "PGSSLMODE"), modeFrom: "PGSSLMODE" };
  return { mode: "prefer", modeFrom: "the default" };
}

/**
 * The root CA file, in libpq's order (sslrootcert in the URL, PGSSLROOTCERT,
 * ~/.postgresql/root.crt if it exists), with FERRY_PG_CA_FILE before the home file for
 * the verify modes only: one variable serves the target (RDS, verify-full) without
 * turning the source's prefer or require (Heroku: unverifiable) into a verification.
 */
function resolveCa(u: URL, mode: SslMode, env: NodeJS.ProcessEnv): { caFile?: string; caFrom?: string } {
  const fromUrl = u.searchParams.get("sslrootcert");
  if (fromUrl) return { caFile: fromUrl, caFrom: "sslrootcert in the URL" };
  // A libpq program ferry starts gets FERRY_PG_CA_FILE as PGSSLROOTCERT: name the one the user set.
  if (env.PGSSLROOTCERT) return { caFile: env.PGSSLROOTCERT, caFrom: env.PGSSLROOTCERT === env[CA_ENV] ? CA_ENV : "PGSSLROOTCERT" };
  if (mode.startsWith("verify-") && env[CA_ENV]) return { caFile: env[CA_ENV], caFrom: CA_ENV };
  // libpq's default location; a missing file is no error unless a verify mode needs it.
  const home = join(env.HOME ?? homedir(), ".postgresql", "root.crt");
  if (existsSync(home)) return { caFile: home, caFrom: "~/.postgresql/root.crt" };
  return {};
}

function checkCaFile(caFile: string, caFrom: string): void {
  let pem: string;
  try {
    pem = readFileSync(caFile, "utf8");
  } catch {
    throw new FerryError(`TLS: the CA file in ${caFrom} (${caFile}) cannot be read: give the path of a PEM CA bundle`, 2);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new FerryError(`TLS: the CA file in ${caFrom} (${caFile}) holds no PEM certificate: give the path of a PEM CA bundle`, 2);
  }
}

function refuseUnsupported(u: URL): void {
  for (const p of NODE_ONLY_PARAMS) {
    if (u.searchParams.has(p)) throw new FerryError(`TLS: URL parameter ${p} is node-postgres only and libpq refuses it: use sslmode=${SSL_MODES.join("|")}`, 2);
  }
  // pg-connection-string turns sslnegotiation=direct into `ssl: true` (verify-full against
  // Node's CA store), over ferry's decision; libpq 15 does not know it.
  if (u.searchParams.has("sslnegotiation")) {
    throw new FerryError("TLS: URL parameter sslnegotiation (PostgreSQL 17 direct TLS) is not supported by ferry: remove it", 2);
  }
  for (const p of CLIENT_CERT_PARAMS) {
    if (u.searchParams.has(p)) throw new FerryError(`TLS: URL parameter ${p} (client certificates) is not supported by ferry: authenticate with a password`, 2);
  }
}

/** Decide what TLS means for `url` (and the environment libpq would read). */
export function pgTls(url: string, env: NodeJS.ProcessEnv = process.env): PgTls {
  const u = new URL(url);
  refuseUnsupported(u);
  const hostaddr = u.searchParams.get("hostaddr") ?? env.PGHOSTADDR ?? undefined;
  if (hostaddr !== undefined && !isIP(hostaddr)) {
    throw new FerryError(`TLS: hostaddr must be a numeric IP address (got "${hostaddr}"): the host name goes in the URL's host`, 2);
  }
  const { mode, modeFrom } = resolveMode(u, env);
  const { caFile, caFrom } = mode === "disable" ? {} : resolveCa(u, mode, env);
  if (mode.startsWith("verify-") && !caFile) {
    throw new FerryError(`TLS: sslmode=${mode} (${modeFrom}) needs a CA to verify against: set ${CA_ENV} (or sslrootcert in the URL) to the CA bundle, for RDS the global bundle`, 2);
  }
  if (caFile) checkCaFile(caFile, caFrom!);
  const verify = mode === "verify-full" ? "chain and host name" : mode === "disable" || !caFile ? "nothing" : "chain";
  return {
    mode,
    modeFrom,
    caFile,
    caFrom,
    verify,
    attempts: modeAttempts[mode],
    host: u.hostname.replace(/^\[|\]$/g, ""),
    hostaddr,
    port: Number(u.port || 5432),
  };
}

/** The names a certificate is valid for, for messages. */
function certificateNames(cert: PeerCertificate): string {
  const san = (cert.subjectaltname ?? "").split(/,\s*/).map((s) => s.replace(/^(DNS|IP Address):/, "")).filter(Boolean);
  return (san.length ? san : [cert.subject?.CN ?? "?"]).join(", ");
}

/** node-postgres's `ssl` option for one attempt. */
export function nodeSsl(t: PgTls, attempt: Attempt): false | ConnectionOptions {
  if (attempt === "plain") return false;
  if (t.verify === "nothing") return { rejectUnauthorized: false };
  const options: ConnectionOptions = { secureContext: caContext(readFileSync(t.caFile!, "utf8")), rejectUnauthorized: true };
  // SNI carries the host name (never an IP, RFC 6066 section 3), also through a hostaddr forward.
  if (!isIP(t.host)) options.servername = t.host;
  options.checkServerIdentity = t.verify === "chain and host name"
    ? (_connectedTo: string, cert: PeerCertificate) => checkServerIdentity(t.host, cert)
    : () => undefined;
  return options;
}

/** The libpq environment that makes a child program do what `t` says. */
export function libpqTlsEnv(t: PgTls): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PGSSLMODE: t.mode };
  if (t.caFile) env.PGSSLROOTCERT = t.caFile;
  return env;
}

/** The URL without the parameters ferry resolved itself (they travel in the libpq environment). */
export function withoutTlsParams(url: string): URL {
  const u = new URL(url);
  u.searchParams.delete("sslmode");
  u.searchParams.delete("sslrootcert");
  return u;
}

/** A one-line reason for a TLS failure, naming what to fix; undefined when `err` is not about TLS. */
export function explainTls(t: PgTls, where: string, err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code ?? "";
  if (/does not support SSL/i.test(message)) {
    return `TLS requested (sslmode=${t.mode}, ${t.modeFrom}) but the server at ${where} does not support SSL: turn ssl on there, or use sslmode=prefer`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /does not match host name/.test(message)) {
    const cert = (err as { cert?: PeerCertificate }).cert;
    const names = cert ? certificateNames(cert) : libpqCertificateName(message) ?? "other names";
    return `TLS: the certificate of ${where} is for ${names}, not ${t.host}: connect by a name in the certificate (add hostaddr=IP to go through a forward) or use sslmode=verify-ca`;
  }
  if (/self.signed|unable to verify|UNABLE_TO_GET_ISSUER|certificate verify failed|CERT_/i.test(message + " " + code)) {
    const ca = t.caFile ? `the CA in ${t.caFrom} (${t.caFile})` : "any CA given";
    return `TLS: the certificate of ${where} is not signed by ${ca}: give the CA that signed it (for RDS, the global bundle) in ${CA_ENV} or sslrootcert`;
  }
  // ferry checked the file as its own user; pg_basebackup runs as the cluster's owner
  // (postgres), which may not see or read it ("does not exist" when a directory hides it).
  const unreadable = /root certificate file "([^"]+)"(?: does not exist|: )/.exec(message);
  if (unreadable) {
    return `TLS: the CA file ${unreadable[1]} cannot be read by the program's user: make it readable (e.g. chmod 644, or copy it outside /root)`;
  }
  if (/no pg_hba\.conf entry.*no encryption/i.test(message)) {
    return `the server at ${where} refuses connections without TLS (sslmode=${t.mode}, ${t.modeFrom}): use sslmode=require or stronger`;
  }
  return undefined;
}

/** `server certificate for "a" (and 2 other names) does not match host name "b"` -> `a (and 2 other names)`. */
function libpqCertificateName(message: string): string | undefined {
  return /server certificate for "([^"]+)"( \(and \d+ other names?\))?/.exec(message)?.slice(1).filter(Boolean).join("");
}

/** Is `err` a failure of the TLS part of a connection (so prefer may fall back to plain)? */
export function isTlsFailure(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code ?? "";
  return /SSL|TLS|certificate|self.signed/i.test(message) || /^(ERR_SSL|ERR_TLS|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO)/.test(code);
}

/** Is `err` the server refusing a plain connection (so allow may retry with TLS)? */
export function isPlainRefused(err: unknown): boolean {
  return /no pg_hba\.conf entry.*no encryption/i.test(err instanceof Error ? err.message : String(err));
}
