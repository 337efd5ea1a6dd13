// The Postgres pooler's plan, without Pulumi (components/target/pooler/plan.ts): its
// replicas and names, where it points at each stage, the app's DATABASE_URL through it
// (read by libpq, Ruby's URI and Node's URL alike), the derived passwords, the task's
// command, and the TLS step run for real (openssl, with a stand-in `aws` that records what
// it is given): the certificate verifies for every replica's name against the CA it
// prints, and the key reaches only the secret, through a pipe.
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import {
  CONTROL_PORT, planPooler, POOLER_CA_IN_TASK, POOLER_CA_SUBJECT_HASH, POOLER_CERTS_DIR, POOLER_PORT, poolerCommand, poolerClientEnv, poolerContainers, poolerPassword,
  poolerRedisClientEnv, poolerRedisServerUrl, poolerServerUrl, REDIS_PROXY_PORT, tlsCommand,
} from "../../components/target/pooler";
import { stackConfig, upTo, withFlags } from "../program/stacks";
import type { Flags } from "../program/stacks";
import { withoutPooler, withPooler } from "./pooler-config";


const configOf = (stack: "staging" | "prod", flags: Flags = {}, pooler: Record<string, unknown> = {}) => parseConfig(withFlags(withPooler(stackConfig(stack), pooler), flags));

describe("planPooler", () => {
  it("declares nothing where the stack has no ferry:target.pooler", () => {
    expect(planPooler(parseConfig(withoutPooler(stackConfig("prod"))), "ferry")).toBeUndefined();
  });

  it("gives each of two replicas (the default) its own name in the stack's namespace and its control URL", () => {
    const plan = planPooler(configOf("prod"), "ferry")!;
    expect(plan.namespace).toBe("ferry.pooler.internal");
    expect(plan.replicas).toEqual([
      { service: "pooler-0", host: "pooler-0.ferry.pooler.internal", controlUrl: `https://pooler-0.ferry.pooler.internal:${CONTROL_PORT}` },
      { service: "pooler-1", host: "pooler-1.ferry.pooler.internal", controlUrl: `https://pooler-1.ferry.pooler.internal:${CONTROL_PORT}` },
    ]);
    expect(plan.database).toBe(configOf("prod").target.postgres.database);
  });

  it("refuses one replica (losing it would be an outage), naming the key", () => {
    expect(() => configOf("prod", {}, { replicas: 1 })).toThrow(/ferry:target\.pooler\.replicas/);
  });

  it("points at the source until Postgres's cutover, and at the target from it", () => {
    for (const stage of ["provision", "replicate", "proxy"] as const) expect(planPooler(configOf("prod", upTo(stage)), "ferry")!.server).toBe("source");
    expect(planPooler(configOf("prod", upTo("cutover")), "ferry")!.server).toBe("target");
    expect(planPooler(configOf("prod", upTo("decommission")), "ferry")!.server).toBe("target");
    // Postgres held back while the flag is up: still the source.
    expect(planPooler(configOf("prod", upTo("cutover", { hold: { postgres: "replicate", app: "proxy" } })), "ferry")!.server).toBe("source");
  });

  it("plans the Redis proxy where the source has Redis, on the source until Redis's cutover; not where the key turns it off", () => {
    expect(planPooler(configOf("prod"), "ferry")!.redis).toEqual({ server: "source", host: "pooler-0.ferry.pooler.internal" });
    expect(planPooler(configOf("staging", upTo("cutover")), "ferry")!.redis?.server).toBe("target");
    // Redis held back while Postgres moves: the proxy stays on the source.
    expect(planPooler(configOf("prod", upTo("cutover", { hold: { redis: "replicate", app: "proxy" } })), "ferry")!.redis?.server).toBe("source");
    expect(planPooler(configOf("prod", {}, { redis: false }), "ferry")!.redis).toBeUndefined();
    const config = configOf("prod");
    expect(planPooler({ ...config, source: { ...config.source, services: ["postgres", "nginx", "app"] } as typeof config.source }, "ferry")!.redis).toBeUndefined();
    expect(() => configOf("prod", {}, { redis: "yes" })).toThrow(/ferry:target\.pooler\.redis/);
  });

  it("refuses a source without Postgres and a local runner, naming the key", () => {
    const config = configOf("prod");
    expect(() => planPooler({ ...config, source: { ...config.source, services: ["nginx", "app"] } as typeof config.source }, "ferry")).toThrow(/^ferry:target\.pooler: the source has no Postgres/);
    expect(() => planPooler({ ...config, target: { ...config.target, runner: { kind: "local", operatorCidrs: [] } as typeof config.target.runner } }, "ferry")).toThrow(/^ferry:target\.pooler: needs ferry:target\.runner kind ec2/);
  });
});

