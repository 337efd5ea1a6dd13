// The pooler the app on AWS reaches its stores through (docs/pooler.md): one ECS Fargate
// service per replica, each task running `ferry pooler serve` (PgBouncer as its child, the
// Redis proxy where the source has Redis, the HTTPS control API the cutover pauses,
// repoints and resumes both through).
//
// - Names. Each replica has its own DNS name in a private Cloud Map namespace, an A record
//   of its one task (awsvpc tasks have their own address: "Use service discovery to connect
//   Amazon ECS services with DNS names", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-discovery.html).
//   One service per replica, because an ECS service has one registry ("Each service may be
//   associated with one service registry", https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRegistry.html)
//   and the cutover must name every replica: a task that restarts keeps its replica's name,
//   so a repoint reaches it. A service never runs two tasks under one name (minimum
//   healthy 0, maximum 100: the old task stops before the new one starts), and the
//   replicas roll one after the other, so the app always has one to reach.
// - Image. Fargate runs images only and the stack builds none: the task runs node's
//   Debian bookworm image (copied into the stack's ECR with the others), installs Debian's
//   PgBouncer 1.18 at start, and runs the ferry bundle the runner uploaded to the bucket,
//   the same ferry the runner's steps run. docs/pooler.md weighs the cost (a start needs
//   Debian's mirror) against baking an image.
// - Secrets. The server URL and both passwords are one Pulumi-managed secret; the TLS
//   certificate and key another, written by a runner step that never shows them to Pulumi.
//   The task definition names both unpinned (AWSCURRENT): the server URLs' new version at
//   the cutover changes no task definition (no roll in the window), and a task that
//   starts after it starts on the target.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Runner } from "../../runner";
import { RDS_CA_DIR, RDS_CA_IN_TASK, RDS_CA_KEY, RDS_CA_VOLUME } from "../app/rds-ca";
import { UNREAD } from "../app/steps";
import { POSTGRES_PORT, REDIS_PORT } from "../firewall";
import {
  bundleUploadCommand, CONTROL_PORT, FERRY_DIR, parseBundleKey, POOLER_CA_KEY, POOLER_PORT, PoolerPlan,
  poolerCommand, poolerFetchCommand, REDIS_PROXY_PORT, tlsCommand,
} from "./plan";

export * from "./plan";

export interface PoolerArgs {
  plan: PoolerPlan;
  region: string;
  vpcId: pulumi.Input<string>;
  subnetIds: pulumi.Input<string>[];
  /** Who may reach PgBouncer (6432): the app's tasks. */
  appSecurityGroupId: pulumi.Input<string>;
  /** Who may reach the control API (6433): the runner, where the cutover runs. */
  runnerSecurityGroupId: pulumi.Input<string>;
  /** The target's security group: the pooler reaches RDS through it. */
  postgresSecurityGroupId: pulumi.Input<string>;
  /** The target Redis's security group, where the plan has the Redis proxy: the proxy reaches it through it. */
  redisSecurityGroupId?: pulumi.Input<string>;
  /** The secret values: where the server legs start (the app's login there), the app's and the admin's passwords. */
  serverUrl: pulumi.Input<string>;
  /** The Redis proxy's server leg, where the plan has the proxy. */
  redisServerUrl?: pulumi.Input<string | undefined>;
  clientPassword: pulumi.Input<string>;
  adminPassword: pulumi.Input<string>;
  bucketName: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  runner: Runner;
  /** Public image reference -> its copy in the stack's ECR (components/target/images.ts). */
  images: pulumi.Output<Record<string, string>>;
  /** The AWS CLI's image: the fetch container. */
  fetchImage: string;
  logRetentionDays: number;
  parameterPrefix: string;
  tags: Record<string, string>;
}

export const POOLER_CONTAINER = "pooler";
export const POOLER_FETCH_CONTAINER = "ferry-fetch";
const SECRET_KEYS = { serverUrl: "FERRY_POOLER_SERVER_URL", clientPassword: "FERRY_POOLER_CLIENT_PASSWORD", adminPassword: "FERRY_POOLER_ADMIN_PASSWORD" } as const;
const REDIS_SECRET_KEY = "FERRY_POOLER_REDIS_URL";
const TLS_KEYS = ["FERRY_POOLER_TLS_CERT", "FERRY_POOLER_TLS_KEY"] as const;

