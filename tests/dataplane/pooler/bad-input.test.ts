// `ferry pooler` refuses bad input before it reaches any replica (or, for serve, before
// pgbouncer or the Redis proxy starts): one line naming the flag or variable, exit 2, and
// no secret echoed.
import { readdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../../rehearsal/servers";
import { runFerry } from "../postgres/helpers";
import { poolerCertificate } from "./helpers";

const SECRET = "s3cret-pw-9d1";
const serveArgs = ["pooler", "serve", "--database", "appdb", "--client-user", "app", "--control-port", "0"];
/** A real certificate and key (made in beforeAll), so each case fails on what it names. */
const pem = { cert: "", key: "" };
const serveEnv = {
  FERRY_POOLER_SERVER_URL: `postgresql://app:${SECRET}@db.internal:5432/app`,
  FERRY_POOLER_ADMIN_PASSWORD: SECRET,
  FERRY_POOLER_CLIENT_PASSWORD: SECRET,
  FERRY_POOLER_SERVER_CA: "ca",
};

const cases: { name: string; args: string[]; env: Record<string, string | undefined>; line: string }[] = [
  { name: "no replica", args: ["pooler", "pause"], env: { FERRY_POOLER_ADMIN_PASSWORD: SECRET }, line: "missing --pooler: name every replica's control URL (https://host:port), once each" },
  { name: "a plain-http replica", args: ["pooler", "resume", "--pooler", "http://10.0.0.5:6433"], env: { FERRY_POOLER_ADMIN_PASSWORD: SECRET }, line: "--pooler must be https://host:port (got http://10.0.0.5:6433)" },
  { name: "a replica URL with credentials", args: ["pooler", "status", "--pooler", `https://ferry:${SECRET}@10.0.0.5:6433`], env: { FERRY_POOLER_ADMIN_PASSWORD: SECRET }, line: "--pooler must be https://host:port (got https://***@10.0.0.5:6433)" },
  { name: "a replica named twice", args: ["pooler", "status", "--pooler", "https://a:1", "--pooler", "https://a:1"], env: { FERRY_POOLER_ADMIN_PASSWORD: SECRET }, line: "--pooler names a replica twice" },
  { name: "no admin password", args: ["pooler", "pause", "--pooler", "https://10.0.0.5:6433"], env: { FERRY_POOLER_ADMIN_PASSWORD: undefined }, line: "missing FERRY_POOLER_ADMIN_PASSWORD: set it in the environment (never on the command line)" },
  { name: "repoint without the target's login", args: ["pooler", "repoint", "--pooler", "https://10.0.0.5:6433"], env: { FERRY_POOLER_ADMIN_PASSWORD: SECRET, FERRY_POOLER_TARGET_URL: undefined }, line: "missing FERRY_POOLER_TARGET_URL: set it in the environment (never on the command line)" },
  { name: "serve without a server URL", args: serveArgs, env: { ...serveEnv, FERRY_POOLER_SERVER_URL: undefined }, line: "missing FERRY_POOLER_SERVER_URL: set it in the environment (never on the command line)" },
  { name: "serve on an unencrypted server leg", args: serveArgs, env: { ...serveEnv, FERRY_POOLER_SERVER_URL: `postgresql://app:${SECRET}@db.internal/app?sslmode=prefer` }, line: `FERRY_POOLER_SERVER_URL: the pooler's server leg needs sslmode require, verify-ca, verify-full (got "prefer")` },
  { name: "serve verifying the server without its CA", args: serveArgs, env: { ...serveEnv, FERRY_POOLER_SERVER_CA: undefined }, line: "the server URL asks for sslmode verify-full, which needs the server's CA: set FERRY_POOLER_SERVER_CA" },
  { name: "serve with an unreadable server CA file", args: serveArgs, env: { ...serveEnv, FERRY_POOLER_SERVER_CA: undefined, FERRY_POOLER_SERVER_CA_FILE: "/nonexistent/server-ca.pem" }, line: "FERRY_POOLER_SERVER_CA_FILE: cannot read /nonexistent/server-ca.pem" },
  { name: "serve with the admin console's name as the alias", args: [...serveArgs.slice(0, 3), "pgbouncer", ...serveArgs.slice(4)], env: serveEnv, line: "--database: pgbouncer is the admin console's name; pick another alias" },
  { name: "serve with a certificate that is not one", args: serveArgs, env: { ...serveEnv, FERRY_POOLER_SERVER_URL: `postgresql://app:${SECRET}@db.internal/app?sslmode=require`, FERRY_POOLER_SERVER_CA: undefined, FERRY_POOLER_TLS_CERT: "not a certificate" }, line: "FERRY_POOLER_TLS_CERT and FERRY_POOLER_TLS_KEY must be a PEM certificate and its private key" },
  { name: "serve --redis-port without its server URL", args: [...serveArgs, "--redis-port", "0"], env: serveEnv, line: "missing FERRY_POOLER_REDIS_URL: set it in the environment (never on the command line)" },
  { name: "serve --redis-port with a certificate check on a plain server leg", args: [...serveArgs, "--redis-port", "0"], env: { ...serveEnv, FERRY_POOLER_REDIS_URL: `redis://:${SECRET}@cache.internal:6379/0?ssl_cert_reqs=none` }, line: "FERRY_POOLER_REDIS_URL: ssl_cert_reqs is for a rediss:// URL (got a redis:// one)" },
  { name: "serve --redis-port with an unknown certificate check", args: [...serveArgs, "--redis-port", "0"], env: { ...serveEnv, FERRY_POOLER_REDIS_URL: `rediss://:${SECRET}@cache.internal:6379/0?ssl_cert_reqs=optional` }, line: `FERRY_POOLER_REDIS_URL: ssl_cert_reqs must be none (Heroku's self-signed certificates) or required (got "optional")` },
  { name: "a Redis repoint without the target's login", args: ["pooler", "repoint", "--store", "redis", "--pooler", "https://10.0.0.5:6433"], env: { FERRY_POOLER_ADMIN_PASSWORD: SECRET, FERRY_POOLER_REDIS_TARGET_URL: undefined }, line: "missing FERRY_POOLER_REDIS_TARGET_URL: set it in the environment (never on the command line)" },
  { name: "cutover --pooler-redis without Redis", args: ["cutover", "--pooler", "https://10.0.0.5:6433", "--pooler-redis"], env: { FERRY_TARGET_URL: "postgresql://a@127.0.0.1:1/x", FERRY_SOURCE_URL: "postgresql://a@127.0.0.1:2/x", FERRY_TARGET_REDIS_URL: undefined, FERRY_SOURCE_REDIS_URL: undefined }, line: "--pooler-redis needs the Redis URLs (FERRY_TARGET_REDIS_URL)" },
  { name: "cutover --pooler without Postgres", args: ["cutover", "--pooler", "https://10.0.0.5:6433"], env: { FERRY_TARGET_URL: undefined, FERRY_SOURCE_URL: undefined, FERRY_TARGET_REDIS_URL: "redis://127.0.0.1:1", FERRY_SOURCE_REDIS_URL: "redis://127.0.0.1:2" }, line: "--pooler needs the Postgres URLs (FERRY_TARGET_URL)" },
];

describe("ferry pooler: bad input", () => {
  beforeAll(async () => {
    const { tls } = await poolerCertificate();
    [pem.cert, pem.key] = [readFileSync(tls.certFile, "utf8"), readFileSync(tls.keyFile, "utf8")];
  });

  it.each(cases)("$name", async ({ args, env, line }) => {
    const parent = tempDir("pooler-bad-input");
    const serving = args[1] === "serve";
    const r = await runFerry(serving ? [...args, "--dir", parent] : args, serving ? { FERRY_POOLER_TLS_CERT: pem.cert, FERRY_POOLER_TLS_KEY: pem.key, ...env } : env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`ferry: ${line}`);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    // A supervisor that did not start leaves no private directory (the passwords, the key) behind.
    expect(readdirSync(parent)).toEqual([]);
  });
});
