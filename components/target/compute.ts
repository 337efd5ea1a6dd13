// The app on AWS: one ECS Fargate service per process type, as Flightcontrol, SST and
// ECS Express Mode run Heroku-style apps. Each process runs either the Heroku app's
// current slug on the matching stack image (copied into the stack's bucket first: Heroku
// deletes old slugs) or an image. Every config var reaches the task as a secret (one
// Secrets Manager secret, JSON keys, pinned by version), never as plain environment.
// A release phase runs as a one-off task before the services take a new release;
// scheduled jobs are EventBridge Scheduler schedules that run one-off tasks; logs go to
// CloudWatch. The pieces are plain functions in ./app (plan, sizes, containers, steps).
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { FerryConfig } from "../../config";
import { atLeast, componentStage } from "../../config";
import { FINAL_BACKUP_PREFIX } from "../../dataplane/cli/contract";
import type { Runner } from "../runner";
import type { HerokuAppInventory } from "../source/heroku";
import { AppPlan, BOX_ENV, planApp, ProcessPlan, ReleasePlan } from "./app/plan";
import { APP_CONTAINER, containerDefinitions, ContainerSpec, SecretRef, secretRefs, taskVolumes } from "./app/containers";
import { RDS_CA_KEY, rdsCaCopyCommand } from "./app/rds-ca";
import { POOLER_CA_KEY } from "./pooler/plan";
import { boxConfigCopyCommand, checkStack, configCopyCommand, CopiedVars, CurrentRelease, parseCopiedVars, parseCurrentRelease, releaseRead, runTaskCommand, slugCopyCommand, slugKey, UNREAD } from "./app/steps";
import { addonVars, AddonVars } from "./app/vars";
import { TaskSize } from "./app/sizes";

export interface ComputeArgs {
  config: Pick<FerryConfig, "source" | "target" | "stages">;
  region: string;
  subnetIds: pulumi.Input<string>[];
  securityGroupId: pulumi.Input<string>;
  targetGroups: Record<string, aws.lb.TargetGroup>;
  /** The config vars ferry sets (DATABASE_URL, REDIS_URL, FERRY_BUCKET, compute.env): secret, stored in Secrets Manager. */
  env: pulumi.Input<Record<string, string>>;
  /** The stack's bucket: slugs are copied under `slugs/`, the app may read and write under `assets/`. */
  bucketName: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  /** The config vars change only after these succeed (the data-plane cutover gates). */
  after: pulumi.Resource[];
  /**
   * Whether the schedules run (the source's own jobs were switched off: scheduled jobs run
   * on exactly one side), and what their switch-on waits for. Disabled until then.
   */
  schedules?: { enabled: boolean; after: pulumi.Resource[] };
  /** Non-secret marker of where the data lives; a change rolls every service. */
  dataGeneration: string;
  parameterPrefix: string;
  /** Where the Heroku reads, the slug copy and the release phase run. */
  runner: Runner;
  /** Public image reference -> its copy in the stack's ECR (components/target/images.ts): what the tasks pull. */
  images: pulumi.Output<Record<string, string>>;
  herokuApiKey?: pulumi.Input<string>;
  /** A box source: where to read the app's env file over SSH (`compute.boxEnvFile`). */
  box?: { address: pulumi.Input<string>; user: string; port: number; hostKey: string; sshPrivateKey?: pulumi.Input<string> };
  /** What Heroku lists for each app (add-ons and the config vars they own): which vars the copy leaves out. */
  herokuInventory?: pulumi.Output<HerokuAppInventory[]>;
  /** A token of this `pulumi up` (default: one per program run); a new one reads the source again. */
  readEpoch?: string;
  /** The Postgres pooler the app reaches its database through: its CA certificate in the bucket, and the step that put it there. */
  pooler?: { caUrl: pulumi.Output<string>; ready: pulumi.Resource };
  tags: Record<string, string>;
}

