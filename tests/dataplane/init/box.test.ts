// `ferry init --box` over real SSH (a loopback sshd) to a box running real
// PostgreSQL, Redis and an app process, with nginx's config read by `nginx -T`: the
// stack it writes validates at every stage and passes the policy pack; what the box lacks (no
// crontab, no systemd here) is reported as not found; a box that refuses SSH ends
// in one line with nothing written.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalPostgres, LocalRedis, startPostgres, startRedis, tempDir } from "../../../rehearsal/servers";
import { readStackConfig } from "../../../policy/stack-file";
import { parseProbe } from "../../../dataplane/init/box";
import { startSshd, TestSshd } from "../traffic/sshd";
import { runFerry } from "../traffic/run-ferry";
import { judgeStackFile } from "./judge";
import { IDLE_BY_DESIGN } from "../../policy/pack";

const ROOT = join(__dirname, "..", "..", "..");
let sshd: TestSshd;
let pg: LocalPostgres;
let redis: LocalRedis;
let app: ChildProcess;
let worker: ChildProcess;
let nginxConf: string;
let siteConf: string;
let certFile: string;
let keyFile: string;
let passFile: string;

beforeAll(async () => {
  [sshd, pg, redis] = await Promise.all([startSshd(), startPostgres(), startRedis()]);
  await pg.query("CREATE DATABASE mastodon_production");
  await pg.query("CREATE TABLE statuses AS SELECT g AS id, repeat('toot', 50) AS text FROM generate_series(1, 20000) g", [], "mastodon_production");
  // Vacuumed now: autovacuum adding the table's maps later would change its size between init's read and the test's.
  await pg.query("VACUUM ANALYZE statuses", [], "mastodon_production");
  const { Redis } = await import("ioredis");
  const client = new Redis(redis.url());
  await client.mset("feed:1", "a", "feed:2", "b", "feed:3", "c");
  client.disconnect();
  const dir = tempDir("box-probe");
  passFile = join(dir, "pgpass");
  writeFileSync(passFile, `127.0.0.1:${pg.port}:*:postgres:${pg.password}\n`, { mode: 0o600 });
  // The site as certbot leaves it, in its own file: a redirect on the plain port, the app on TLS.
  // nginx -T loads the certificate, so it is a real one.
  [siteConf, certFile, keyFile] = [join(dir, "sites-enabled", "mastodon"), join(dir, "fullchain.pem"), join(dir, "privkey.pem")];
  const cert = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=famichiki.test"], { encoding: "utf8" });
  if (cert.status !== 0) throw new Error(`openssl: ${cert.stderr}`);
  mkdirSync(join(dir, "sites-enabled"));
  writeFileSync(siteConf, [
    "server { listen 127.0.0.1:1; listen [::1]:1; server_name famichiki.test streaming.famichiki.test; return 301 https://$host$request_uri; }",
    `server { listen 127.0.0.1:2 ssl; server_name famichiki.test; ssl_certificate ${certFile}; ssl_certificate_key ${keyFile}; }`,
    `server { listen 127.0.0.1:2 ssl; server_name streaming.famichiki.test; ssl_certificate ${certFile}; ssl_certificate_key ${keyFile}; }`, "",
  ].join("\n"));
  nginxConf = join(dir, "nginx.conf");
  writeFileSync(nginxConf, [
    `pid ${join(dir, "nginx.pid")};`, `error_log ${join(dir, "error.log")};`, "events {}", "http {",
    `  access_log ${join(dir, "access.log")};`,
    "  server { listen 127.0.0.1:1 default_server; server_name _; }",
    `  include ${join(dir, "sites-enabled")}/*;`,
    "}", "",
  ].join("\n"));
  // The app as ps shows a Puma master.
  app = spawn("bash", ["-c", 'exec -a "puma 6.4.2 (tcp://0.0.0.0:3000) [famichiki]" sleep 600'], { stdio: "ignore" });
  worker = spawn("bash", ["-c", 'exec -a "sidekiq 7.2.4 famichiki [0 of 25 busy]" sleep 600'], { stdio: "ignore" });
});

afterAll(async () => {
  app?.kill();
  worker?.kill();
  sshd?.stop();
  await Promise.all([pg?.stop(), redis?.stop()]);
});