/** The pooler's container definitions (plain JSON, what RegisterTaskDefinition takes). */
export function poolerContainers(a: {
  plan: PoolerPlan; image: string; fetchImage: string; secretArn: string; tlsSecretArn: string; bundleUrl: string; rdsCaUrl: string;
  logs: { group: string; region: string };
}): Record<string, unknown>[] {
  // Unpinned (`arn:key::`): the current version when the task starts.
  const secrets = [
    ...[...Object.values(SECRET_KEYS), ...(a.plan.redis ? [REDIS_SECRET_KEY] : [])].map((name) => ({ name, valueFrom: `${a.secretArn}:${name}::` })),
    ...TLS_KEYS.map((name) => ({ name, valueFrom: `${a.tlsSecretArn}:${name}::` })),
  ].sort((x, y) => x.name.localeCompare(y.name));
  const logs = (prefix: string) => ({ logDriver: "awslogs", options: { "awslogs-group": a.logs.group, "awslogs-region": a.logs.region, "awslogs-stream-prefix": prefix } });
  return [
    {
      name: POOLER_FETCH_CONTAINER,
      image: a.fetchImage,
      essential: false,
      entryPoint: ["/bin/sh", "-c"],
      command: [poolerFetchCommand()],
      environment: [{ name: "FERRY_BUNDLE_URL", value: a.bundleUrl }, { name: "RDS_CA_URL", value: a.rdsCaUrl }],
      mountPoints: [{ sourceVolume: "ferry", containerPath: FERRY_DIR, readOnly: false }, { sourceVolume: RDS_CA_VOLUME, containerPath: RDS_CA_DIR, readOnly: false }],
      logConfiguration: logs("fetch"),
    },
    {
      name: POOLER_CONTAINER,
      image: a.image,
      essential: true,
      entryPoint: ["/bin/sh", "-c"],
      command: [poolerCommand(a.plan)],
      environment: [{ name: "FERRY_POOLER_SERVER_CA_FILE", value: RDS_CA_IN_TASK }],
      secrets,
      portMappings: [POOLER_PORT, CONTROL_PORT, ...(a.plan.redis ? [REDIS_PROXY_PORT] : [])].map((containerPort) => ({ containerPort, protocol: "tcp" })),
      mountPoints: [{ sourceVolume: "ferry", containerPath: FERRY_DIR, readOnly: true }, { sourceVolume: RDS_CA_VOLUME, containerPath: RDS_CA_DIR, readOnly: true }],
      dependsOn: [{ containerName: POOLER_FETCH_CONTAINER, condition: "SUCCESS" }],
      logConfiguration: logs("pooler"),
      // PgBouncer's SIGTERM is a "safe shutdown" (it waits for clients); the supervisor ends it.
      stopTimeout: 30,
    },
  ];
}

const assumeEcsTasks = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

export class Pooler extends pulumi.ComponentResource {
  readonly securityGroup: aws.ec2.SecurityGroup;
  readonly namespace: aws.servicediscovery.PrivateDnsNamespace;
  readonly secret: aws.secretsmanager.Secret;
  /** Declared by serve(): its value waits for the cutover's gates. */
  secretVersion?: aws.secretsmanager.SecretVersion;
  readonly cluster: aws.ecs.Cluster;
  readonly tlsSecret: aws.secretsmanager.Secret;
  readonly taskDefinition: aws.ecs.TaskDefinition;
  readonly services: aws.ecs.Service[] = [];
  /** The step that made the TLS material: the app's tasks copy its CA from the bucket, so they start after it. */
  readonly tls: pulumi.CustomResource;
  /** The CA certificate the replicas' certificates chain to (public). */
  readonly caPem: pulumi.Output<string>;
  /** s3:// URL of that CA certificate, which every app task copies next to the RDS bundle. */
  readonly caUrl: pulumi.Output<string>;
  private readonly name: string;
  private readonly args: PoolerArgs;

