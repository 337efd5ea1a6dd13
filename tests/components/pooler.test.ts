// The Postgres pooler as the program declares it (ferry:target.pooler), under Pulumi mocks,
// for both example stacks: one ECS service per replica, each with its own Cloud Map name;
// who may reach which port; secrets only by reference; the app's DATABASE_URL through the
// pooler from provision on and unchanged by Postgres's cutover; the server URL's secret on
// the source until the cutover and on the target from it, written after the cutover's
// steps; and the cutover step naming every replica.
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { providerRules, Recorded, isSecretValue, plain, resourcesOf, stackConfig, upTo, withFlags, Flags, FAKE_SECRETS } from "../program/harness";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { POOLER_CA_HASHED_IN_TASK, POOLER_CA_IN_TASK, poolerPassword } from "../../components/target/pooler";
import { withoutPooler, withPooler } from "./pooler-config";

interface Built {
  name: string;
  resources: Recorded[];
  dependsOn: Map<string, string[]>;
}

let builds = 0;
/** `pooler`: ferry:target.pooler's value, or null for a stack without one. */
async function build(stack: "staging" | "prod", flags: Flags = {}, pooler: Record<string, unknown> | null = {}): Promise<Built> {
  const name = `p${++builds}`;
  const names = new Map<pulumi.Resource, string>();
  const dependsOn = new Map<string, string[]>();
  const capture: pulumi.ResourceTransformation = (args) => {
    names.set(args.resource, args.name);
    const deps = args.opts.dependsOn;
    const list = (Array.isArray(deps) ? deps : deps ? [deps] : []) as pulumi.Resource[];
    dependsOn.set(`${args.type}::${args.name}`, list.map((d) => names.get(d) ?? "?"));
    return undefined;
  };
  const raw = pooler ? withPooler(stackConfig(stack), pooler) : withoutPooler(stackConfig(stack));
  const config = parseConfig(withFlags(raw, flags));
  buildFerry(config, { name, transformations: [capture, providerRules(config, name)] });
  return { name, resources: await resourcesOf(name), dependsOn };
}