const boxFlags = () => [
  "--box", `${sshd.user}@127.0.0.1:${sshd.port}`, "--ssh-key-env", "FERRY_TEST_SSH_KEY", "--known-hosts", sshd.knownHosts,
  "--pg-port", String(pg.port), "--pg-host", "127.0.0.1", "--pg-passfile", passFile, "--redis-port", String(redis.port), "--nginx-conf", nginxConf,
];

describe("ferry init --box", () => {
  it("reads the box over SSH and writes a stack that validates, passes the policy pack, and npm run plan prices", async () => {
    const project = mkdtempSync(join(tmpdir(), "ferry-init-box-"));
    const run = await runFerry(["init", ...boxFlags(), "--stack", "boxed", "--dir", project, "--region", "eu-central-1"], { FERRY_TEST_SSH_KEY: sshd.clientKey });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const stackFile = join(project, "Pulumi.boxed.yaml");
    const text = readFileSync(stackFile, "utf8");
    const config = readStackConfig(stackFile);
    expect(config.source).toMatchObject({ kind: "vultr", services: ["postgres", "redis", "nginx", "app"], ssh: { user: sshd.user, port: sshd.port, hostKey: sshd.hostKey }, units: { web: "web" } });
    expect(config.target.region).toBe("eu-central-1");
    expect(config.target.postgres.version).toBe((await pg.query<{ server_version: string }>("SHOW server_version"))[0].server_version.split(".")[0]);
    expect(config.target.cloudflare.hostnames.map((h) => h.name)).toEqual(["famichiki.test", "streaming.famichiki.test"]);
    // The site the proxy stage takes over, as the box's nginx serves it.
    expect(config.source.kind === "vultr" && config.source.nginx).toEqual({
      siteConf, listen: ["127.0.0.1:1", "[::1]:1"], sslListen: ["127.0.0.1:2"], sslCertificate: certFile, sslCertificateKey: keyFile,
    });

    const inventory = JSON.parse(readFileSync(join(project, "ferry-inventory.boxed.json"), "utf8"));
    const db = inventory.box.postgres.value.databases.find((d: { name: string }) => d.name === "mastodon_production");
    expect(db.bytes).toBeGreaterThan(1_000_000);
    // What a copy moves, read in that database: its one table (no index), as the server reports it.
    const [statuses] = await pg.query<{ b: string }>("SELECT pg_table_size('statuses') + pg_indexes_size('statuses') AS b", [], "mastodon_production");
    expect(db.copiedBytes).toBe(Number(statuses.b));
    expect(text).toMatch(/mastodon_production \d+\.\d\d GB \(a copy moves \d+\.\d\d GB\)/);
    expect(inventory.box.redis.value).toMatchObject({ keys: 3 });
    // The box is this machine: ps also shows whatever else runs on it (other suites'
    // rehearsals run app stand-ins), so assert that the app processes started here are found.
    expect(inventory.box.processes.value.from).toBe("ps");
    expect(inventory.box.processes.value.names).toEqual(expect.arrayContaining(["puma", "sidekiq"]));
    expect(inventory.box.crontab).toEqual({ found: false, reason: "crontab not found" });
    // What was not found is said in the file, and what to decide about it.
    expect(text).toMatch(/^# +crontab: not found \(crontab not found\)$/m);
    expect(text).toMatch(/ferry:source\.units: no systemd units were found/);
    expect(text).toMatch(/instanceId: 0{8}-0{4}-0{4}-0{4}-0{12}  # TODO/);
    expect(text).not.toContain(pg.password);
    expect(run.stdout).not.toContain(pg.password);

    // Valid at every stage (the proxy stage's site included), and the policy pack passes each.
    const judged = await judgeStackFile(stackFile, "boxed");
    expect(judged.notJudged).toEqual({});
    expect(judged.violations).toEqual([]);
    expect(judged.idle).toEqual(IDLE_BY_DESIGN);

    // The box's price is the user's to fill in; with it, the plan prices the source side.
    inventory.box.monthlyCents = 4800;
    writeFileSync(join(project, "ferry-inventory.boxed.json"), JSON.stringify(inventory));
    const plan = spawnSync(process.execPath, ["--import", "tsx", "policy/plan.ts", "--stack", "boxed", "--dir", project], { cwd: ROOT, encoding: "utf8", timeout: 150_000 });
    expect(plan.stderr).toBe("");
    expect(plan.stdout).toMatch(/\| provision \| \$48\.00 \| \$[\d,.]+ \| \*\*\$[\d,.]+\*\* \| both sides bill \|/);
    expect(plan.stdout).toMatch(/AWS: on-demand list prices for eu-central-1/);
  }, 240_000);

  it("a box that refuses SSH: one line, nothing written", async () => {
    const project = mkdtempSync(join(tmpdir(), "ferry-init-box-"));
    // No key given and no agent: sshd accepts only the test key.
    const run = await runFerry(["init", ...boxFlags().filter((f, i, all) => f !== "--ssh-key-env" && all[i - 1] !== "--ssh-key-env"), "--stack", "boxed", "--dir", project], { SSH_AUTH_SOCK: undefined });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: ssh to .*@127\.0\.0\.1:\d+ failed: .*Permission denied.*\n$/);
    expect(existsSync(join(project, "Pulumi.boxed.yaml"))).toBe(false);
  }, 60_000);
});

describe("bad --box input", () => {
  it("names the flag in one line", async () => {
    const project = mkdtempSync(join(tmpdir(), "ferry-init-box-"));
    const run = await runFerry(["init", "--box", "root@bad host", "--stack", "boxed", "--dir", project]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('ferry: --box must be user@host[:port]: "root@bad host"\n');
    expect(existsSync(join(project, "Pulumi.boxed.yaml"))).toBe(false);
  });
});

describe("the box probe's output", () => {
  const target = { kind: "ssh" as const, user: "root", host: "203.0.113.20", port: 22 };
  it("takes the app's systemd units, leaves the system's out, and reads an empty crontab as empty", () => {
    const out = [
      "", "=== ferry:postgres ===", "15.8 (Debian 15.8-1)", "mastodon_production|1048576|983040", "locked|8192|", "ferry-status=0",
      "", "=== ferry:redis ===", "# Server", "redis_version:7.0.15", "used_memory:2048", "maxmemory:0", "# Keyspace", "db0:keys=5,expires=0", "db1:keys=2,expires=0", "ferry-status=0",
      "", "=== ferry:nginx ===", "# configuration file /etc/nginx/sites-enabled/mastodon:", "server {", "  server_name famichiki.example www.famichiki.example; # main",
      "  listen 443 ssl;", "  ssl_certificate /etc/ssl/famichiki.pem;", "  ssl_certificate_key /etc/ssl/famichiki.key;", "}", "ferry-status=0",
      "", "=== ferry:systemd ===", "mastodon-web.service loaded active running Mastodon web", "postgresql@15-main.service loaded active running PG", "ssh.service loaded active running OpenSSH", "mastodon-sidekiq.service loaded active running jobs", "ferry-status=0",
      "", "=== ferry:ps ===", "ferry-status=0",
      "", "=== ferry:crontab ===", "no crontab for root", "ferry-status=1", "",
    ].join("\n");
    const box = parseProbe(out, target);
    expect(box.postgres).toEqual({ found: true, value: { version: "15.8", databases: [{ name: "mastodon_production", bytes: 1048576, copiedBytes: 983040 }, { name: "locked", bytes: 8192 }] } });
    expect(box.redis).toEqual({ found: true, value: { version: "7.0.15", usedMemoryBytes: 2048, maxMemoryBytes: 0, keys: 7 } });
    expect(box.nginx).toEqual({ found: true, value: {
      serverNames: ["famichiki.example", "www.famichiki.example"],
      site: { found: true, value: { siteConf: "/etc/nginx/sites-enabled/mastodon", listen: [], sslListen: ["443"], sslCertificate: "/etc/ssl/famichiki.pem", sslCertificateKey: "/etc/ssl/famichiki.key" } },
    } });
    expect(box.processes).toEqual({ found: true, value: { from: "systemd", names: ["mastodon-sidekiq", "mastodon-web"] } });
    expect(box.crontab).toEqual({ found: true, value: [] });
  });

  it("reports a refusing Redis as not found, with its words", () => {
    const box = parseProbe("\n=== ferry:redis ===\nNOAUTH Authentication required.\nferry-status=0\n", target);
    expect(box.redis).toEqual({ found: false, reason: "NOAUTH Authentication required." });
    expect(box.postgres).toEqual({ found: false, reason: "no answer" });
  });
});