/** bin/slug-run, shipped to each slug task by its fetch container. */
export const SLUG_RUN = readFileSync(join(__dirname, "..", "..", "bin", "slug-run"), "utf8");

/**
 * Changes on every program run: until the app is cut over, each `pulumi up` re-reads
 * the Heroku app's current release, so a deploy made on Heroku during the move reaches
 * AWS too. One value per run, so every stack built in one process (the stage plan) agrees.
 */
const READ_EPOCH = new Date().toISOString();

/**
 * Options of a step that reads the source on every up until cutover (READ_EPOCH in its
 * environment changes each run), then keeps its last result: from cutover on the new
 * epoch is ignored, so the step does not run again (inside the cutover's write window).
 */
function readEveryUpUntil(pinned: boolean, opts: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
  return pinned ? { ...opts, ignoreChanges: ["environment"] } : opts;
}

/**
 * Steps whose output the program does not read (the slug copy, the release phase) keep it
 * as a secret output: it holds what the AWS CLI and the app's release said, which Pulumi
 * would otherwise store and show in the clear. The reads the program parses print names only.
 */
const OUTPUT_UNREAD: pulumi.CustomResourceOptions = { additionalSecretOutputs: ["stdout", "stderr"] };

/** Resource options of a service: with autoscaling, the scaler owns desiredCount. */
export function serviceOptions(process: Pick<ProcessPlan, "autoscaling">, dependsOn: pulumi.Resource[], parent: pulumi.Resource): pulumi.CustomResourceOptions {
  return { parent, dependsOn, ...(process.autoscaling ? { ignoreChanges: ["desiredCount"] } : {}) };
}

const assumeRole = (service: string) => JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }],
});

export class Compute extends pulumi.ComponentResource {
  readonly plan: AppPlan;
  readonly cluster: aws.ecs.Cluster;
  readonly services: Record<string, aws.ecs.Service> = {};
  readonly taskDefinitions: Record<string, aws.ecs.TaskDefinition> = {};
  readonly configSecret: aws.secretsmanager.Secret;
  readonly configVersion: aws.secretsmanager.SecretVersion;
  /** Per Heroku app: the release the services run (read at each `pulumi up` until cutover). */
  readonly releases: Record<string, pulumi.Output<CurrentRelease>> = {};
  /** Per release plan (Heroku app, or `image`): the step that runs the release phase. */
  readonly releaseSteps: Record<string, pulumi.CustomResource> = {};
  readonly schedules: Record<string, aws.scheduler.Schedule> = {};
  /** Per Heroku app (or BOX_ENV for a box): the secret its config vars are copied into, and what the copy wrote (names, version). */
  readonly herokuVars: Record<string, { secret: aws.secretsmanager.Secret; copied: pulumi.Output<CopiedVars> }> = {};
  /** Add-on-owned vars per app: left out (their add-on moves, ferry sets the replacement) or copied for the user to decide. */
  readonly addonVars?: pulumi.Output<AddonVars[]>;

  private readonly args: ComputeArgs;
  private readonly executionRole: aws.iam.Role;
  private readonly taskRole: aws.iam.Role;
  private readonly logGroups: Record<string, aws.cloudwatch.LogGroup> = {};
  private readonly slugCopies: Record<string, pulumi.CustomResource> = {};
  private readonly secretRefs: pulumi.Output<SecretRef[]>;
  private readonly ferryNames: pulumi.Output<string[]>;
  /** What the app plane's steps wait for: the data plane's gates and the runner's permissions. */
  private stepsAfter: pulumi.Resource[] = [];
  /** The step that puts the RDS CA bundle in the bucket, where every task copies it from. */
  private rdsCa!: pulumi.CustomResource;
  private readonly readEpoch: string;