const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);
const one = (b: Built, type: string, name: string) => {
  const found = b.resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} ${name} (have: ${ofType(b, type).map((r) => r.name).join(", ")})`);
  return found;
};
type Container = { name: string; secrets?: { name: string; valueFrom: string }[]; environment?: { name: string; value: string }[]; command?: string[] };
const containers = (r: Recorded) => JSON.parse(String(plain(r.inputs.containerDefinitions))) as Container[];
const appConfig = (b: Built) => JSON.parse(String(plain(one(b, "aws:secretsmanager/secretVersion:SecretVersion", `${b.name}-app-config`).inputs.secretString))) as Record<string, string>;
const poolerSecret = (b: Built) => JSON.parse(String(plain(one(b, "aws:secretsmanager/secretVersion:SecretVersion", `${b.name}-pooler-secret`).inputs.secretString))) as Record<string, string>;

describe.each(["staging", "prod"] as const)("the pooler of the %s stack", (stack) => {
  it("is one ECS service of one task per replica, each registered under its own Cloud Map name (A record), rolling one after the other", async () => {
    const b = await build(stack);
    const namespace = one(b, "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace", `${b.name}-pooler-ns`);
    expect(namespace.inputs.name).toBe(`${b.name}.pooler.internal`);
    const registries = ofType(b, "aws:servicediscovery/service:Service");
    expect(registries.map((r) => r.inputs.name)).toEqual(["pooler-0", "pooler-1"]);
    for (const r of registries) expect(plain(r.inputs.dnsConfig)).toMatchObject({ dnsRecords: [{ type: "A", ttl: 10 }], routingPolicy: "MULTIVALUE" });
    const services = ofType(b, "aws:ecs/service:Service").filter((s) => s.name.startsWith(`${b.name}-pooler-`));
    expect(services.map((s) => s.name)).toEqual([`${b.name}-pooler-pooler-0`, `${b.name}-pooler-pooler-1`]);
    for (const s of services) {
      expect(s.inputs).toMatchObject({ desiredCount: 1, deploymentMinimumHealthyPercent: 0, deploymentMaximumPercent: 100, launchType: "FARGATE" });
      expect(plain(s.inputs.networkConfiguration)).toMatchObject({ assignPublicIp: false });
    }
    // Each its own registry, never both on one name.
    expect(new Set(services.map((s) => JSON.stringify(plain(s.inputs.serviceRegistries)))).size).toBe(2);
    expect(b.dependsOn.get(`aws:ecs/service:Service::${b.name}-pooler-pooler-1`)).toContain(`${b.name}-pooler-pooler-0`);
    expect(b.dependsOn.get(`aws:ecs/service:Service::${b.name}-pooler-pooler-0`)).not.toContain(`${b.name}-pooler-pooler-1`);
  });

  it("lets the app's tasks reach 6432 and the Redis proxy's 6380, the runner the control port, nothing else; and the pooler reach RDS and the target Redis", async () => {
    const b = await build(stack);
    const rules = ofType(b, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((r) => r.name.startsWith(`${b.name}-pooler-`));
    const summary = rules.map((r) => ({ name: r.name, port: r.inputs.fromPort, toPort: r.inputs.toPort, from: r.inputs.referencedSecurityGroupId, cidr: r.inputs.cidrIpv4, group: r.inputs.securityGroupId }));
    const appSg = one(b, "aws:ec2/securityGroup:SecurityGroup", `${b.name}-fw-app`);
    const runnerSg = one(b, "aws:ec2/securityGroup:SecurityGroup", `${b.name}-fw-runner`);
    const poolerSg = one(b, "aws:ec2/securityGroup:SecurityGroup", `${b.name}-pooler-sg`);
    const idOf = (r: Recorded) => `${r.name}-id`;
    expect(summary.filter((r) => r.group === idOf(poolerSg))).toEqual([
      { name: `${b.name}-pooler-in-app`, port: 6432, toPort: 6432, from: idOf(appSg), cidr: undefined, group: idOf(poolerSg) },
      { name: `${b.name}-pooler-in-app-redis`, port: 6380, toPort: 6380, from: idOf(appSg), cidr: undefined, group: idOf(poolerSg) },
      { name: `${b.name}-pooler-in-control`, port: 6433, toPort: 6433, from: idOf(runnerSg), cidr: undefined, group: idOf(poolerSg) },
    ]);
    expect(summary.find((r) => r.name === `${b.name}-pooler-to-postgres`)).toMatchObject({ port: 5432, from: idOf(poolerSg), group: idOf(one(b, "aws:ec2/securityGroup:SecurityGroup", `${b.name}-fw-postgres`)) });
    expect(summary.find((r) => r.name === `${b.name}-pooler-to-redis`)).toMatchObject({ port: 6379, from: idOf(poolerSg), group: idOf(one(b, "aws:ec2/securityGroup:SecurityGroup", `${b.name}-fw-redis`)) });
  });

  it("gives its task the server URL, passwords, certificate and key only as secret references", async () => {
    const b = await build(stack);
    const [fetch, pooler] = containers(one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-pooler`));
    expect(pooler.secrets!.map((s) => s.name)).toEqual(["FERRY_POOLER_ADMIN_PASSWORD", "FERRY_POOLER_CLIENT_PASSWORD", "FERRY_POOLER_REDIS_URL", "FERRY_POOLER_SERVER_URL", "FERRY_POOLER_TLS_CERT", "FERRY_POOLER_TLS_KEY"]);
    const text = JSON.stringify([fetch, pooler]);
    for (const secret of [FAKE_SECRETS["ferry:targetPostgresPassword"], poolerPassword(FAKE_SECRETS["ferry:targetPostgresPassword"], "admin"), poolerPassword(FAKE_SECRETS["ferry:targetPostgresPassword"], "client")]) {
      expect(text).not.toContain(secret);
    }
    // The secret version itself is a Pulumi secret.
    expect(isSecretValue(one(b, "aws:secretsmanager/secretVersion:SecretVersion", `${b.name}-pooler-secret`).inputs.secretString)).toBe(true);
    // The TLS material is written by the runner step, never declared.
    expect(ofType(b, "aws:secretsmanager/secretVersion:SecretVersion").map((v) => v.name)).not.toContain(`${b.name}-pooler-tls`);
  });

  it("is where the app's DATABASE_URL points from provision on, the same URL after Postgres's cutover (no roll in the window)", async () => {
    const provision = await build(stack, upTo("provision"));
    const cutover = await build(stack, upTo("cutover"));
    // DATABASE_URL without host or password (Rails's parser refuses a host list in it), the
    // replicas in libpq's PGHOST, the app's login password in PGPASSWORD (./pooler-pure.test.ts).
    const database = (b: Built) => Object.fromEntries(["DATABASE_URL", "PGHOST", "PGPORT", "PGPASSWORD"].map((k) => [k, appConfig(b)[k]]));
    expect(database(provision).DATABASE_URL).toBe(`postgresql:///${parseConfig(stackConfig(stack)).target.postgres.database}?user=app&sslmode=verify-full&sslrootcert=${POOLER_CA_IN_TASK}`);
    expect(database(provision).PGHOST).toBe(`pooler-0.${provision.name}.pooler.internal,pooler-1.${provision.name}.pooler.internal`);
    expect(database(provision).PGPORT).toBe("6432");
    expect(database(provision).PGPASSWORD).toBe(poolerPassword(FAKE_SECRETS["ferry:targetPostgresPassword"], "client"));
    const same = (b: Built) => JSON.stringify(database(b)).replaceAll(b.name, "STACK");
    expect(same(cutover)).toBe(same(provision));
    // Every app task copies the pooler's CA next to the RDS bundle before the app starts.
    const web = containers(one(provision, "aws:ecs/taskDefinition:TaskDefinition", `${provision.name}-app-web`));
    expect(web[0].command![0]).toContain(`"$POOLER_CA_URL" ${POOLER_CA_IN_TASK}`);
    const marker = (b: Built) => containers(one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-app-web`)).find((c) => c.name === "app")!.environment!.find((e) => e.name === "FERRY_DATA_GENERATION")!.value;
    expect(marker(provision)).toMatch(/^postgres=pooler /);
    expect(marker(cutover)).toMatch(/^postgres=pooler /);
  });

  it("is where the app's REDIS_URL points from provision on, the same after Redis's cutover, with the pooler's CA where Node and OpenSSL look", async () => {
    const provision = await build(stack, upTo("provision"));
    const cutover = await build(stack, upTo("cutover"));
    const redis = (b: Built) => Object.fromEntries(["REDIS_URL", "NODE_EXTRA_CA_CERTS", "SSL_CERT_DIR"].map((k) => [k, appConfig(b)[k]]));
    expect(redis(provision)).toEqual({
      REDIS_URL: `rediss://app:${poolerPassword(FAKE_SECRETS["ferry:targetPostgresPassword"], "client")}@pooler-0.${provision.name}.pooler.internal:6380/0`,
      NODE_EXTRA_CA_CERTS: POOLER_CA_IN_TASK,
      SSL_CERT_DIR: `${POOLER_CA_HASHED_IN_TASK.replace(/\/[^/]+$/, "")}:/etc/ssl/certs`,
    });
    const same = (b: Built) => JSON.stringify(redis(b)).replaceAll(b.name, "STACK");
    expect(same(cutover)).toBe(same(provision));
    const web = containers(one(provision, "aws:ecs/taskDefinition:TaskDefinition", `${provision.name}-app-web`));
    expect(web[0].command![0]).toContain(`"$POOLER_CA_URL" ${POOLER_CA_HASHED_IN_TASK}`);
    const marker = (b: Built) => containers(one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-app-web`)).find((c) => c.name === "app")!.environment!.find((e) => e.name === "FERRY_DATA_GENERATION")!.value;
    expect(marker(provision)).toBe("postgres=pooler redis=pooler");
    expect(marker(cutover)).toBe("postgres=pooler redis=pooler");
  });

  it("points its tasks at the source until the cutover, at the target from it, written only after the cutover's steps", async () => {
    const replicate = await build(stack, upTo("replicate"));
    const cutover = await build(stack, upTo("cutover"));
    expect(poolerSecret(replicate).FERRY_POOLER_SERVER_URL).toBe(`${FAKE_SECRETS["ferry:sourceDatabaseUrl"]}?sslmode=require`);
    const target = new URL(poolerSecret(cutover).FERRY_POOLER_SERVER_URL);
    expect(target.hostname).toMatch(/\.rds\.amazonaws\.com$/);
    expect(target.searchParams.get("sslmode")).toBe("verify-full");
    const waits = cutover.dependsOn.get(`aws:secretsmanager/secretVersion:SecretVersion::${cutover.name}-pooler-secret`)!;
    expect(waits).toContain(`${cutover.name}-cutover-stores`);
    expect(waits).toContain(`${cutover.name}-cutover-pg-verify`);
    expect(replicate.dependsOn.get(`aws:secretsmanager/secretVersion:SecretVersion::${replicate.name}-pooler-secret`)!.some((d) => d.startsWith(`${replicate.name}-cutover`))).toBe(false);
    // The Redis proxy the same: the app's source URL (Heroku's unverifiable certificate said
    // so; a box's plain URL as it is), then the target's.
    const source = FAKE_SECRETS["ferry:sourceRedisUrl"];
    expect(poolerSecret(replicate).FERRY_POOLER_REDIS_URL).toBe(stack === "staging" ? `${new URL(source).toString()}?ssl_cert_reqs=none` : new URL(source).toString());
    expect(new URL(poolerSecret(cutover).FERRY_POOLER_REDIS_URL).hostname).not.toBe(new URL(source).hostname);
  });

  it("is paused, repointed and resumed by the cutover: every replica named, the secrets in the step's environment", async () => {
    const b = await build(stack, upTo("cutover"));
    const step = b.resources.find((r) => r.type.startsWith("command:") && /-cutover-(stores|pg)$/.test(r.name))!;
    const create = String(plain(step.inputs.create));
    expect(create).toContain(`--pooler https://pooler-0.${b.name}.pooler.internal:6433 --pooler https://pooler-1.${b.name}.pooler.internal:6433 --pooler-timeout 10 --pooler-redis`);
    // The runner keeps a step's whole environment secret.
    expect(isSecretValue(step.inputs.environment)).toBe(true);
    const env = plain(step.inputs.environment) as Record<string, string>;
    for (const key of ["FERRY_POOLER_ADMIN_PASSWORD", "FERRY_POOLER_TARGET_URL", "FERRY_POOLER_REDIS_TARGET_URL", "FERRY_POOLER_CA"]) expect(Object.keys(env)).toContain(key);
    // Sidekiq is not quieted (quiet lasts until a restart, and no service rolls): its jobs wait in the pooler.
    expect(create).not.toContain("--sidekiq");
    expect(env.FERRY_POOLER_REDIS_TARGET_URL).toBe(env.FERRY_TARGET_REDIS_URL);
    expect(env.FERRY_POOLER_ADMIN_PASSWORD).toBe(poolerPassword(FAKE_SECRETS["ferry:targetPostgresPassword"], "admin"));
    expect(new URL(env.FERRY_POOLER_TARGET_URL).hostname).toMatch(/\.rds\.amazonaws\.com$/);
    expect(create).not.toContain(poolerPassword(FAKE_SECRETS["ferry:targetPostgresPassword"], "admin"));
  });
});

