// The CLI contract (dataplane/cli/contract.ts) against the CLI itself: every command
// another part of the repository runs is parsed by the real `ferry` parser (commander:
// sub-commands, unknown options, required options, choices and value parsers), stopping
// just before the action, so a builder that writes a command the CLI would reject fails
// here rather than in a stack's `pulumi up`.
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import * as contract from "../../../dataplane/cli/contract";
import type { FerryCommand } from "../../../dataplane/cli/contract";
import { buildProgram } from "../../../dataplane/cli/main";
import { runFerry } from "../traffic/run-ferry";

/** Thrown by the preAction hook: parsing succeeded and this command would run. */
class Parsed extends Error {
  constructor(readonly path: string[]) {
    super("parsed");
  }
}

/** The sub-command path the real parser resolves `argv` to; throws what commander throws. */
async function parse(argv: string[]): Promise<string[]> {
  expect(argv[0]).toBe("ferry");
  const program = buildProgram();
  program.configureOutput({ writeErr: () => {}, outputError: () => {} });
  program.hook("preAction", (_root, command) => {
    const path: string[] = [];
    for (let c: typeof command | null = command; c && c !== program; c = c.parent) path.unshift(c.name());
    throw new Parsed(path);
  });
  try {
    await program.parseAsync(argv.slice(1), { from: "user" });
  } catch (e) {
    if (e instanceof Parsed) return e.path;
    throw e;
  }
  throw new Error(`${argv.join(" ")}: parsed without reaching an action`);
}

const site = { confFile: "/etc/nginx/sites-enabled/mastodon", listen: ["80"], sslListen: ["443", "[::]:443"], sslCertificate: "/etc/ssl/a b.pem", sslCertificateKey: "/etc/ssl/k.pem" };
const target = { origin: "https://lb.example", serverName: "a.example b.example", originServerName: "a.example", site };