  constructor(name: string, args: ComputeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Compute", name, {}, opts);
    this.args = args;
    this.readEpoch = args.readEpoch ?? READ_EPOCH;
    this.plan = planApp(args.config);
    const child = { parent: this };
    const compute = args.config.target.compute;

    this.cluster = new aws.ecs.Cluster(`${name}-cluster`, {
      settings: [{ name: "containerInsights", value: "enabled" }],
      tags: args.tags,
    }, child);

    // One secret holds every config var as a JSON key; a new value is a new version, and
    // task definitions pin the version, so a change rolls the services and a rollback
    // restores exactly the old values.
    this.configSecret = new aws.secretsmanager.Secret(`${name}-config`, {
      namePrefix: `${args.parameterPrefix.replace(/^\//, "")}/app-config-`,
      description: "ferry: the app's config vars (DATABASE_URL, REDIS_URL, ...), read by ECS as task secrets",
      recoveryWindowInDays: 7,
      tags: args.tags,
    }, child);
    this.configVersion = new aws.secretsmanager.SecretVersion(`${name}-config`, {
      secretId: this.configSecret.id,
      secretString: pulumi.secret(pulumi.output(args.env).apply((env) => JSON.stringify(env))),
    }, { parent: this, dependsOn: args.after });
    // Names are not secret: the container definitions list them in the clear.
    this.ferryNames = pulumi.unsecret(pulumi.output(args.env).apply((env) => Object.keys(env)));
    this.secretRefs = pulumi.all([this.ferryNames, this.configSecret.arn, this.configVersion.versionId]).apply(([n, arn, version]) => secretRefs(n, arn, version));

    this.stepsAfter = [...args.after, ...this.grantRunner(name)];
    const herokuApps = [...new Set(this.plan.processes.map((p) => p.envSource).filter((s) => s !== BOX_ENV))];
    if (herokuApps.length > 0 && args.config.source.kind === "heroku") {
      this.addonVars = addonVars(args.config.source, args.herokuInventory);
      for (const app of herokuApps) this.copyHerokuVars(name, app);
    }
    const boxEnvFile = args.config.target.compute.boxEnvFile;
    if (boxEnvFile) {
      if (args.config.source.kind === "heroku") throw new Error("ferry:target.compute.boxEnvFile: only for a box source; a Heroku app's config vars are copied from Heroku");
      this.copyBoxVars(name, boxEnvFile);
    }
    const secretArns = [this.configSecret.arn, ...Object.values(this.herokuVars).map((v) => v.secret.arn)];
    this.executionRole = this.role(`${name}-execution`, "ecs-tasks.amazonaws.com", pulumi.all(secretArns).apply((secrets) => ({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: secrets }],
    })));
    new aws.iam.RolePolicyAttachment(`${name}-execution`, {
      role: this.executionRole.name,
      policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    }, child);
    this.taskRole = this.role(`${name}-task`, "ecs-tasks.amazonaws.com", pulumi.output(args.bucketArn).apply((bucket) => ({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${bucket}/slugs/*`, `${bucket}/${RDS_CA_KEY}`, ...(args.pooler ? [`${bucket}/${POOLER_CA_KEY}`] : [])] },
        { Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource: `${bucket}/assets/*` },
      ],
    })));

    for (const process of this.plan.processes) {
      this.logGroups[process.name] = new aws.cloudwatch.LogGroup(`${name}-${process.name}`, {
        name: `${args.parameterPrefix}/${process.name}`,
        retentionInDays: compute.logRetentionDays,
        tags: args.tags,
      }, child);
    }
    this.copyRdsCa(name);
    for (const app of this.plan.slugApps) this.readAndCopySlug(name, app);
    for (const release of this.plan.releases) this.releasePhase(name, release);
    for (const process of this.plan.processes) this.service(name, process);
    if (this.plan.schedules.length > 0) this.scheduledJobs(name);

    this.registerOutputs({
      cluster: this.cluster.name,
      addonVars: this.addonVars,
      releases: Object.fromEntries(Object.entries(this.releases).map(([app, r]) => [app, r.apply((x) => ({ version: x.version, slugId: x.slugId, commit: x.commit }))])),
    });
  }

  /**
   * What the app plane's steps call from an EC2 runner, and nothing else (least privilege,
   * resource ARNs wherever the API has resource-level permissions; the Service Authorization
   * Reference lists them: https://docs.aws.amazon.com/service-authorization/latest/reference/):
   * the slug copy's s3:PutObject under slugs/, the config copies' PutSecretValue on the
   * secrets they write, the release phase's RunTask of this stack's task definitions in its
   * cluster, DescribeTasks / StopTask of the cluster's tasks, and PassRole of the two task
   * roles to ECS, and the final backups' upload and read-back under final-backup/
   * (migrations/decommission.ts runs them on this runner). That last grant exists from the
   * first up, not from decommission: a policy changed in the same up as the step that
   * needs it may not be in force yet (IAM is eventually consistent), and a stack that
   * lowers ferry:decommission keeps what its backups did allowed. Names are matched by the prefixes the program gives them, so the grant
   * exists before the secrets and task definitions it covers (no cycle with the steps).
   */
  private grantRunner(name: string): pulumi.Resource[] {
    const role = this.args.runner.role;
    if (!role) return [];
    const { args } = this;
    const prefix = args.parameterPrefix.replace(/^\//, "");
    const at = (service: string) => `arn:aws:${service}:${args.region}:*`;
    const policy = pulumi.all([args.bucketArn, this.cluster.arn, this.cluster.name]).apply(([bucket, cluster, clusterName]) => JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Sid: "SlugCopy", Effect: "Allow", Action: ["s3:PutObject"], Resource: [`${bucket}/slugs/*`, `${bucket}/${RDS_CA_KEY}`] },
        { Sid: "ConfigCopy", Effect: "Allow", Action: ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], Resource: [`${at("secretsmanager")}:secret:${prefix}/heroku-*`, `${at("secretsmanager")}:secret:${prefix}/box-env-*`] },
        { Sid: "ReleasePhaseRun", Effect: "Allow", Action: ["ecs:RunTask"], Resource: `${at("ecs")}:task-definition/${name}-*:*`, Condition: { ArnEquals: { "ecs:cluster": cluster } } },
        { Sid: "ReleasePhaseWatch", Effect: "Allow", Action: ["ecs:DescribeTasks", "ecs:StopTask"], Resource: `${at("ecs")}:task/${clusterName}/*` },
        { Sid: "FinalBackup", Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject"], Resource: `${bucket}/${FINAL_BACKUP_PREFIX}*` },
        { Sid: "ReleasePhaseRoles", Effect: "Allow", Action: ["iam:PassRole"], Resource: [`arn:aws:iam::*:role/${name}-execution-*`, `arn:aws:iam::*:role/${name}-task-*`], Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } } },
      ],
    }));
    return [new aws.iam.RolePolicy(`${name}-runner`, { role: role.id, policy }, { parent: this })];
  }

  private role(name: string, service: string, policy: pulumi.Input<object>): aws.iam.Role {
    const role = new aws.iam.Role(name, { assumeRolePolicy: assumeRole(service), tags: this.args.tags }, { parent: this });
    new aws.iam.RolePolicy(name, { role: role.id, policy: pulumi.output(policy).apply((p) => JSON.stringify(p)) }, { parent: this });
    return role;
  }

  /**
   * Copy every config var of a Heroku app into its own secret (a ferry step: the values
   * go from Heroku to Secrets Manager through the AWS CLI's stdin, never through Pulumi's
   * state), leaving out the vars ferry sets and those of add-ons that move. Read again on
   * every up until cutover, like the release.
   */
  private copyHerokuVars(name: string, app: string): void {
    const { args } = this;
    if (!args.herokuApiKey) throw new Error("ferry:herokuApiKey: required to copy the Heroku apps' config vars");
    const secret = new aws.secretsmanager.Secret(`${name}-${app}-vars`, {
      namePrefix: `${args.parameterPrefix.replace(/^\//, "")}/heroku-${app}-`,
      description: `ferry: every config var of Heroku app ${app}, copied by \`ferry heroku config copy\``,
      recoveryWindowInDays: 7,
      tags: args.tags,
    }, { parent: this });
    const leftOut = (this.addonVars ?? pulumi.output([] as AddonVars[])).apply((all) => all.filter((v) => v.app === app && v.moving).flatMap((v) => v.vars));
    const exclude = pulumi.all([this.ferryNames, leftOut]).apply(([ferry, moving]) => [...new Set([...ferry, ...moving])].sort());
    const followHeroku = !atLeast(componentStage("app", args.config.stages), "cutover");
    const step = args.runner.run(`${name}-${app}-config`, {
      create: pulumi.all([secret.arn, exclude]).apply(([arn, ex]) => configCopyCommand(app, arn, args.region, ex)),
      environment: { HEROKU_API_KEY: pulumi.secret(args.herokuApiKey), FERRY_READ_EPOCH: this.readEpoch },
      triggers: [app, secret.arn],
    }, readEveryUpUntil(!followHeroku, { parent: this, dependsOn: this.stepsAfter }));
    const copied = stdoutOf(step).apply((stdout) => (stdout === undefined ? { names: [], versionId: UNREAD } : parseCopiedVars(stdout, app)));
    this.herokuVars[app] = { secret, copied };
  }

  /** The box's env file into its own secret, over SSH (`ferry box config copy`), like a Heroku app's vars. */
  private copyBoxVars(name: string, envFile: string): void {
    const { args } = this;
    if (!args.box?.sshPrivateKey) throw new Error("ferry:sshPrivateKey: required to read ferry:target.compute.boxEnvFile over SSH");
    const box = args.box;
    const secret = new aws.secretsmanager.Secret(`${name}-box-vars`, {
      namePrefix: `${args.parameterPrefix.replace(/^\//, "")}/box-env-`,
      description: `ferry: the box's ${envFile}, copied by \`ferry box config copy\``,
      recoveryWindowInDays: 7,
      tags: args.tags,
    }, { parent: this });
    const followBox = !atLeast(componentStage("app", args.config.stages), "cutover");
    const step = args.runner.run(`${name}-box-config`, {
      create: pulumi.all([secret.arn, box.address, this.ferryNames]).apply(([arn, host, ferry]) =>
        boxConfigCopyCommand({ host: `${box.user}@${host}:${box.port}`, hostKey: box.hostKey, envFile, secretArn: arn, region: args.region, exclude: [...ferry].sort() })),
      environment: { FERRY_SSH_KEY: pulumi.secret(box.sshPrivateKey!), FERRY_READ_EPOCH: this.readEpoch },
      triggers: [envFile, secret.arn],
    }, readEveryUpUntil(!followBox, { parent: this, dependsOn: this.stepsAfter }));
    const copied = stdoutOf(step).apply((stdout) => (stdout === undefined ? { names: [], versionId: UNREAD } : parseCopiedVars(stdout, undefined)));
    this.herokuVars[BOX_ENV] = { secret, copied };
  }

  /** The secrets of a process: ferry's own vars, then the Heroku app's (or box's) copied vars ferry does not set. */
  private secretsFor(process: ProcessPlan): pulumi.Output<SecretRef[]> {
    const heroku = this.herokuVars[process.envSource];
    if (!heroku) return this.secretRefs;
    return pulumi.all([this.secretRefs, this.ferryNames, heroku.copied, heroku.secret.arn]).apply(([own, ferry, copied, arn]) =>
      [...own, ...secretRefs(copied.names.filter((n) => !ferry.includes(n)), arn, copied.versionId)].sort((a, b) => a.name.localeCompare(b.name)),
    );
  }

  /**
   * Amazon's RDS CA bundle into the bucket (certs/), once: every task copies it into place
   * before the app starts, and the app's DATABASE_URL names it (./app/rds-ca.ts).
   */
  private copyRdsCa(name: string): void {
    const { args } = this;
    this.rdsCa = args.runner.run(`${name}-rds-ca`, {
      create: pulumi.output(args.bucketName).apply((bucket) => rdsCaCopyCommand(bucket, args.region)),
      triggers: [args.bucketName],
    }, { parent: this, dependsOn: this.stepsAfter, ...OUTPUT_UNREAD });
  }

  /** Read the app's current release, then copy its slug into the bucket (once per slug). */
  private readAndCopySlug(name: string, app: string): void {
    const { args } = this;
    if (!args.herokuApiKey) throw new Error("ferry:herokuApiKey: required to read the Heroku apps' releases");
    const environment = { HEROKU_API_KEY: pulumi.secret(args.herokuApiKey) };
    const followHeroku = !atLeast(componentStage("app", args.config.stages), "cutover");
    const read = args.runner.run(`${name}-${app}-release`, {
      create: releaseRead(app),
      // Until cutover a new token each run makes the read run again (an update, never a
      // replace); from cutover on the app stays on the last release read.
      environment: { ...environment, FERRY_READ_EPOCH: this.readEpoch },
      triggers: [app],
    }, readEveryUpUntil(!followHeroku, { parent: this, dependsOn: this.stepsAfter }));
    this.releases[app] = stdoutOf(read).apply((stdout) => {
      // A run step always has a stdout; only a program run with no provider behind it (the
      // stage-plan tool's mocks) has none: it plans with a release named as unread.
      if (stdout === undefined) return unreadRelease(app);
      const release = parseCurrentRelease(stdout, app);
      checkStack(release, args.config.target.compute.stackImage);
      return release;
    });
    const slugId = this.releases[app].apply((r) => r.slugId);
    this.slugCopies[app] = args.runner.run(`${name}-${app}-slug`, {
      create: pulumi.all([slugId, args.bucketName]).apply(([id, bucket]) => slugCopyCommand(app, id, bucket, args.region)),
      environment,
      triggers: [slugId, args.bucketName],
    }, { parent: this, dependsOn: this.stepsAfter, ...OUTPUT_UNREAD });
  }

  /** The task definition of one process (or of a one-off run of its code: release, job). */
  private taskDefinition(resourceName: string, process: ProcessPlan, run: { size?: TaskSize; command?: string; processType?: string; streamPrefix: string; dependsOn?: pulumi.Resource[] }): aws.ecs.TaskDefinition {
    const { args } = this;
    const compute = args.config.target.compute;
    const code = process.code;
    const base = {
      port: run.processType || run.command ? undefined : process.port,
      logs: { group: `${args.parameterPrefix}/${process.name}`, region: args.region, streamPrefix: run.streamPrefix },
      dataGeneration: args.dataGeneration,
      labels: { "ferry.process": process.name, ...(process.port !== undefined && !run.command && !run.processType ? { "ferry.healthPath": process.healthPath } : {}) },
    };
    const secretsOfProcess = this.secretsFor(process);
    // Tasks pull the stack's ECR copies, never the public registries (Docker Hub's limit).
    const pulled = (images: Record<string, string>, ref: string) => images[ref] ?? ref;
    const poolerCa = args.pooler?.caUrl ?? pulumi.output(undefined);
    const spec: pulumi.Output<ContainerSpec> = code.kind === "image"
      ? pulumi.all([secretsOfProcess, args.bucketName, args.images, poolerCa]).apply(([secrets, bucket, images, poolerCaUrl]): ContainerSpec => ({
        kind: "image", image: pulled(images, code.image), fetchImage: pulled(images, compute.fetchImage), command: run.command ?? code.command, secrets, rdsCaUrl: `s3://${bucket}/${RDS_CA_KEY}`, poolerCaUrl, ...base,
      }))
      : pulumi.all([secretsOfProcess, this.releases[code.app], args.bucketName, args.images, poolerCa]).apply(([secrets, release, bucket, images, poolerCaUrl]): ContainerSpec => ({
        kind: "slug",
        stackImage: pulled(images, compute.stackImage),
        fetchImage: pulled(images, compute.fetchImage),
        slugUrl: `s3://${bucket}/${slugKey(code.app, release.slugId)}`,
        rdsCaUrl: `s3://${bucket}/${RDS_CA_KEY}`,
        poolerCaUrl,
        processType: run.processType ?? code.type,
        command: run.command ?? code.command,
        slugRun: SLUG_RUN,
        secrets,
        ...base,
      }));
    const size = run.size ?? process.size;
    const definition = new aws.ecs.TaskDefinition(resourceName, {
      family: resourceName,
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: String(size.cpu),
      memory: String(size.memory),
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
      executionRoleArn: this.executionRole.arn,
      taskRoleArn: this.taskRole.arn,
      volumes: taskVolumes(code.kind),
      containerDefinitions: spec.apply((s) => JSON.stringify(containerDefinitions(s))),
      tags: args.tags,
    }, { parent: this, dependsOn: [this.logGroups[process.name], this.rdsCa, ...(args.pooler ? [args.pooler.ready] : []), ...(code.kind === "slug" ? [this.slugCopies[code.app]] : []), ...(run.dependsOn ?? [])] });
    // The copy step's version id is in the container definitions: the definition follows the copy.
    return definition;
  }

  private releasePhase(name: string, release: ReleasePlan): void {
    const { args } = this;
    const key = release.kind === "slug" ? release.app : "image";
    const definition = release.kind === "slug"
      ? this.taskDefinition(`${name}-${release.app}-release`, release.process, { processType: "release", streamPrefix: "release" })
      : this.taskDefinition(`${name}-release`, release.process, { command: release.command, streamPrefix: "release" });
    const what = release.kind === "slug"
      ? this.releases[release.app].apply((r) => ({ label: `release phase of ${r.app} v${r.version}`, has: "release" in r.processTypes }))
      : pulumi.output({ label: `release phase (${release.command})`, has: true });
    const create = pulumi.all([what, definition.arn, this.cluster.arn, pulumi.all(args.subnetIds), args.securityGroupId]).apply(([w, taskDefinition, cluster, subnets, sg]) =>
      w.has
        ? runTaskCommand({ region: args.region, cluster, taskDefinition, subnets, securityGroups: [sg], what: w.label })
        : `echo ${JSON.stringify(`ferry: ${w.label.replace("release phase of ", "")} has no release process type: nothing to run`)}`,
    );
    this.releaseSteps[key] = args.runner.run(`${name}-${key}-release-phase`, {
      create,
      // A new task definition revision (new code, new config) runs the phase again.
      triggers: [definition.arn],
    }, { parent: this, dependsOn: [this.configVersion, ...this.stepsAfter], ...OUTPUT_UNREAD });
  }

  private service(name: string, process: ProcessPlan): void {
    const { args } = this;
    const definition = this.taskDefinition(`${name}-${process.name}`, process, { streamPrefix: process.name });
    this.taskDefinitions[process.name] = definition;
    const targetGroup = process.port === undefined ? undefined : args.targetGroups[process.name];
    const releaseStep = this.releaseSteps[process.code.kind === "slug" ? process.code.app : "image"];
    const service = new aws.ecs.Service(`${name}-${process.name}`, {
      cluster: this.cluster.arn,
      taskDefinition: definition.arn,
      desiredCount: process.count,
      launchType: "FARGATE",
      platformVersion: "LATEST",
      networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
      loadBalancers: targetGroup ? [{ targetGroupArn: targetGroup.arn, containerName: APP_CONTAINER, containerPort: process.port! }] : [],
      // Only valid with a load balancer (ECS CreateService: healthCheckGracePeriodSeconds).
      healthCheckGracePeriodSeconds: targetGroup ? 120 : undefined,
      deploymentMinimumHealthyPercent: 100,
      deploymentMaximumPercent: 200,
      // A release that never gets healthy rolls back to the previous task definition.
      deploymentCircuitBreaker: { enable: true, rollback: true },
      waitForSteadyState: true,
      propagateTags: "SERVICE",
      enableEcsManagedTags: true,
      tags: { ...args.tags, "ferry:process": process.name },
    }, serviceOptions(process, [...(releaseStep ? [releaseStep] : []), this.configVersion], this));
    this.services[process.name] = service;
    if (process.autoscaling) this.autoscaling(name, process, service);
  }

  private autoscaling(name: string, process: ProcessPlan, service: aws.ecs.Service): void {
    const scaling = process.autoscaling!;
    const target = new aws.appautoscaling.Target(`${name}-${process.name}`, {
      serviceNamespace: "ecs",
      scalableDimension: "ecs:service:DesiredCount",
      resourceId: pulumi.interpolate`service/${this.cluster.name}/${service.name}`,
      minCapacity: scaling.min,
      maxCapacity: scaling.max,
      tags: this.args.tags,
    }, { parent: this });
    new aws.appautoscaling.Policy(`${name}-${process.name}-cpu`, {
      policyType: "TargetTrackingScaling",
      serviceNamespace: target.serviceNamespace,
      scalableDimension: target.scalableDimension,
      resourceId: target.resourceId,
      targetTrackingScalingPolicyConfiguration: {
        predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
        targetValue: scaling.cpuPercent,
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
      },
    }, { parent: this });
  }

  /** Heroku Scheduler jobs (or crontab lines) as EventBridge Scheduler schedules running one-off tasks. */
  private scheduledJobs(name: string): void {
    const { args } = this;
    const definitions = this.plan.schedules.map((job) =>
      this.taskDefinition(`${name}-job-${job.name}`, job.process, {
        size: job.size,
        command: job.command,
        processType: job.process.code.kind === "slug" ? "scheduler" : undefined,
        streamPrefix: `job-${job.name}`,
      }),
    );
    const role = this.role(`${name}-scheduler`, "scheduler.amazonaws.com", pulumi.all([pulumi.all(definitions.map((d) => d.arnWithoutRevision)), this.executionRole.arn, this.taskRole.arn, this.cluster.arn]).apply(([families, execution, task, cluster]) => ({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Action: ["ecs:RunTask"], Resource: families.map((f) => `${f}:*`), Condition: { ArnLike: { "ecs:cluster": cluster } } },
        { Effect: "Allow", Action: ["iam:PassRole"], Resource: [execution, task], Condition: { StringLike: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } } },
      ],
    })));
    // Disabled until the source's jobs are off (Heroku Scheduler, the box's crontab):
    // every job would run twice otherwise. The switch is an update in place.
    const enabled = args.schedules?.enabled === true;
    this.plan.schedules.forEach((job, i) => {
      this.schedules[job.name] = new aws.scheduler.Schedule(`${name}-job-${job.name}`, {
        description: `ferry: ${job.command} (${job.process.name}'s code and config)`,
        scheduleExpression: job.expression,
        scheduleExpressionTimezone: job.timezone,
        flexibleTimeWindow: { mode: "OFF" },
        state: enabled ? "ENABLED" : "DISABLED",
        target: {
          arn: this.cluster.arn,
          roleArn: role.arn,
          ecsParameters: {
            taskDefinitionArn: definitions[i].arn,
            launchType: "FARGATE",
            platformVersion: "LATEST",
            taskCount: 1,
            networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
          },
          // A job that misses its slot is not worth running late (Heroku Scheduler is best effort too).
          retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 3600 },
        },
      }, { parent: this, dependsOn: enabled ? args.schedules!.after : [] });
    });
  }
}

/** The release an unread step stands for: its slug id says so wherever it shows up in a plan. */
export function unreadRelease(app: string): CurrentRelease {
  return { app, version: 0, slugId: UNREAD, stack: "unread", processTypes: {}, commit: null };
}

function stdoutOf(resource: pulumi.CustomResource): pulumi.Output<string | undefined> {
  if (resource instanceof command.local.Command || resource instanceof command.remote.Command) return resource.stdout;
  throw new Error("a Heroku read must be a command (local or remote)");
}