describe("the app's connection through the pooler", () => {
  const plan = planPooler(configOf("prod"), "ferry")!;
  const env = poolerClientEnv(plan, "p@ss/w:rd");

  it("names every replica in PGHOST, verify-full against the pooler's CA in the task, the database alias and the app's login", () => {
    const url = new URL(env.DATABASE_URL);
    expect(url.protocol).toBe("postgresql:");
    expect(url.host).toBe("");
    expect(url.username + url.password).toBe("");
    expect(decodeURIComponent(url.pathname.slice(1))).toBe(plan.database);
    expect(Object.fromEntries(url.searchParams)).toEqual({ user: "app", sslmode: "verify-full", sslrootcert: POOLER_CA_IN_TASK });
    expect(env.PGHOST).toBe(plan.replicas.map((r) => r.host).join(","));
    expect(env.PGPORT).toBe(String(POOLER_PORT));
    expect(env.PGPASSWORD).toBe("p@ss/w:rd");
  });

  describe("read as the app reads it, with the first replica gone", () => {
    // A real server on 127.0.0.1 (no TLS: sslmode=disable, the rest of the URL as it is);
    // the first host does not resolve. Both clients must reach the second one.
    let pg = "";
    let bin = "";
    let port = 0;
    const asPostgres = (cmd: string[]) => (process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd);
    const run = (cmd: string[]) => execFileSync(asPostgres(cmd)[0], asPostgres(cmd).slice(1), { stdio: "pipe", encoding: "utf8" });
    beforeAll(() => {
      pg = mkdtempSync(join(tmpdir(), "pooler-url-"));
      const initdb = spawnSync("sh", ["-c", "ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1"], { encoding: "utf8" }).stdout.trim();
      expect(initdb, "PostgreSQL's initdb").not.toBe("");
      bin = initdb.replace(/\/initdb$/, "");
      if (process.getuid?.() === 0) chmodSync(pg, 0o777);
      run([`${bin}/initdb`, "-D", join(pg, "data"), "-A", "scram-sha-256", "-U", "app", `--pwfile=${pwfile(pg)}`]);
      port = 20000 + Math.floor(Math.random() * 20000);
      // A log file: pg_ctl's server would otherwise hold this test's stdout pipe open.
      run([`${bin}/pg_ctl`, "-D", join(pg, "data"), "-l", join(pg, "log"), "-o", `-p ${port} -k ${pg} -c listen_addresses=127.0.0.1`, "-w", "start"]);
    });
    afterAll(() => {
      if (bin) run([`${bin}/pg_ctl`, "-D", join(pg, "data"), "-m", "immediate", "stop"]);
    });
    /** The task's variables for this server: the plan's, with the first replica unresolvable. */
    const taskEnv = () => {
      const local = { ...plan, replicas: [{ ...plan.replicas[0], host: "pooler-0.invalid" }, { ...plan.replicas[1], host: "127.0.0.1" }], database: "postgres" };
      const e = poolerClientEnv(local, PASSWORD);
      return { ...process.env, ...e, PGPORT: String(port), DATABASE_URL: e.DATABASE_URL.replace("sslmode=verify-full", "sslmode=disable") };
    };

    it("libpq (psql) tries PGHOST's list in order and logs in with PGPASSWORD", () => {
      const e = taskEnv();
      expect(execFileSync("psql", [e.DATABASE_URL, "-Atc", "select 'through ' || inet_server_addr()"], { encoding: "utf8", env: e }).trim()).toBe("through 127.0.0.1/32");
    });

    it("Rails (ActiveRecord 6.1 reads DATABASE_URL with Ruby's RFC 2396 parser) connects the same way; the host list inside the URL it refuses", () => {
      const rails = (env: NodeJS.ProcessEnv) => spawnSync("ruby", ["-e", [
        'require "active_record"',
        'ActiveRecord::Base.establish_connection(ENV.fetch("DATABASE_URL"))',
        'puts "through " + ActiveRecord::Base.connection.select_value("select inet_server_addr()::text")',
      ].join("; ")], { encoding: "utf8", env });
      const through = rails(taskEnv());
      expect(through.stderr).toBe("");
      expect(through.stdout.trim()).toBe("through 127.0.0.1/32");
      // The URL an earlier design gave the app: every replica in its query, the login in the authority.
      const e = taskEnv();
      const listInUrl = rails({ ...e, DATABASE_URL: `postgresql://app:${PASSWORD}@/postgres?host=pooler-0.invalid,127.0.0.1&port=${e.PGPORT}&sslmode=disable` });
      expect(listInUrl.stderr).toMatch(/does not accept registry part/);
    });
  });
});