describe("Postgres cut over alone, through its pooler", () => {
  it.each(["staging", "prod"] as const)("%s: runs `ferry cutover` for Postgres only (the stack cutover pauses the pooler; `pg cutover` would not)", async (stack) => {
    const b = await build(stack, upTo("cutover", { hold: { redis: "replicate", app: "proxy" } }));
    const step = one(b, "command:remote:Command", `${b.name}-cutover-pg`);
    const create = String(plain(step.inputs.create));
    expect(create).toMatch(/^ferry --json cutover --strategy (dump|logical|capture) --max-lag-bytes \d+ --timeout \d+ /);
    expect(create).toContain(`--pooler https://pooler-0.${b.name}.pooler.internal:6433 --pooler https://pooler-1.${b.name}.pooler.internal:6433`);
    // Redis stays: no Redis strategy, no queue drain (it needs Redis's URLs), its proxy left alone.
    expect(create).not.toMatch(/--strategy (replicaof|copy)|--sidekiq|--fence|--pooler-redis/);
    expect(Object.keys(plain(step.inputs.environment) as Record<string, string>)).toContain("FERRY_POOLER_ADMIN_PASSWORD");
  });
});

describe("Redis cut over alone, through the pooler's proxy", () => {
  it.each(["staging", "prod"] as const)("%s: runs `ferry cutover` for Redis only (`redis cutover` knows no proxy), and quiets no Sidekiq (nothing would restart it)", async (stack) => {
    const b = await build(stack, upTo("cutover", { hold: { postgres: "replicate", app: "proxy" } }));
    const step = one(b, "command:remote:Command", `${b.name}-cutover-redis`);
    const create = String(plain(step.inputs.create));
    expect(create).toMatch(/^ferry --json cutover --strategy (replicaof|copy) /);
    expect(create).not.toContain(`--sidekiq`);
    expect(create).toContain(`--pooler https://pooler-0.${b.name}.pooler.internal:6433 --pooler https://pooler-1.${b.name}.pooler.internal:6433 --pooler-timeout 10 --pooler-redis`);
    // Postgres stays: no Postgres strategy, and no separate drain step.
    expect(create).not.toMatch(/--strategy (dump|logical|capture)/);
    expect(b.resources.find((r) => r.name === `${b.name}-cutover-redis-drain`)).toBeUndefined();
    const env = plain(step.inputs.environment) as Record<string, string>;
    expect(Object.keys(env)).toEqual(expect.arrayContaining(["FERRY_POOLER_ADMIN_PASSWORD", "FERRY_POOLER_CA", "FERRY_POOLER_REDIS_TARGET_URL", "FERRY_TARGET_REDIS_URL"]));
    expect(Object.keys(env)).not.toContain("FERRY_TARGET_URL");
    expect(plain(step.inputs.delete)).toMatch(/^ferry --json redis rollback/);
  });
});

describe("a stack without ferry:target.pooler", () => {
  it("declares no pooler and keeps the app's direct DATABASE_URL and its task definitions as before", async () => {
    const b = await build("prod", upTo("replicate"), null);
    expect(b.resources.filter((r) => r.name.startsWith(`${b.name}-pooler`))).toEqual([]);
    expect(appConfig(b).DATABASE_URL).toBe(FAKE_SECRETS["ferry:sourceDatabaseUrl"]);
    const web = containers(one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-app-web`));
    expect(JSON.stringify(web)).not.toContain("POOLER");
    const step = (await build("prod", upTo("cutover"), null)).resources.find((r) => r.type.startsWith("command:") && /-cutover-stores$/.test(r.name))!;
    expect(String(plain(step.inputs.create))).not.toContain("--pooler");
    // The services roll onto the target's REDIS_URL, which restarts the Sidekiq the cutover quiets.
    expect(String(plain(step.inputs.create))).toContain("--sidekiq");
  });
});
