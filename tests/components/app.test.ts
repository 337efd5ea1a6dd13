// The app plane under Pulumi mocks, for both example stacks: services, task definitions,
// config vars only as secrets (by ARN and version), the release phase ordered before the
// services, schedules, logs, and every resource passing the rules AWS applies
// (./ecs-rules.ts). Resource options are read through buildFerry's transformations.
import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { FAKE_RELEASES, providerRules, Recorded, SECRET_MARK, isSecretValue, plain, resourcesOf, stackConfig, upTo, withFlags, Flags } from "../program/harness";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { SLUG_RUN } from "../../components/target/compute";
import { checkRegistration, checkStack, containersOf as containersOfInputs, Registration } from "../../policy/providers";
import { withoutPooler } from "./pooler-config";

const containersOf = (r: Recorded) => containersOfInputs(plain(r.inputs) as Record<string, unknown>);
const NO_WORLD = { liveDnsRecords: new Map(), adopted: new Set<string>() };
/** What the providers would refuse of these registrations (prefixed by the refused one's name). */
const refusals = (rs: Recorded[]): string[] => {
  const regs: Registration[] = rs.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs, options: {} }));
  return [...regs.flatMap((r) => checkRegistration(r, NO_WORLD)), ...checkStack(regs, NO_WORLD)];
};

interface Built {
  name: string;
  resources: Recorded[];
  dependsOn: Map<string, string[]>;
  options: Map<string, pulumi.CustomResourceOptions>;
}

let builds = 0;
async function build(stack: "staging" | "prod", flags: Flags = {}): Promise<Built> {
  const name = `a${++builds}`;
  const names = new Map<pulumi.Resource, string>();
  const dependsOn = new Map<string, string[]>();
  const options = new Map<string, pulumi.CustomResourceOptions>();
  const capture: pulumi.ResourceTransformation = (args) => {
    names.set(args.resource, args.name);
    const deps = args.opts.dependsOn;
    const list = (Array.isArray(deps) ? deps : deps ? [deps] : []) as pulumi.Resource[];
    // Keyed by type too: a process's task definition, service and log group share its name.
    dependsOn.set(`${args.type}::${args.name}`, list.map((d) => names.get(d) ?? "?"));
    options.set(`${args.type}::${args.name}`, args.opts as pulumi.CustomResourceOptions);
    return undefined;
  };
  const config = parseConfig(withFlags(withoutPooler(stackConfig(stack)), flags));
  buildFerry(config, { name, transformations: [capture, providerRules(config, name)] });
  return { name, resources: await resourcesOf(name), dependsOn, options };
}

const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);
const one = (b: Built, type: string, name: string) => {
  const found = b.resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} ${name} (have: ${ofType(b, type).map((r) => r.name).join(", ")})`);
  return found;
};
const commandsNamed = (b: Built, name: RegExp) => b.resources.filter((r) => r.type.startsWith("command:") && name.test(r.name));
const app = (b: Built, definition: string) => containersOf(one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-app-${definition}`)).find((c) => c.name === "app")!;