const PASSWORD = "pw-for-the-url-test";
function pwfile(dir: string): string {
  const file = join(dir, "pw");
  writeFileSync(file, PASSWORD);
  chmodSync(file, 0o644);
  return file;
}

describe("the app's Redis through the pooler's proxy", () => {
  const plan = planPooler(configOf("prod"), "ferry")!;

  it("names the first replica's proxy over TLS with the app's login, and trusts the pooler's CA where Node and OpenSSL look", () => {
    const env = poolerRedisClientEnv(plan, "p@ss/w:rd")!;
    const url = new URL(env.REDIS_URL);
    expect([url.protocol, url.hostname, url.port, url.pathname]).toEqual(["rediss:", "pooler-0.ferry.pooler.internal", String(REDIS_PROXY_PORT), "/0"]);
    expect([decodeURIComponent(url.username), decodeURIComponent(url.password)]).toEqual(["app", "p@ss/w:rd"]);
    expect(env.NODE_EXTRA_CA_CERTS).toBe(POOLER_CA_IN_TASK);
    expect(env.SSL_CERT_DIR.split(":")).toEqual([POOLER_CERTS_DIR, "/etc/ssl/certs"]);
    expect(poolerRedisClientEnv({ ...plan, redis: undefined }, "pw")).toBeUndefined();
  });

  it("starts the proxy's server leg where the app's Redis was: Heroku's self-signed rediss:// unverified, a plain redis:// as it is, then the target", () => {
    const heroku = "rediss://:pw@ec2-3-1.compute-1.amazonaws.com:12345";
    const target = "rediss://:tpw@master.cache.amazonaws.com:6379/0";
    expect(new URL(poolerRedisServerUrl(plan, { source: heroku, target }, true)!).searchParams.get("ssl_cert_reqs")).toBe("none");
    expect(poolerRedisServerUrl(plan, { source: "redis://:pw@203.0.113.20:6379/0", target }, false)).toBe("redis://:pw@203.0.113.20:6379/0");
    expect(poolerRedisServerUrl({ redis: { ...plan.redis!, server: "target" } }, { source: heroku, target }, true)).toBe(target);
    expect(poolerRedisServerUrl({ redis: undefined }, { source: heroku, target }, true)).toBeUndefined();
  });
});