// Every builder with the arguments the stages give it; `cases` below checks none is missed.
const samples: Record<string, FerryCommand[]> = {
  ...Object.fromEntries(([["pg", contract.pg], ["redis", contract.redis(false)], ["stack", contract.stack(false)], ["traffic", contract.traffic], ["heroku", contract.heroku], ["box", contract.box], ["pooler", contract.pooler]] as const)
    .flatMap(([group, builders]) => Object.keys(builders).map((name) => [`${group}.${name}`, [] as FerryCommand[]]))),
};
// The capture strategy as the bench (bench/lib/ferry-capture.ts) runs it.
samples["pg.replicate"].push(contract.pg.replicate("capture"), contract.pg.replicate("capture", { untilCaughtUp: true }));
for (const strategy of ["dump", "logical", "physical"] as const) {
  samples["pg.preflight"].push(contract.pg.preflight(strategy));
  samples["pg.replicate"].push(contract.pg.replicate(strategy));
  samples["pg.cutover"].push(contract.pg.cutover(strategy, 204800, 300));
  // A Heroku source: its own superusers are the provider's; a second credential's writers stopped.
  samples["pg.preflight"].push(contract.pg.preflight(strategy, { providerSuperusers: true, unfencedRoles: ["metabase", "Two Words"] }));
  samples["pg.cutover"].push(contract.pg.cutover(strategy, 204800, 300, { providerSuperusers: true, unfencedRoles: ["metabase"] }));
  samples["pg.rollback"].push(contract.pg.rollback(strategy));
  samples["pg.rollbackCheck"].push(contract.pg.rollbackCheck(strategy));
}
samples["pg.verify"].push(contract.pg.verify());
samples["pg.cutoverDone"].push(contract.pg.cutoverDone());
samples["pg.status"].push(contract.pg.status());
samples["pg.cleanup"].push(contract.pg.cleanup());
const backupAt = { bucket: "ferry-storage-bucket-0a1b2c3", key: contract.finalBackupKey("postgres"), region: "eu-central-1" };
samples["pg.backup"].push(contract.pg.backup(backupAt));
samples["pg.restore"].push(contract.pg.restore(backupAt));
for (const tls of [false, true]) {
  const r = contract.redis(tls);
  for (const mode of ["replicaof", "copy"] as const) {
    samples["redis.replicate"].push(r.replicate(mode));
    for (const fence of ["acl", "dynos-stopped"] as const) samples["redis.cutover"].push(r.cutover(mode, fence));
  }
  samples["redis.preflight"].push(r.preflight());
  samples["redis.verify"].push(r.verify());
  samples["redis.cutoverDone"].push(r.cutoverDone());
  samples["redis.status"].push(r.status());
  samples["redis.rollback"].push(r.rollback());
  samples["redis.cleanup"].push(r.cleanup());
  samples["redis.rollbackCheck"].push(r.rollbackCheck());
  samples["redis.drainSidekiq"].push(r.drainSidekiq(120));
  samples["redis.backup"].push(r.backup({ ...backupAt, key: contract.finalBackupKey("redis") }));
  samples["redis.restore"].push(r.restore({ ...backupAt, key: contract.finalBackupKey("redis") }));
}
for (const [tls, strategy, mode, fence] of [[false, "logical", "replicaof", "acl"], [true, "dump", "copy", "dynos-stopped"], [false, "physical", "replicaof", "acl"]] as const) {
  for (const drainSidekiq of [true, false]) {
    samples["stack.cutover"].push(contract.stack(tls).cutover({ strategy, mode, fence, maxLagBytes: 204800, timeoutSeconds: 300, drainSidekiq }));
    samples["stack.cutover"].push(contract.stack(tls).cutover({ strategy, mode, fence, maxLagBytes: 204800, timeoutSeconds: 300, drainSidekiq, pgFence: { providerSuperusers: tls, unfencedRoles: ["metabase"] } }));
  }
}
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoxHostKeyForTestsOnly0000000000000000000";
for (const host of [{ ssh: "deploy@198.51.100.1:2222", sudo: true, hostKey: HOST_KEY }, { ssh: "root@198.51.100.1", sudo: false, hostKey: HOST_KEY }]) {
  samples["traffic.proxyApply"].push(contract.traffic.proxyApply(host, target));
  samples["traffic.proxyRevert"].push(contract.traffic.proxyRevert(host, site));
  for (const action of ["stop", "start"] as const) samples["box.units"].push(contract.box.units(host, action, ["mastodon-web", "mastodon-sidekiq"]));
  samples["box.repoint"].push(contract.box.repoint(host, "/home/mastodon/live/.env.production", "DATABASE_URL", contract.ENV.targetUrl, ["mastodon-web", "mastodon-sidekiq"]));
  samples["box.repointRestore"].push(contract.box.repointRestore(host, "/home/mastodon/live/.env.production", "REDIS_URL", ["mastodon-web"]));
}
samples["traffic.health"].push(contract.traffic.health("https://lb.example:8443/health", 5, 2));
samples["heroku.addons"].push(contract.heroku.addons("masto-web"));
samples["heroku.domains"].push(contract.heroku.domains("masto-web"));
for (const on of [true, false]) samples["heroku.maintenance"].push(contract.heroku.maintenance("masto-web", on));
samples["heroku.configFromEnv"].push(contract.heroku.configFromEnv("masto-web", "DATABASE_URL", contract.ENV.targetUrl));
samples["heroku.repointRestore"].push(contract.heroku.repointRestore("masto-web", "DATABASE_URL"));
samples["heroku.repointToAddon"].push(contract.heroku.repointToAddon("masto-web", "DATABASE_URL", "postgresql-curved-12345"));
samples["heroku.scale"].push(contract.heroku.scale("masto-web", { web: 2, worker: 1 }), contract.heroku.scale("masto-web", { web: 0 }));
samples["heroku.addonDestroy"].push(contract.heroku.addonDestroy("masto-web", "postgresql-curved-12345"));
samples["heroku.release"].push(contract.heroku.release("masto-web"));
samples["heroku.schedulerOff"].push(contract.heroku.schedulerOff("masto-web"));
samples["heroku.schedulerOn"].push(contract.heroku.schedulerOn("masto-web", []), contract.heroku.schedulerOn("masto-web", ["every 10 minutes (standard-1X): bin/rails mastodon:refresh_trends"]));
for (const crontab of [{}, { user: "mastodon" }, { file: "/etc/cron.d/mastodon" }]) {
  samples["box.crontabOff"].push(contract.box.crontabOff({ ssh: "root@198.51.100.1:22", hostKey: HOST_KEY }, crontab, ["bin/tootctl media remove --days 7", "bin/rails mastodon:refresh_trends"]));
  samples["box.crontabOn"].push(contract.box.crontabOn({ ssh: "root@198.51.100.1:22", hostKey: HOST_KEY }, crontab));
}
samples["heroku.slug"].push(contract.heroku.slug("masto-web", "8f7e6d5c-0000-4000-8000-000000000001", "slug.tgz"));
const secret = { secretArn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ferry-app-masto-web-AbCdEf", region: "eu-central-1" };
for (const exclude of [[], ["DATABASE_URL", "REDIS_URL"]]) {
  samples["heroku.configCopy"].push(contract.heroku.configCopy("masto-web", { ...secret, exclude }));
  samples["box.configCopy"].push(contract.box.configCopy({ ssh: "deploy@198.51.100.1:22", hostKey: HOST_KEY }, "/home/mastodon/live/.env.production", { ...secret, exclude }));
}
const poolerReplicas = { urls: ["https://10.0.1.5:6433", "https://10.0.2.5:6433"], caFile: "/etc/ferry/pooler-ca.pem" };
samples["pooler.pause"].push(contract.pooler.pause(poolerReplicas, 10), contract.pooler.pause({ urls: ["https://pooler.internal:6433"] }, 30));
for (const to of ["target", "source"] as const) samples["pooler.repoint"].push(contract.pooler.repoint(poolerReplicas, to));
samples["pooler.resume"].push(contract.pooler.resume(poolerReplicas));
samples["pooler.status"].push(contract.pooler.status(poolerReplicas));
samples["stack.cutover"].push(contract.stack(false).cutover({ strategy: "logical", mode: "replicaof", fence: "acl", maxLagBytes: 204800, timeoutSeconds: 300, drainSidekiq: true, pooler: { replicas: poolerReplicas, pauseTimeoutSeconds: 10 } }));
// The pooler's Redis proxy: the same steps with --store redis, and the stack cutover around the Redis fence.
samples["pooler.pause"].push(contract.pooler.pause(poolerReplicas, 10, "redis"));
for (const to of ["target", "source"] as const) samples["pooler.repoint"].push(contract.pooler.repoint(poolerReplicas, to, "redis"));
samples["pooler.resume"].push(contract.pooler.resume(poolerReplicas, "redis"));
samples["pooler.status"].push(contract.pooler.status(poolerReplicas, "redis"));
samples["stack.cutover"].push(contract.stack(true).cutover({ strategy: "capture", mode: "copy", fence: "dynos-stopped", maxLagBytes: 204800, timeoutSeconds: 300, drainSidekiq: true, pooler: { replicas: poolerReplicas, pauseTimeoutSeconds: 10, redis: true } }));

const cases = Object.entries(samples).flatMap(([builder, commands]) => commands.map((c): [string, FerryCommand] => [builder, c]));

describe("the CLI contract", () => {
  it("has a sample of every builder", () => {
    expect(Object.entries(samples).filter(([, commands]) => commands.length === 0).map(([name]) => name)).toEqual([]);
  });

  it.each(cases)("%s: the real parser accepts %j", async (_builder, command) => {
    const path = await parse(command.argv);
    // The words after "ferry --json" start with the sub-command the parser resolved.
    expect(command.argv.slice(2, 2 + path.length)).toEqual(path);
  });

  it.each(cases)("%s: names only variables the data plane reads, and no value in argv", (_builder, command) => {
    const known: string[] = Object.values(contract.ENV);
    expect(command.env.filter((name) => !known.includes(name))).toEqual([]);
    expect(command.argv.join(" ")).not.toMatch(/:\/\/[^/\s]*:[^@\s]*@/);
  });

  // Run for real with none of the contract's variables set: the one-line usage error names
  // a variable this command's `env` lists. (Commands that would reach a network host
  // before reading their variables, proxy and health, are left out: tests stay on loopback.)
  const offline = cases.filter(([builder]) => /^(pg|redis|stack|heroku|pooler)\./.test(builder));
  const unset = Object.fromEntries(Object.values(contract.ENV).map((name) => [name, undefined]));
  it.each(offline)("%s: without its variables, %j says which one is missing", async (_builder, command) => {
    const run = await runFerry(command.argv.slice(1), unset);
    expect(run.code, run.stderr).toBe(2);
    const named = command.env.filter((name) => run.stderr.includes(name));
    expect(named.length, run.stderr).toBeGreaterThan(0);
  });

  it("a command the CLI would reject fails the parse", async () => {
    await expect(parse(["ferry", "--json", "pg", "cutover", "--strategy", "logical", "--max-lag", "1"])).rejects.toBeInstanceOf(CommanderError);
    await expect(parse(["ferry", "--json", "redis", "replicate", "--strategy", "psync"])).rejects.toBeInstanceOf(CommanderError);
    await expect(parse(["ferry", "--json", "proxy", "apply", "--host", "root@h"])).rejects.toBeInstanceOf(CommanderError);
  });
});