describe("the provider rules themselves", () => {
  it("catch what AWS refuses (so passing them means something)", async () => {
    const b = await build("prod");
    const td = one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-app-web`);
    const svc = one(b, "aws:ecs/service:Service", `${b.name}-app-sidekiq`);
    const bad: Recorded[] = [
      { ...td, name: "bad-size", inputs: { ...td.inputs, cpu: "256", memory: "4096" } },
      { ...td, name: "bad-net", inputs: { ...td.inputs, networkMode: "bridge" } },
      { ...svc, name: "bad-grace", inputs: { ...svc.inputs, healthCheckGracePeriodSeconds: 60 } },
      { type: "aws:scheduler/schedule:Schedule", name: "bad-cron", inputs: { scheduleExpression: "cron(0 3 * * *)", flexibleTimeWindow: { mode: "OFF" } } },
      { type: "aws:secretsmanager/secret:Secret", name: "bad-secret", inputs: { name: "ferry app config!" } },
    ];
    // Each refusal names the resource it refuses.
    const refused = new Set(refusals([...b.resources, ...bad]).flatMap((v) => /\b(bad-[a-z]+)\b/.exec(v)?.[1] ?? []));
    expect([...refused].sort()).toEqual(["bad-cron", "bad-grace", "bad-net", "bad-secret", "bad-size"]);
  });
});

describe.each(["staging", "prod"] as const)("%s: the app on ECS Fargate", (stack) => {
  const heroku = stack === "staging";

  it("declares a cluster, a service per process, and nothing AWS would refuse", async () => {
    const b = await build(stack, upTo("proxy", heroku ? { trafficPercent: 30 } : {}));
    // resourcesOf (in build) already threw if the providers refused anything.
    expect(ofType(b, "aws:ecs/cluster:Cluster")).toHaveLength(1);
    const services = Object.fromEntries(ofType(b, "aws:ecs/service:Service").map((s) => [s.name.replace(`${b.name}-app-`, ""), plain(s.inputs) as Record<string, any>]));
    expect(Object.keys(services).sort()).toEqual(["sidekiq", "streaming", "web"]);
    expect(services.web).toMatchObject({ launchType: "FARGATE", desiredCount: 2, networkConfiguration: { assignPublicIp: false }, deploymentCircuitBreaker: { enable: true, rollback: true }, waitForSteadyState: true });
    expect(services.web.loadBalancers).toEqual([{ targetGroupArn: `arn:aws:elasticloadbalancing:::${b.name}-ingress-web`, containerName: "app", containerPort: 3000 }]);
    expect(services.streaming.loadBalancers[0].containerPort).toBe(4000);
    expect(services.sidekiq.loadBalancers).toEqual([]);
    expect(services.sidekiq.desiredCount).toBe(heroku ? 1 : 2);
    // Private subnets only, behind the app security group.
    expect(services.web.networkConfiguration.subnets.length).toBeGreaterThanOrEqual(2);
    expect(services.web.networkConfiguration.securityGroups).toEqual([`${b.name}-fw-app-id`]);
    // Health path per process on its target group.
    expect(plain(one(b, "aws:lb/targetGroup:TargetGroup", `${b.name}-ingress-streaming`).inputs.healthCheck)).toMatchObject({ path: "/api/v1/streaming/health" });
    // The autoscaled web service leaves desiredCount to the scaler.
    expect(b.options.get(`aws:ecs/service:Service::${b.name}-app-web`)!.ignoreChanges).toEqual(["desiredCount"]);
    expect(b.options.get(`aws:ecs/service:Service::${b.name}-app-streaming`)!.ignoreChanges).toBeUndefined();
    const scaling = one(b, "aws:appautoscaling/target:Target", `${b.name}-app-web`);
    expect([scaling.inputs.minCapacity, scaling.inputs.maxCapacity]).toEqual(heroku ? [2, 6] : [2, 8]);
    expect(plain(scaling.inputs.resourceId)).toBe(`service/${b.name}-app-cluster/${b.name}-app-web`);
  });

  it("config vars reach every container as secrets by ARN and version, never as plain environment", async () => {
    const b = await build(stack);
    const [secret] = ofType(b, "aws:secretsmanager/secret:Secret");
    const [version] = ofType(b, "aws:secretsmanager/secretVersion:SecretVersion");
    expect(isSecretValue(version.inputs.secretString)).toBe(true);
    const vars = JSON.parse(String(plain(version.inputs.secretString))) as Record<string, string>;
    expect(Object.keys(vars).sort()).toEqual(["ADVISORY_LOCKS", "DATABASE_URL", "FERRY_BUCKET", "LOCAL_DOMAIN", "PREPARED_STATEMENTS", "RAILS_ENV", "REDIS_URL"]);
    for (const td of ofType(b, "aws:ecs/taskDefinition:TaskDefinition")) {
      const json = String(plain(td.inputs.containerDefinitions));
      // No value of any config var in the clear, not even the harmless-looking ones.
      for (const [k, value] of Object.entries(vars)) expect(json, `${td.name} ${k}`).not.toContain(JSON.stringify(value));
      expect(json).not.toContain(SECRET_MARK);
      const c = containersOf(td).find((x) => x.name === "app")!;
      const own = c.secrets!.filter((s) => s.name in vars);
      expect(own.map((s) => s.name)).toEqual(Object.keys(vars).sort());
      for (const s of own) expect(s.valueFrom).toMatch(new RegExp(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/${b.name}/app-config-AbCdEf:${s.name}::[0-9a-f]{32}$`));
      const names = c.secrets!.map((s) => s.name);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
      expect((c.environment ?? []).map((e) => e.name).filter((n) => names.includes(n))).toEqual([]);
      // A Heroku app's own vars come from its copied secret, pinned to the version the copy wrote.
      const copied = c.secrets!.filter((s) => !(s.name in vars));
      if (heroku) {
        const app = td.name.includes("streaming") ? "masto-streaming" : "masto-web";
        expect(copied.map((s) => s.name)).toEqual(app === "masto-web" ? ["AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "OTP_SECRET", "PAPERTRAIL_API_TOKEN", "S3_BUCKET", "SECRET_KEY_BASE", "SMTP_PASSWORD"] : ["NODE_ENV", "STREAMING_CLUSTER_NUM"]);
        for (const s of copied) expect(s.valueFrom).toBe(`arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/${b.name}/heroku-${app}-AbCdEf:${s.name}::v-${app}-0001`);
      } else {
        // The box's env file, minus what ferry sets (LOCAL_DOMAIN, RAILS_ENV come from compute.env).
        expect(copied.map((s) => s.name)).toEqual(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DB_HOST", "OTP_SECRET", "S3_BUCKET", "SECRET_KEY_BASE", "SMTP_PASSWORD", "VAPID_PRIVATE_KEY"]);
        for (const s of copied) expect(s.valueFrom).toBe(`arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/${b.name}/box-env-AbCdEf:${s.name}::v-box-0001`);
      }
    }
    // The execution role may read exactly these secrets.
    const policy = JSON.parse(String(plain(one(b, "aws:iam/rolePolicy:RolePolicy", `${b.name}-app-execution`).inputs.policy)));
    const arns = ofType(b, "aws:secretsmanager/secret:Secret").map((x) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${plain(x.inputs.namePrefix)}AbCdEf`);
    expect(arns).toHaveLength(heroku ? 3 : 2);
    expect(arns[0]).toBe(`arn:aws:secretsmanager:us-east-1:123456789012:secret:${plain(secret.inputs.namePrefix)}AbCdEf`);
    expect(policy.Statement).toEqual([{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: arns }]);
  });

  it("a store cutover changes the secret's version, so every task definition rolls", async () => {
    const before = await build(stack, upTo("replicate"));
    const after = await build(stack, upTo("cutover", heroku ? { trafficPercent: 100 } : {}));
    const valueFrom = (b: Built) => app(b, "web").secrets!.find((s) => s.name === "DATABASE_URL")!.valueFrom.split("::")[1];
    expect(valueFrom(before)).not.toBe(valueFrom(after));
    const gen = (b: Built) => app(b, "web").environment!.find((e) => e.name === "FERRY_DATA_GENERATION") as unknown as { value: string };
    expect([gen(before).value, gen(after).value]).toEqual(["postgres=source redis=source", "postgres=target redis=target"]);
  });

  it("logs: a CloudWatch log group per process, every container on awslogs", async () => {
    const b = await build(stack);
    const groups = ofType(b, "aws:cloudwatch/logGroup:LogGroup").filter((g) => g.name.startsWith(`${b.name}-app-`));
    expect(groups.map((g) => [g.inputs.name, g.inputs.retentionInDays])).toEqual(["web", "streaming", "sidekiq"].map((p) => [`/ferry/${b.name}/${p}`, 30]));
    for (const td of ofType(b, "aws:ecs/taskDefinition:TaskDefinition")) {
      for (const c of containersOf(td)) expect(c.logConfiguration!.logDriver, `${td.name} ${c.name}`).toBe("awslogs");
    }
  });

  it("schedules: each job is an EventBridge Scheduler schedule running a one-off task of its process's code", async () => {
    const b = await build(stack);
    const schedules = ofType(b, "aws:scheduler/schedule:Schedule").map((s) => plain(s.inputs) as Record<string, any>);
    expect(schedules.map((s) => [s.scheduleExpression, s.scheduleExpressionTimezone])).toEqual(
      heroku ? [["cron(30 3 * * ? *)", "UTC"], ["rate(10 minutes)", "UTC"]] : [["cron(30 3 * * ? *)", "Europe/Berlin"], ["cron(15 4 * * ? *)", "UTC"]],
    );
    const job = heroku ? "media-cleanup" : "media-remove";
    const s = schedules[0];
    expect(s.target.arn).toBe(`arn:aws:ecs:us-east-1:123456789012:cluster/${b.name}-app-cluster`);
    expect(s.target.ecsParameters).toMatchObject({ taskDefinitionArn: `arn:aws:ecs:us-east-1:123456789012:task-definition/${b.name}-app-job-${job}:1`, launchType: "FARGATE", taskCount: 1 });
    const c = app(b, `job-${job}`);
    if (heroku) {
      // A Scheduler job is a one-off in the slug: slug-run with SLUG_COMMAND, as `heroku run`,
      // on the stack's own copy of heroku/heroku:24 (Docker Hub's anonymous limit).
      expect(c.image).toMatch(/^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/\w+\/docker\.io\/heroku\/heroku@sha256:[0-9a-f]{64}$/);
      expect((c as any).command).toEqual(["/slug/slug-run", "/slug/slug.tgz", "scheduler"]);
      expect(c.environment).toContainEqual({ name: "SLUG_COMMAND", value: "bin/tootctl media remove --days 7" });
    } else {
      expect((c as any).command).toEqual(["/bin/sh", "-c", "bin/tootctl media remove --days 7"]);
    }
    // The scheduler's role may run only these task definitions, in this cluster, and pass only the task roles.
    const policy = JSON.parse(String(plain(one(b, "aws:iam/rolePolicy:RolePolicy", `${b.name}-app-scheduler`).inputs.policy)));
    expect(policy.Statement[0].Resource).toEqual(schedules.map((x) => x.target.ecsParameters.taskDefinitionArn.replace(/:1$/, ":*")));
    expect(policy.Statement[1].Action).toEqual(["iam:PassRole"]);
  });

  it("the release phase runs as a one-off task before the services take the new task definitions", async () => {
    const b = await build(stack);
    const phases = b.resources.filter((r) => r.type.startsWith("command:") && r.name.endsWith("-release-phase"));
    expect(phases.map((p) => p.name)).toEqual(heroku ? [`${b.name}-app-masto-web-release-phase`, `${b.name}-app-masto-streaming-release-phase`] : [`${b.name}-app-image-release-phase`]);
    const [phase] = phases;
    const releaseDefinition = heroku ? `${b.name}-app-masto-web-release` : `${b.name}-app-release`;
    expect(String(plain(phase.inputs.create))).toContain(`--task-definition arn:aws:ecs:us-east-1:123456789012:task-definition/${releaseDefinition}:1 --launch-type FARGATE`);
    // A new revision (new code or config) runs it again.
    expect(plain(phase.inputs.triggers)).toEqual([`arn:aws:ecs:us-east-1:123456789012:task-definition/${releaseDefinition}:1`]);
    // Every service of that code waits for it: a failed phase stops their update.
    for (const process of heroku ? ["web", "sidekiq"] : ["web", "streaming", "sidekiq"]) {
      expect(b.dependsOn.get(`aws:ecs/service:Service::${b.name}-app-${process}`), process).toContain(phase.name);
    }
    const c = containersOf(one(b, "aws:ecs/taskDefinition:TaskDefinition", releaseDefinition)).find((x) => x.name === "app")!;
    expect((c as any).command).toEqual(heroku ? ["/slug/slug-run", "/slug/slug.tgz", "release"] : ["/bin/sh", "-c", "bundle exec rails db:migrate"]);
    expect(c.portMappings).toEqual([]);
    if (heroku) {
      // masto-streaming's release has no `release` process type: its phase says so and runs nothing.
      expect(String(plain(phases[1].inputs.create))).toBe('echo "ferry: masto-streaming v7 has no release process type: nothing to run"');
    }
  });
});

describe.each(["staging", "prod"] as const)("%s: the app's own media bucket", (stack) => {
  it("keeps the app's S3_BUCKET and AWS credentials: copied from the app, never replaced by ferry's bucket", async () => {
    const b = await build(stack, upTo("replicate"));
    const own = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET", ...(stack === "staging" ? ["AWS_REGION"] : [])];
    const copies = commandsNamed(b, stack === "staging" ? /-app-masto-web-config$/ : /-app-box-config$/);
    expect(copies).toHaveLength(1);
    const exclude = /--exclude (\S+)$/.exec(String(plain(copies[0].inputs.create)))?.[1].split(",") ?? [];
    expect(exclude.filter((n) => own.includes(n))).toEqual([]);
    // Each reaches the web task from the app's copied secret, not from ferry's.
    const copiedSecret = stack === "staging" ? "heroku-masto-web" : "box-env";
    for (const name of own) {
      const ref = app(b, "web").secrets!.find((s) => s.name === name);
      expect(ref?.valueFrom, name).toMatch(new RegExp(`:secret:ferry/${b.name}/${copiedSecret}-AbCdEf:${name}::`));
    }
    // ferry's own bucket goes by a name of its own.
    const [version] = ofType(b, "aws:secretsmanager/secretVersion:SecretVersion");
    const ferryVars = JSON.parse(String(plain(version.inputs.secretString))) as Record<string, string>;
    expect(ferryVars.FERRY_BUCKET).toBe(`${b.name}-storage-bucket-bucket-1234`);
    expect(Object.keys(ferryVars).filter((n) => own.includes(n))).toEqual([]);
  });
});

describe("prod: a box's env file", () => {
  it("is copied over SSH by a ferry step on the runner, the key only in its environment", async () => {
    const b = await build("prod");
    const step = one(b, "command:remote:Command", `${b.name}-app-box-config`);
    const secretArn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/${b.name}/box-env-AbCdEf`;
    expect(plain(step.inputs.create)).toBe(`ferry --json box config copy --host root@203.0.113.20:22 --ssh-key-env FERRY_SSH_KEY --host-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFamichikiBoxHostKeyExampleOnlyForDocs0' --env-file /home/mastodon/live/.env.production --secret-id ${secretArn} --region eu-central-1 --exclude ADVISORY_LOCKS,DATABASE_URL,FERRY_BUCKET,LOCAL_DOMAIN,PREPARED_STATEMENTS,RAILS_ENV,REDIS_URL`);
    expect(Object.keys(plain(step.inputs.environment) as object).sort()).toEqual(["FERRY_READ_EPOCH", "FERRY_SSH_KEY"]);
  });
});

describe("staging: slugs from Heroku", () => {
  it("reads each app's current release, copies its slug into the bucket, and runs it with slug-run on heroku-24", async () => {
    const b = await build("staging", upTo("replicate"));
    const read = one(b, "command:remote:Command", `${b.name}-app-masto-web-release`);
    expect(plain(read.inputs.create)).toBe("ferry --json heroku release --app masto-web");
    const env = read.inputs.environment as Record<string, unknown>;
    expect(isSecretValue(env) || isSecretValue(env.HEROKU_API_KEY)).toBe(true);
    expect(Object.keys(plain(env) as object).sort()).toEqual(["FERRY_READ_EPOCH", "HEROKU_API_KEY"]);
    const copy = one(b, "command:remote:Command", `${b.name}-app-masto-web-slug`);
    const slugId = (FAKE_RELEASES["masto-web"] as { slugId: string }).slugId;
    const bucket = `${b.name}-storage-bucket-bucket-1234`;
    expect(String(plain(copy.inputs.create))).toContain(`ferry --json heroku slug --app masto-web --slug ${slugId} --out slug.tgz`);
    expect(String(plain(copy.inputs.create))).toContain(`s3://${bucket}/slugs/masto-web/${slugId}.tgz`);
    expect(plain(copy.inputs.triggers)).toEqual([slugId, bucket]);

    const td = one(b, "aws:ecs/taskDefinition:TaskDefinition", `${b.name}-app-streaming`);
    expect(plain(td.inputs)).toMatchObject({ requiresCompatibilities: ["FARGATE"], networkMode: "awsvpc", cpu: "256", memory: "512", volumes: [{ name: "slug" }, { name: "app" }, { name: "rds-ca" }] });
    const [fetch, runner] = containersOf(td);
    const streamingSlug = (FAKE_RELEASES["masto-streaming"] as { slugId: string }).slugId;
    expect(fetch.environment).toEqual([{ name: "SLUG_URL", value: `s3://${bucket}/slugs/masto-streaming/${streamingSlug}.tgz` }, { name: "SLUG_RUN", value: SLUG_RUN }, { name: "RDS_CA_URL", value: `s3://${bucket}/certs/rds-global-bundle.pem` }]);
    // Every task definition waits for the RDS CA bundle to be in the bucket.
    expect(b.dependsOn.get(`aws:ecs/taskDefinition:TaskDefinition::${b.name}-app-streaming`)).toContain(`${b.name}-app-rds-ca`);
    expect(runner).toMatchObject({ command: ["/slug/slug-run", "/slug/slug.tgz", "web"], portMappings: [{ containerPort: 4000, protocol: "tcp" }] });
    expect(runner.image).toMatch(/\/docker\.io\/heroku\/heroku@sha256:/);
    expect((runner.environment ?? []).find((e) => e.name === "PORT")).toEqual({ name: "PORT", value: "4000" });
    // The task definition waits for the copy: it never points at a slug not yet in the bucket.
    expect(b.dependsOn.get(`aws:ecs/taskDefinition:TaskDefinition::${b.name}-app-streaming`)).toContain(`${b.name}-app-masto-streaming-slug`);
    expect(app(b, "sidekiq")).toMatchObject({ command: ["/slug/slug-run", "/slug/slug.tgz", "worker"], portMappings: [] });
  });

  it("config vars: every var of each Heroku app copied by a ferry step, leaving out what ferry sets and what moving add-ons own", async () => {
    const b = await build("staging", upTo("replicate"));
    const copy = one(b, "command:remote:Command", `${b.name}-app-masto-web-config`);
    const secretArn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:ferry/${b.name}/heroku-masto-web-AbCdEf`;
    // REDIS_TLS_URL belongs to the Redis add-on that moves: after its cutover it would point at Heroku.
    expect(plain(copy.inputs.create)).toBe(`ferry --json heroku config copy --app masto-web --secret-id ${secretArn} --region us-east-1 --exclude ADVISORY_LOCKS,DATABASE_URL,FERRY_BUCKET,LOCAL_DOMAIN,PREPARED_STATEMENTS,RAILS_ENV,REDIS_TLS_URL,REDIS_URL`);
    expect(Object.keys(plain(copy.inputs.environment) as object).sort()).toEqual(["FERRY_READ_EPOCH", "HEROKU_API_KEY"]);
    // No Pulumi-managed version: the values never pass through Pulumi's state.
    expect(ofType(b, "aws:secretsmanager/secretVersion:SecretVersion").map((v) => v.name)).toEqual([`${b.name}-app-config`]);
  });

  it("add-on vars: the plan lists each add-on's vars, left out when it moves, kept for the user to decide when it stays", async () => {
    const { listAddonVars, describeAddonVars } = await import("../../components/target/app/vars");
    const config = parseConfig(withFlags(withoutPooler(stackConfig("staging")), {}));
    const { FAKE_HEROKU } = await import("../program/stacks");
    const inventory = Object.entries(FAKE_HEROKU).map(([app, l]) => ({ app, addons: l.addons as never[], domains: l.domains as never[] }));
    const lines = listAddonVars(config.source as never, inventory).map(describeAddonVars);
    expect(lines).toEqual([
      "masto-web: DATABASE_URL (add-on postgresql-curved-12345, moving to AWS) not copied; ferry sets DATABASE_URL / REDIS_URL",
      "masto-web: REDIS_URL, REDIS_TLS_URL (add-on redis-rigid-67890, moving to AWS) not copied; ferry sets DATABASE_URL / REDIS_URL",
      "masto-web: PAPERTRAIL_API_TOKEN (add-on papertrail-flat-11111, papertrail, staying on Heroku) copied as they are: keep the add-on or replace it before decommission",
    ]);
  });

  it("deploy in sync: the source is read again on every up until cutover, then pinned (not run again inside the cutover's window)", async () => {
    const reads = (b: Built) => ["app-masto-web-release", "app-masto-web-config"].map((step) => `command:remote:Command::${b.name}-${step}`);
    const proxy = await build("staging", upTo("proxy", { trafficPercent: 10 }));
    for (const key of reads(proxy)) {
      const step = proxy.resources.find((r) => `${r.type}::${r.name}` === key)!;
      expect((plain(step.inputs.environment) as Record<string, string>).FERRY_READ_EPOCH).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(proxy.options.get(key)!.ignoreChanges).toBeUndefined();
    }
    const cutover = await build("staging", upTo("cutover", { trafficPercent: 100 }));
    for (const key of reads(cutover)) expect(cutover.options.get(key)!.ignoreChanges).toEqual(["environment"]);
  });
});

describe("the runner's permissions for the app plane's steps", () => {
  it("prod (EC2 runner): one policy on the runner's role, exactly the steps' calls, on resource ARNs, never *", async () => {
    const b = await build("prod");
    const role = one(b, "aws:iam/role:Role", `${b.name}-runner-role`);
    expect(JSON.parse(String(role.inputs.assumeRolePolicy)).Statement[0].Principal).toEqual({ Service: "ec2.amazonaws.com" });
    // The instance gets the role through its instance profile (the profile's name is only known once created).
    expect(one(b, "aws:iam/instanceProfile:InstanceProfile", `${b.name}-runner-profile`).inputs.role).toBe(role.name);
    const policy = JSON.parse(String(plain(one(b, "aws:iam/rolePolicy:RolePolicy", `${b.name}-app-runner`).inputs.policy))) as { Statement: Array<{ Action: string[]; Resource: string | string[] }> };
    const actions = policy.Statement.flatMap((s) => s.Action).sort();
    expect(actions).toEqual(["ecs:DescribeTasks", "ecs:RunTask", "ecs:StopTask", "iam:PassRole", "s3:GetObject", "s3:PutObject", "s3:PutObject", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]);
    const resources = policy.Statement.flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
    expect(resources).not.toContain("*");
    expect(resources.filter((r) => r.startsWith("arn:aws:s3:::")).map((r) => r.replace(/^arn:aws:s3:::[^/]+/, ""))).toEqual(["/slugs/*", "/certs/rds-global-bundle.pem", "/final-backup/*"]);
    // The app steps wait for the grant: a step before it would run without permission.
    for (const step of ["box-config", "image-release-phase"]) expect(b.dependsOn.get(`command:remote:Command::${b.name}-app-${step}`) ?? [], step).toContain(`${b.name}-app-runner`);
  });

  it("staging (EC2 runner, for Heroku sources too): the same grant for its steps", async () => {
    const b = await build("staging");
    const policy = JSON.parse(String(plain(one(b, "aws:iam/rolePolicy:RolePolicy", `${b.name}-app-runner`).inputs.policy))) as { Statement: Array<{ Action: string[] }> };
    expect(policy.Statement.flatMap((s) => s.Action).sort()).toEqual(["ecs:DescribeTasks", "ecs:RunTask", "ecs:StopTask", "iam:PassRole", "s3:GetObject", "s3:PutObject", "s3:PutObject", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]);
  });
});