  constructor(name: string, args: PoolerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Pooler", name, {}, opts);
    const { plan } = args;
    const child = { parent: this };
    const prefix = args.parameterPrefix.replace(/^\//, "");

    this.securityGroup = new aws.ec2.SecurityGroup(`${name}-sg`, { vpcId: args.vpcId, description: "ferry: the Postgres pooler", tags: { ...args.tags, Name: `${name}-sg` } }, child);
    const rule = (suffix: string, group: pulumi.Input<string>, port: number, from: pulumi.Input<string>, why: string) =>
      new aws.vpc.SecurityGroupIngressRule(`${name}-${suffix}`, { securityGroupId: group, ipProtocol: "tcp", fromPort: port, toPort: port, referencedSecurityGroupId: from, description: why }, child);
    rule("in-app", this.securityGroup.id, POOLER_PORT, args.appSecurityGroupId, "PgBouncer from the app tasks");
    rule("in-control", this.securityGroup.id, CONTROL_PORT, args.runnerSecurityGroupId, "pooler control API from the runner (cutover)");
    rule("to-postgres", args.postgresSecurityGroupId, POSTGRES_PORT, this.securityGroup.id, "PostgreSQL from the pooler");
    if (plan.redis) {
      if (!args.redisSecurityGroupId || !args.redisServerUrl) throw new Error(`${name}: the Redis proxy needs the target Redis's security group and its server URL`);
      rule("in-app-redis", this.securityGroup.id, REDIS_PROXY_PORT, args.appSecurityGroupId, "the Redis proxy from the app tasks");
      rule("to-redis", args.redisSecurityGroupId, REDIS_PORT, this.securityGroup.id, "Redis from the pooler (its Redis proxy)");
    }
    // Out: the target (RDS), the source over the internet until cutover, S3, Debian's mirror.
    new aws.vpc.SecurityGroupEgressRule(`${name}-out-all`, { securityGroupId: this.securityGroup.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "outbound (the source, RDS, S3, the Debian mirror)" }, child);

    this.namespace = new aws.servicediscovery.PrivateDnsNamespace(`${name}-ns`, { name: plan.namespace, vpc: args.vpcId, description: "ferry: the pooler replicas' names", tags: args.tags }, child);

    this.secret = new aws.secretsmanager.Secret(`${name}-secret`, {
      namePrefix: `${prefix}/pooler-`,
      description: "ferry: the pooler's server URL and passwords, read by its ECS tasks",
      recoveryWindowInDays: 7,
      tags: args.tags,
    }, child);
    this.tlsSecret = new aws.secretsmanager.Secret(`${name}-tls`, {
      namePrefix: `${prefix}/pooler-tls-`,
      description: "ferry: the pooler's TLS certificate and key (written by the runner, never by Pulumi)",
      recoveryWindowInDays: 7,
      tags: args.tags,
    }, child);

    const grants = this.grantRunner(name, args);
    this.tls = args.runner.run(`${name}-tls`, {
      create: pulumi.all([this.tlsSecret.arn, args.bucketName]).apply(([arn, bucket]) => tlsCommand({ hosts: plan.replicas.map((r) => r.host), secretArn: arn, bucket, region: args.region })),
      // New names need a new certificate; the same names never make another.
      triggers: [plan.replicas.map((r) => r.host).join(","), this.tlsSecret.arn],
    }, { parent: this, dependsOn: grants, additionalSecretOutputs: ["stderr"] });
    this.caPem = stdoutOf(this.tls).apply((s) => s ?? UNREAD);
    this.caUrl = pulumi.interpolate`s3://${args.bucketName}/${POOLER_CA_KEY}`;
    const bundle = args.runner.run(`${name}-bundle`, {
      create: pulumi.output(args.bucketName).apply((bucket) => bundleUploadCommand(bucket, args.region)),
      triggers: [args.bucketName],
    }, { parent: this, dependsOn: grants, additionalSecretOutputs: ["stderr"] });
    const bundleKey = stdoutOf(bundle).apply((s) => (s === undefined ? `ferry/ferry-${UNREAD}.js` : parseBundleKey(s)));

    const logGroup = new aws.cloudwatch.LogGroup(`${name}`, { name: `${args.parameterPrefix}/pooler`, retentionInDays: args.logRetentionDays, tags: args.tags }, child);
    const execution = new aws.iam.Role(`${name}-execution`, { assumeRolePolicy: assumeEcsTasks, tags: args.tags }, child);
    new aws.iam.RolePolicy(`${name}-execution`, {
      role: execution.id,
      policy: pulumi.all([this.secret.arn, this.tlsSecret.arn]).apply((arns) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: arns }] })),
    }, child);
    new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: execution.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" }, child);
    const task = new aws.iam.Role(`${name}-task`, { assumeRolePolicy: assumeEcsTasks, tags: args.tags }, child);
    new aws.iam.RolePolicy(`${name}-task`, {
      role: task.id,
      policy: pulumi.output(args.bucketArn).apply((bucket) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: [`${bucket}/ferry/*`, `${bucket}/${RDS_CA_KEY}`] }] })),
    }, child);

    const pulled = (images: Record<string, string>, ref: string) => images[ref] ?? ref;
    this.taskDefinition = new aws.ecs.TaskDefinition(`${name}`, {
      family: `${name}`,
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: String(plan.size.cpu),
      memory: String(plan.size.memory),
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
      executionRoleArn: execution.arn,
      taskRoleArn: task.arn,
      volumes: [{ name: "ferry" }, { name: RDS_CA_VOLUME }],
      containerDefinitions: pulumi.all([args.images, this.secret.arn, this.tlsSecret.arn, args.bucketName, bundleKey]).apply(([images, secretArn, tlsSecretArn, bucket, key]) =>
        JSON.stringify(poolerContainers({
          plan, image: pulled(images, plan.image), fetchImage: pulled(images, args.fetchImage), secretArn, tlsSecretArn,
          bundleUrl: `s3://${bucket}/${key}`, rdsCaUrl: `s3://${bucket}/${RDS_CA_KEY}`, logs: { group: `${args.parameterPrefix}/pooler`, region: args.region },
        }))),
      tags: args.tags,
    }, { parent: this, dependsOn: [logGroup] });

    this.cluster = new aws.ecs.Cluster(`${name}-cluster`, { settings: [{ name: "containerInsights", value: "enabled" }], tags: args.tags }, child);
    this.name = name;
    this.args = args;
  }

  /**
   * The server URL's secret and the replicas' services, declared once the data stages are:
   * the secret's value moves to the target only after Postgres's cutover gates (`after`),
   * while the cutover itself needs this component's names and CA.
   */
  serve(after: pulumi.Resource[]): void {
    const { name, args } = this;
    const { plan } = args;
    const child = { parent: this };
    this.secretVersion = new aws.secretsmanager.SecretVersion(`${name}-secret`, {
      secretId: this.secret.id,
      secretString: pulumi.secret(pulumi.all([args.serverUrl, args.clientPassword, args.adminPassword, args.redisServerUrl]).apply(([serverUrl, clientPassword, adminPassword, redisServerUrl]) =>
        JSON.stringify({
          [SECRET_KEYS.serverUrl]: serverUrl, [SECRET_KEYS.clientPassword]: clientPassword, [SECRET_KEYS.adminPassword]: adminPassword,
          ...(plan.redis ? { [REDIS_SECRET_KEY]: redisServerUrl } : {}),
        }))),
    }, { parent: this, dependsOn: after });
    let previous: pulumi.Resource | undefined;
    for (const replica of plan.replicas) {
      const registry = new aws.servicediscovery.Service(`${name}-${replica.service}`, {
        name: replica.service,
        dnsConfig: { namespaceId: this.namespace.id, dnsRecords: [{ type: "A", ttl: 10 }], routingPolicy: "MULTIVALUE" },
        // ECS reports each task's health to Cloud Map: a stopped task's record goes away.
        healthCheckCustomConfig: {},
        tags: args.tags,
      }, child);
      const service: aws.ecs.Service = new aws.ecs.Service(`${name}-${replica.service}`, {
        cluster: this.cluster.arn,
        taskDefinition: this.taskDefinition.arn,
        desiredCount: 1,
        launchType: "FARGATE",
        platformVersion: "LATEST",
        networkConfiguration: { subnets: args.subnetIds, securityGroups: [this.securityGroup.id], assignPublicIp: false },
        serviceRegistries: { registryArn: registry.arn },
        // One task per name, always: the old one stops before its successor starts.
        deploymentMinimumHealthyPercent: 0,
        deploymentMaximumPercent: 100,
        deploymentCircuitBreaker: { enable: true, rollback: true },
        waitForSteadyState: true,
        propagateTags: "SERVICE",
        enableEcsManagedTags: true,
        tags: { ...args.tags, "ferry:process": replica.service },
        // The replicas roll one after the other (the app reaches the other meanwhile).
      }, { parent: this, dependsOn: [this.secretVersion, this.tls, ...(previous ? [previous] : [])] });
      this.services.push(service);
      previous = service;
    }
    this.registerOutputs({ namespace: plan.namespace, replicas: plan.replicas.map((r) => r.controlUrl) });
  }

  /**
   * What the pooler's runner steps need, and nothing else: the TLS step writes its secret
   * and the CA certificate, the bundle step puts ferry under ferry/ in the bucket.
   */
  private grantRunner(name: string, args: PoolerArgs): pulumi.Resource[] {
    const role = args.runner.role;
    if (!role) return [];
    const policy = pulumi.all([args.bucketArn, this.tlsSecret.arn]).apply(([bucket, tls]) => JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Sid: "PoolerTls", Effect: "Allow", Action: ["secretsmanager:PutSecretValue"], Resource: tls },
        { Sid: "PoolerFiles", Effect: "Allow", Action: ["s3:PutObject"], Resource: [`${bucket}/${POOLER_CA_KEY}`, `${bucket}/ferry/*`] },
      ],
    }));
    return [new aws.iam.RolePolicy(`${name}-runner`, { role: role.id, policy }, { parent: this })];
  }
}

function stdoutOf(resource: pulumi.CustomResource): pulumi.Output<string | undefined> {
  if (resource instanceof command.local.Command || resource instanceof command.remote.Command) return resource.stdout;
  throw new Error("a pooler step must be a command (local or remote)");
}