describe("the pooler's secrets", () => {
  it("derives two passwords that differ from each other and from the master password, and stay the same across runs", () => {
    const master = "master-password-0123456789";
    const admin = poolerPassword(master, "admin");
    const client = poolerPassword(master, "client");
    expect(admin).not.toBe(client);
    expect(admin).not.toContain(master);
    expect(poolerPassword(master, "admin")).toBe(admin);
    expect(poolerPassword("another-master-password-0", "admin")).not.toBe(admin);
    // URL-safe: it goes into DATABASE_URL as it is.
    expect(client).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("starts the server leg at the source's URL as it is, and at the target with verify-full", () => {
    const source = "postgres://u:p@ec2-1.compute.amazonaws.com:5432/d1?sslmode=require";
    const target = "postgres://ferry:pw@db.abc.rds.amazonaws.com:5432/app";
    expect(poolerServerUrl({ server: "source" }, { source, target })).toBe(source);
    // A box's URL without sslmode: TLS without a CA to verify against (the app's libpq preferred TLS there).
    expect(poolerServerUrl({ server: "source" }, { source: "postgres://u:p@203.0.113.20:5432/d", target })).toBe("postgres://u:p@203.0.113.20:5432/d?sslmode=require");
    expect(new URL(poolerServerUrl({ server: "target" }, { source, target })).searchParams.get("sslmode")).toBe("verify-full");
  });

  it("gives the task its secrets only by reference, unpinned (a new value reaches the next task without a new definition)", () => {
    const plan = planPooler(configOf("prod"), "ferry")!;
    const containers = poolerContainers({ plan, image: "img", fetchImage: "aws", secretArn: "arn:s", tlsSecretArn: "arn:t", bundleUrl: "s3://b/ferry/ferry-x.js", rdsCaUrl: "s3://b/certs/rds.pem", logs: { group: "g", region: "r" } });
    const pooler = containers.find((c) => c.name === "pooler") as { secrets: { name: string; valueFrom: string }[]; environment: { name: string; value: string }[] };
    expect(pooler.secrets).toEqual([
      { name: "FERRY_POOLER_ADMIN_PASSWORD", valueFrom: "arn:s:FERRY_POOLER_ADMIN_PASSWORD::" },
      { name: "FERRY_POOLER_CLIENT_PASSWORD", valueFrom: "arn:s:FERRY_POOLER_CLIENT_PASSWORD::" },
      { name: "FERRY_POOLER_REDIS_URL", valueFrom: "arn:s:FERRY_POOLER_REDIS_URL::" },
      { name: "FERRY_POOLER_SERVER_URL", valueFrom: "arn:s:FERRY_POOLER_SERVER_URL::" },
      { name: "FERRY_POOLER_TLS_CERT", valueFrom: "arn:t:FERRY_POOLER_TLS_CERT::" },
      { name: "FERRY_POOLER_TLS_KEY", valueFrom: "arn:t:FERRY_POOLER_TLS_KEY::" },
    ]);
    expect(pooler.environment.map((e) => e.name)).toEqual(["FERRY_POOLER_SERVER_CA_FILE"]);
    expect((pooler as unknown as { portMappings: { containerPort: number }[] }).portMappings.map((p) => p.containerPort)).toEqual([POOLER_PORT, CONTROL_PORT, REDIS_PROXY_PORT]);
    const withoutRedis = poolerContainers({ plan: { ...plan, redis: undefined }, image: "img", fetchImage: "aws", secretArn: "arn:s", tlsSecretArn: "arn:t", bundleUrl: "b", rdsCaUrl: "r", logs: { group: "g", region: "r" } });
    expect(JSON.stringify(withoutRedis)).not.toMatch(/FERRY_POOLER_REDIS_URL|6380/);
  });

  it("runs `ferry pooler serve` with settings only, after installing Debian's PgBouncer (a valid sh script)", () => {
    const plan = planPooler(configOf("prod", {}, { poolSize: 7 }), "ferry")!;
    const script = poolerCommand(plan);
    expect(script).toContain("apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends pgbouncer");
    expect(script.split("\n").pop()).toBe(`exec node /ferry/ferry pooler serve --database ${plan.database} --client-user app --port 6432 --control-port 6433 --pool-size 7 --query-wait-timeout 120 --run-as postgres --redis-port ${REDIS_PROXY_PORT}`);
    expect(spawnSync("sh", ["-n", "-c", script]).status).toBe(0);
  });
});

describe("the TLS step (run for real)", () => {
  it("makes a certificate every replica's name verifies against the CA it prints; the key goes only to the secret", () => {
    const dir = mkdtempSync(join(tmpdir(), "pooler-tls-"));
    // A stand-in `aws`: records argv, keeps what put-secret-value reads from stdin, copies `s3 cp` sources.
    writeFileSync(join(dir, "aws"), `#!/bin/sh
printf '%s\\n' "$*" >> ${dir}/argv
case "$1 $2" in
  "secretsmanager put-secret-value") cat > ${dir}/secret.json; echo v1 ;;
  "s3 cp") cp "$6" ${dir}/s3-object ;;
esac
`, { mode: 0o755 });
    const hosts = ["pooler-0.ferry.pooler.internal", "pooler-1.ferry.pooler.internal"];
    // A shell function outranks PATH: the step's `aws` is the stand-in by name, whatever PATH
    // holds (twice, in a full run, a real AWS CLI answered "Unable to locate credentials").
    const standIn = `aws() { ${join(dir, "aws")} "$@"; }\n`;
    const out = execFileSync("bash", ["-c", standIn + tlsCommand({ hosts, secretArn: "arn:aws:secretsmanager:eu:1:secret:ferry/pooler-tls-AbC", bucket: "b-1", region: "eu-central-1" })], {
      // Only the stand-in, node, openssl and the shell's tools: never a real AWS CLI (once,
      // under load, the one behind pyenv's shim answered "Unable to locate credentials").
      encoding: "utf8", env: { ...process.env, PATH: `${dir}:${dirname(process.execPath)}:/usr/bin:/bin` },
    });
    const secret = JSON.parse(readFileSync(join(dir, "secret.json"), "utf8")) as Record<string, string>;
    const ca = new X509Certificate(out);
    const cert = new X509Certificate(secret.FERRY_POOLER_TLS_CERT);
    expect(cert.verify(ca.publicKey)).toBe(true);
    for (const host of hosts) expect(cert.checkHost(host)).toBe(host);
    expect(cert.checkHost("pooler-2.ferry.pooler.internal")).toBeUndefined();
    expect(secret.FERRY_POOLER_TLS_KEY).toMatch(/BEGIN PRIVATE KEY/);
    // The CA certificate (public) went to the bucket; the key is in no argv and not printed.
    expect(readFileSync(join(dir, "s3-object"), "utf8")).toBe(out);
    const argv = readFileSync(join(dir, "argv"), "utf8");
    expect(argv).toContain("s3 cp --only-show-errors --region eu-central-1 ca.pem s3://b-1/certs/pooler-ca.pem");
    const keyLine = secret.FERRY_POOLER_TLS_KEY.split("\n")[1];
    expect(argv).not.toContain(keyLine);
    expect(out).not.toContain(keyLine);
    expect(out).not.toMatch(/PRIVATE KEY/);
    // Ruby's OpenSSL (Sidekiq's Redis client) trusts the certificate through SSL_CERT_DIR
    // once the CA is there under the hash the app's fetch container names it by, and not without.
    expect(execFileSync("openssl", ["x509", "-subject_hash", "-noout"], { input: out, encoding: "utf8" }).trim()).toBe(POOLER_CA_SUBJECT_HASH);
    const certs = join(dir, "certs");
    execFileSync("mkdir", ["-p", certs]);
    writeFileSync(join(certs, `${POOLER_CA_SUBJECT_HASH}.0`), out);
    writeFileSync(join(dir, "cert.pem"), secret.FERRY_POOLER_TLS_CERT);
    const rubyTrusts = (env: Record<string, string>) => spawnSync("ruby", ["-ropenssl", "-e", "s = OpenSSL::X509::Store.new; s.set_default_paths; exit(s.verify(OpenSSL::X509::Certificate.new(File.read(ARGV[0]))) ? 0 : 1)", join(dir, "cert.pem")], { env: { PATH: process.env.PATH!, ...env } }).status;
    expect(rubyTrusts({ SSL_CERT_DIR: `${certs}:/etc/ssl/certs` })).toBe(0);
    expect(rubyTrusts({})).toBe(1);
  });
});
