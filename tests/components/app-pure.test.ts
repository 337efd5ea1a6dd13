// The app plane's pure pieces, without Pulumi: dyno sizes against Fargate's table,
// schedule expressions, the per-process plan (with every error naming its key), the
// container definitions (config vars only as secrets) and the step command lines.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { DYNO_SIZES } from "../../config/schema";
import { DYNO_TASK_SIZES, fargateMemoryChoices, isFargateSize, taskSize } from "../../components/target/app/sizes";
import { scheduleExpression } from "../../components/target/app/schedule";
import { planApp } from "../../components/target/app/plan";
import { containerDefinitions, secretRefs } from "../../components/target/app/containers";
import { checkStack, parseCurrentRelease, releaseRead, runTaskCommand, slugCopyCommand } from "../../components/target/app/steps";
import { serviceOptions } from "../../components/target/compute";
import { stackConfig, withFlags } from "../program/stacks";

const staging = () => parseConfig(withFlags(stackConfig("staging"), {}));
const prod = () => parseConfig(withFlags(stackConfig("prod"), {}));

describe("dyno sizes and Fargate sizes", () => {
  it("maps every dyno size to a documented Fargate combination with at least the dyno's memory", () => {
    // Dyno memory (MiB) per help.heroku.com "How can I determine the memory limit of a dyno?".
    const dynoMemory: Record<string, number> = { eco: 512, basic: 512, "standard-1X": 512, "standard-2X": 1024, "performance-M": 2560, "performance-L": 14336, "performance-L-RAM": 30720, "private-S": 1024, "private-M": 2560, "private-L": 14336, "shield-S": 1024, "shield-M": 2560, "shield-L": 14336 };
    for (const size of DYNO_SIZES) {
      const task = DYNO_TASK_SIZES[size];
      expect(isFargateSize(task), size).toBe(true);
      expect(task.memory, size).toBeGreaterThanOrEqual(dynoMemory[size]);
    }
  });

  it("knows Fargate's table at its edges", () => {
    expect(fargateMemoryChoices(256)).toEqual([512, 1024, 2048]);
    expect(fargateMemoryChoices(1024)).toEqual([2048, 3072, 4096, 5120, 6144, 7168, 8192]);
    expect(fargateMemoryChoices(8192)[0]).toBe(16384);
    expect(fargateMemoryChoices(8192).at(-1)).toBe(61440);
    expect(fargateMemoryChoices(16384).at(-1)).toBe(122880);
    expect(isFargateSize({ cpu: 256, memory: 4096 })).toBe(false);
    expect(isFargateSize({ cpu: 8192, memory: 18432 })).toBe(false);
    expect(isFargateSize({ cpu: 300, memory: 512 })).toBe(false);
  });

  it("refuses an undocumented cpu/memory pair, or half of one, naming the key", () => {
    expect(() => taskSize({ size: "basic", cpu: 256, memory: 4096 }, "ferry:target.compute.processes.web.cpu")).toThrow(
      "ferry:target.compute.processes.web.cpu: Fargate has no 256 CPU / 4096 MiB size; with cpu 256 memory may be 512, 1024, 2048",
    );
    expect(() => taskSize({ size: "basic", cpu: 1024 }, "k")).toThrow("k: give both cpu and memory (or neither, to size from `size`)");
    expect(taskSize({ size: "performance-M" }, "k")).toEqual({ cpu: 1024, memory: 3072 });
  });
});

describe("scheduleExpression", () => {
  it("turns Heroku Scheduler's frequencies into EventBridge expressions", () => {
    expect(scheduleExpression("every 10 minutes", "k")).toBe("rate(10 minutes)");
    expect(scheduleExpression("hourly at :05", "k")).toBe("cron(5 * * * ? *)");
    expect(scheduleExpression("daily at 03:30", "k")).toBe("cron(30 3 * * ? *)");
  });

  it("passes valid EventBridge expressions and refuses what the Scheduler API refuses", () => {
    expect(scheduleExpression("rate(1 hour)", "k")).toBe("rate(1 hour)");
    expect(scheduleExpression("cron(0 12 ? * MON-FRI *)", "k")).toBe("cron(0 12 ? * MON-FRI *)");
    expect(() => scheduleExpression("rate(1 hours)", "k")).toThrow(/singular for 1/);
    expect(() => scheduleExpression("rate(5 minute)", "k")).toThrow(/plural otherwise/);
    expect(() => scheduleExpression("cron(0 12 * * *)", "k")).toThrow("k: a cron expression has six fields (minutes hours day-of-month month day-of-week year), got 5");
    expect(() => scheduleExpression("cron(0 12 * * MON *)", "k")).toThrow(/exactly one of day-of-month and day-of-week must be "\?"/);
    expect(() => scheduleExpression("daily at 25:00", "ferry:target.compute.schedules[0].schedule")).toThrow(/^ferry:target\.compute\.schedules\[0\]\.schedule: expected/);
  });
});

describe("planApp", () => {
  it("staging: each process from its Heroku app's slug, counts from the formation, sizes from the dyno size", () => {
    const plan = planApp(staging());
    expect(plan.processes.map((p) => [p.name, p.code, p.count, p.size, p.envSource])).toEqual([
      ["web", { kind: "slug", app: "masto-web", type: "web" }, 2, { cpu: 512, memory: 1024 }, "masto-web"],
      ["streaming", { kind: "slug", app: "masto-streaming", type: "web" }, 1, { cpu: 256, memory: 512 }, "masto-streaming"],
      ["sidekiq", { kind: "slug", app: "masto-web", type: "worker" }, 1, { cpu: 512, memory: 1024 }, "masto-web"],
    ]);
    expect(plan.slugApps).toEqual(["masto-web", "masto-streaming"]);
    expect(plan.releases.map((r) => (r.kind === "slug" ? r.app : r.command))).toEqual(["masto-web", "masto-streaming"]);
    expect(plan.schedules.map((s) => [s.name, s.expression, s.process.name])).toEqual([
      ["media-cleanup", "cron(30 3 * * ? *)", "sidekiq"],
      ["refresh-trends", "rate(10 minutes)", "web"],
    ]);
  });

  it("prod: images, an explicit release command, a schedule in a time zone", () => {
    const plan = planApp(prod());
    expect(plan.processes.map((p) => p.code.kind)).toEqual(["image", "image", "image"]);
    expect(plan.slugApps).toEqual([]);
    expect(plan.releases).toEqual([{ kind: "image", process: plan.processes[0], command: "bundle exec rails db:migrate" }]);
    expect(plan.schedules[0]).toMatchObject({ expression: "cron(30 3 * * ? *)", timezone: "Europe/Berlin" });
  });

  const fails = (config: ReturnType<typeof staging>, message: string) => expect(() => planApp(config)).toThrow(message);

  it("names the key of each mistake", () => {
    const c1 = staging();
    c1.target.compute.processes.sidekiq.from = { app: "masto-api", type: "worker" };
    fails(c1, 'ferry:target.compute.processes.sidekiq.from.app: "masto-api" is not in ferry:source.apps (masto-web, masto-streaming)');
    const c2 = staging();
    c2.target.compute.processes.sidekiq.from = { app: "masto-web", type: "clock" };
    fails(c2, 'ferry:target.compute.processes.sidekiq.from.type: Heroku app masto-web has no process type "clock" in ferry:source (it has web, worker); set from: {app, type}');
    const c3 = prod();
    delete c3.target.compute.processes.web.image;
    fails(c3, "ferry:target.compute.processes.web.image: required for a vultr source (the box's app has no slug)");
    const c4 = prod();
    c4.target.compute.schedules[0].process = "clock";
    fails(c4, 'ferry:target.compute.schedules[0].process: "clock" is not in ferry:target.compute.processes (web, streaming, sidekiq)');
    const c5 = staging();
    c5.target.compute.release = { process: "web", command: "rake db:migrate" };
    fails(c5, "ferry:target.compute.release: web runs a Heroku slug, whose release phase is the Procfile's `release`");
    const c6 = prod();
    c6.target.compute.processes.web.count = 9;
    fails(c6, "ferry:target.compute.processes.web.autoscaling: count 9 must lie within min 2 and max 8");
    const c7 = prod();
    c7.target.compute.schedules[1].name = c7.target.compute.schedules[0].name;
    fails(c7, 'ferry:target.compute.schedules: the name "media-remove" is used twice');
  });

  it("the config schema names bad compute keys", () => {
    const raw = stackConfig("staging");
    const target = JSON.parse(raw["ferry:target"]);
    target.compute.processes.web.size = "standard-3X";
    expect(() => parseConfig({ ...raw, "ferry:target": JSON.stringify(target) })).toThrow(/ferry:target\.compute\.processes\.web\.size: allowed dyno sizes: eco, basic/);
    target.compute.processes.web.size = "standard-2X";
    target.compute.processes.web.ami = "ami-0123456789abcdef0";
    expect(() => parseConfig({ ...raw, "ferry:target": JSON.stringify(target) })).toThrow(/ferry:target\.compute\.processes\.web.*ami/);
  });
});

describe("containerDefinitions", () => {
  const secrets = secretRefs(["REDIS_URL", "DATABASE_URL"], "arn:aws:secretsmanager:us-east-1:1:secret:cfg-AbC", "v1");
  const logs = { group: "/ferry/x/web", region: "us-east-1", streamPrefix: "web" };

  it("a slug process: fetch container first (SUCCESS), then slug-run on the stack image; config vars only as secrets", () => {
    const defs = containerDefinitions({
      kind: "slug", stackImage: "heroku/heroku:24", fetchImage: "public.ecr.aws/aws-cli/aws-cli:2", slugUrl: "s3://b/slugs/a/1.tgz", rdsCaUrl: "s3://b/certs/rds-global-bundle.pem",
      processType: "web", slugRun: "#!/bin/sh\n", secrets, port: 3000, logs, dataGeneration: "postgres=source", labels: {},
    });
    expect(defs.map((d) => [d.name, d.essential])).toEqual([["slug-fetch", false], ["app", true]]);
    const app = defs[1];
    expect(app).toMatchObject({
      image: "heroku/heroku:24",
      entryPoint: ["/bin/bash"],
      command: ["/slug/slug-run", "/slug/slug.tgz", "web"],
      dependsOn: [{ containerName: "slug-fetch", condition: "SUCCESS" }],
      portMappings: [{ containerPort: 3000, protocol: "tcp" }],
      secrets: [
        { name: "DATABASE_URL", valueFrom: "arn:aws:secretsmanager:us-east-1:1:secret:cfg-AbC:DATABASE_URL::v1" },
        { name: "REDIS_URL", valueFrom: "arn:aws:secretsmanager:us-east-1:1:secret:cfg-AbC:REDIS_URL::v1" },
      ],
    });
    expect((app.environment as { name: string }[]).map((e) => e.name)).toEqual(["APP_DIR", "PORT", "FERRY_DATA_GENERATION"]);
    expect(defs[0].environment).toEqual([{ name: "SLUG_URL", value: "s3://b/slugs/a/1.tgz" }, { name: "SLUG_RUN", value: "#!/bin/sh\n" }, { name: "RDS_CA_URL", value: "s3://b/certs/rds-global-bundle.pem" }]);
    // The RDS CA bundle: fetched with the slug into its own volume, read-only where the app's DATABASE_URL names it.
    expect(String((defs[0].command as string[])[0])).toContain('aws s3 cp --only-show-errors "$RDS_CA_URL" /etc/ferry/rds-global-bundle.pem');
    expect(defs[0].mountPoints).toContainEqual({ sourceVolume: "rds-ca", containerPath: "/etc/ferry", readOnly: false });
    expect(app.mountPoints).toContainEqual({ sourceVolume: "rds-ca", containerPath: "/etc/ferry", readOnly: true });
  });

  it("an image process: the command through /bin/sh -c, PORT default 5000 for a worker, after an init container put the RDS CA bundle in place", () => {
    const [init, app] = containerDefinitions({ kind: "image", image: "ghcr.io/mastodon/mastodon:v4.3.0", command: "bundle exec sidekiq", secrets, logs, dataGeneration: "g", labels: {}, fetchImage: "public.ecr.aws/aws-cli/aws-cli:2", rdsCaUrl: "s3://b/certs/rds-global-bundle.pem" });
    expect(app).toMatchObject({ name: "app", command: ["/bin/sh", "-c", "bundle exec sidekiq"], portMappings: [], environment: [{ name: "PORT", value: "5000" }, { name: "FERRY_DATA_GENERATION", value: "g" }] });
    expect(init).toMatchObject({ name: "ca-fetch", image: "public.ecr.aws/aws-cli/aws-cli:2", essential: false, environment: [{ name: "RDS_CA_URL", value: "s3://b/certs/rds-global-bundle.pem" }], mountPoints: [{ sourceVolume: "rds-ca", containerPath: "/etc/ferry", readOnly: false }] });
    expect(app).toMatchObject({ dependsOn: [{ containerName: "ca-fetch", condition: "SUCCESS" }], mountPoints: [{ sourceVolume: "rds-ca", containerPath: "/etc/ferry", readOnly: true }] });
  });
});

describe("steps", () => {
  const release = JSON.stringify({ app: "masto-web", version: 42, slugId: "s-1", stack: "heroku-24", processTypes: { web: "puma" }, commit: "abc" });

  it("parses the release read and checks the stack against the stack image", () => {
    expect(releaseRead("masto-web")).toBe("ferry --json heroku release --app masto-web");
    const r = parseCurrentRelease(release, "masto-web");
    expect(r).toEqual({ app: "masto-web", version: 42, slugId: "s-1", stack: "heroku-24", processTypes: { web: "puma" }, commit: "abc" });
    expect(() => checkStack(r, "heroku/heroku:24")).not.toThrow();
    expect(() => checkStack(r, "heroku/heroku:22")).toThrow("ferry:target.compute.stackImage: heroku/heroku:22 does not match masto-web's stack heroku-24; use heroku/heroku:24");
    expect(() => checkStack({ ...r, stack: "cedar-14" }, "heroku/heroku:24")).toThrow(/on stack cedar-14: ferry runs slugs of heroku-NN stacks only/);
    expect(() => parseCurrentRelease(release, "other")).toThrow(/printed no release/);
    expect(() => parseCurrentRelease("oops", "masto-web")).toThrow(/did not print JSON/);
  });

  it("the slug copy verifies through ferry and uploads; no secret in the string", () => {
    const cmd = slugCopyCommand("masto-web", "s-1", "bucket-1", "us-east-1");
    expect(cmd).toContain("ferry --json heroku slug --app masto-web --slug s-1 --out slug.tgz");
    expect(cmd).toContain("aws s3 cp --only-show-errors --region us-east-1 slug.tgz s3://bucket-1/slugs/masto-web/s-1.tgz");
    expect(cmd).not.toMatch(/HEROKU_API_KEY=/);
  });

  it("autoscaled services leave desiredCount to the scaler", () => {
    const parent = undefined as unknown as import("@pulumi/pulumi").Resource;
    expect(serviceOptions({ autoscaling: { min: 1, max: 3, cpuPercent: 60 } }, [], parent).ignoreChanges).toEqual(["desiredCount"]);
    expect(serviceOptions({}, [], parent).ignoreChanges).toBeUndefined();
  });

  it("the release task command fails unless the app container exited 0", () => {
    const cmd = runTaskCommand({ region: "us-east-1", cluster: "arn:c", taskDefinition: "arn:td:3", subnets: ["subnet-1", "subnet-2"], securityGroups: ["sg-1"], what: "release phase of masto-web v42" });
    expect(cmd).toContain("run-task --cluster arn:c --task-definition arn:td:3 --launch-type FARGATE");
    expect(cmd).toContain("awsvpcConfiguration={subnets=[subnet-1,subnet-2],securityGroups=[sg-1],assignPublicIp=DISABLED}");
    expect(cmd).toContain(`if [ "$code" != 0 ]`);
    expect(cmd).toContain("still running after 2 hours; stopping it");
    expect(cmd).toContain("-ge 3600 ]");
    expect(cmd).toContain("sleep 2; done");
  });
});
