// buildFerry: the whole stack from a typed config. index.ts calls it with the stack's
// validated configuration; tests and the stage-plan tool call it under mocks.
import * as cloudflare from "@pulumi/cloudflare";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { FerryConfig, Stage, StagePlan } from "./config";
import { atLeast, componentStage, componentsOf, planStages, refuseSeveralStores } from "./config";
import { applyDataStages, applyTrafficStages, DataStages, StageContext } from "./migrations";
import { present, withSecretOutputs } from "./migrations/context";
import { HerokuAppInventory, HerokuSource } from "./components/source/heroku";
import { VultrBox } from "./components/source/vultr";
import { Compute, Target } from "./components/target";
import { taskPostgresUrl } from "./components/target/app/rds-ca";
import { trustedProxyList } from "./components/target/app/trusted-proxies";
import { ImageMirror, publicImages } from "./components/target/images";
import {
  planPooler, Pooler, poolerClientEnv, PoolerPlan, poolerPassword, poolerRedisClientEnv, poolerRedisServerUrl, poolerServerUrl,
} from "./components/target/pooler";
import { ENV } from "./migrations/commands";
import type { TrialRecord } from "./dataplane/postgres/replication/trial-record";

export interface FerryOutputs {
  /** Where things are on AWS (no credentials). */
  endpoints: {
    postgresHost: pulumi.Output<string>;
    redisHost: pulumi.Output<string>;
    loadBalancer: pulumi.Output<string>;
    bucket: pulumi.Output<string>;
    runnerIp?: pulumi.Output<string>;
    /** Source firewalls must admit this address (subscription, REPLICAOF from private subnets). */
    natIp: pulumi.Output<string>;
  };
  /** Connection URLs with passwords: secret. */
  postgresUrl: pulumi.Output<string>;
  redisUrl: pulumi.Output<string>;
  /** What Heroku lists for each app (add-ons, domains), checked against ferry:source; heroku sources only. */
  source?: pulumi.Output<HerokuAppInventory[]>;
  stages: StagePlan["components"];
  activeStages: Stage[];
  trafficPercent: number;
  nextStep: string;
  /** dump: what replicate's trial copy measured (numbers only); `npm run plan --outputs` estimates the cutover's window from it. */
  postgresTrialCopy?: pulumi.Output<TrialRecord | undefined>;
}

function optionalSecret(value: string | undefined): pulumi.Output<string> | undefined {
  return value === undefined ? undefined : pulumi.secret(value);
}

/**
 * The earliest stage of anything on the source box: the box stays protected until every
 * component it holds (data stores and app alike) is released, so an app-only box is
 * protected too.
 */
function sourceBoxStage(config: FerryConfig): Stage {
  const stages = componentsOf(config.source).map((c) => componentStage(c, config.stages));
  return stages.reduce<Stage>((low, s) => (atLeast(s, low) ? low : s), stages[0] ?? "decommission");
}

class Ferry extends pulumi.ComponentResource {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:index:Ferry", name, {}, opts);
  }
}

export interface BuildOptions {
  /** Prefix of every resource name (default `ferry`); tests build several stacks side by side. */
  name?: string;
  /** Applied to every resource below the root: tests and the stage-plan tool read resource options here. */
  transformations?: pulumi.ResourceTransformation[];
  /**
   * What marks one `pulumi up` (default: one per program run, as each `pulumi up` is a new
   * process): until cutover a new one reads the Heroku release and config vars again. A
   * caller that runs several ups in one process (the rehearsal) gives each its own.
   */
  readEpoch?: string;
}

/**
 * The stack, as a list of named steps: the providers, the source as it is (protected, or
 * read), the target on AWS, the data stages, the app (which store it uses depends on
 * what the data stages moved), then the traffic stages, which wait on both.
 */
export function buildFerry(config: FerryConfig, options: BuildOptions = {}): FerryOutputs {
  refuseSeveralStores(config.stores);
  const name = options.name ?? "ferry";
  const root = createRoot(name, config, options);
  const secrets = stackSecrets(config);
  const box = protectBox(name, config, root);
  const target = provisionTarget(name, config, secrets, box, root);
  const heroku = readHeroku(name, config, secrets, target, root);
  // The public images the tasks run, copied once into the stack's ECR (Docker Hub's anonymous limit).
  const images = new ImageMirror(`${name}-images`, { images: publicImages(config), prefix: name, region: config.target.region, runner: target.runner, tags: tagsOf(name) }, { parent: root });
  const pooler = declarePooler(name, config, secrets, target, images, root);
  const ctx = stageContext(name, config, secrets, target, box, heroku, pooler);
  const data = applyDataStages(ctx, root);
  pooler?.component.serve(data.gates);
  const app = runApp(name, config, secrets, target, data, box, heroku, root, images, pooler, options.readEpoch);
  applyTrafficStages(ctx, data, Object.values(app.services), root);
  return outputs(config, target, heroku, data);
}

const tagsOf = (name: string) => ({ "ferry:stack": name, "managed-by": "pulumi" });

/** The root component, with the AWS and Cloudflare providers every resource below it uses. */
function createRoot(name: string, config: FerryConfig, options: BuildOptions): Ferry {
  const awsProvider = new aws.Provider(`${name}-aws`, { region: config.target.region as aws.Region, defaultTags: { tags: tagsOf(name) } });
  const cloudflareProvider = new cloudflare.Provider(`${name}-cloudflare`, { apiToken: pulumi.secret(config.secrets.cloudflareApiToken) });
  return new Ferry(name, { providers: { aws: awsProvider, cloudflare: cloudflareProvider }, transformations: options.transformations });
}

type StackSecrets = StageContext["secrets"];

function stackSecrets(config: FerryConfig): StackSecrets {
  return {
    sourceDatabaseUrl: optionalSecret(config.secrets.sourceDatabaseUrl),
    sourceRedisUrl: optionalSecret(config.secrets.sourceRedisUrl),
    herokuApiKey: optionalSecret(config.secrets.herokuApiKey),
    sshPrivateKey: optionalSecret(config.secrets.sshPrivateKey),
  };
}

/** A Vultr box, protected until everything on it is released. */
function protectBox(name: string, config: FerryConfig, root: Ferry): VultrBox | undefined {
  return config.source.kind === "vultr"
    ? new VultrBox(`${name}-source`, { source: config.source, stage: sourceBoxStage(config) }, { parent: root })
    : undefined;
}

function provisionTarget(name: string, config: FerryConfig, secrets: StackSecrets, box: VultrBox | undefined, root: Ferry): Target {
  return new Target(`${name}`, {
    config,
    sourceAddress: box?.address,
    secrets: {
      postgresPassword: pulumi.secret(config.secrets.targetPostgresPassword),
      redisPassword: pulumi.secret(config.secrets.targetRedisPassword ?? ""),
      sshPrivateKey: secrets.sshPrivateKey,
    },
    tags: tagsOf(name),
  }, { parent: root });
}

/** The Heroku apps as they are: read (never changed) through the same runner as the steps, where ferry is on the PATH. */
function readHeroku(name: string, config: FerryConfig, secrets: StackSecrets, target: Target, root: Ferry): HerokuSource | undefined {
  return config.source.kind === "heroku"
    ? new HerokuSource(`${name}-heroku`, {
      source: config.source,
      runner: target.runner,
      herokuApiKey: present(secrets.herokuApiKey, "ferry:herokuApiKey"),
    }, { parent: root })
    : undefined;
}

interface DeclaredPooler {
  plan: PoolerPlan;
  component: Pooler;
  /** The app's login to the pooler, and the admin's (the control API, the console). */
  clientPassword: pulumi.Output<string>;
  adminPassword: pulumi.Output<string>;
}

/**
 * The Postgres pooler (ferry:target.pooler), from provision on: the app reaches Postgres
 * through it at every stage, so nothing about the app changes at Postgres's cutover. It
 * starts on the source; from the cutover on, a task that starts again starts on the target.
 */
function declarePooler(name: string, config: FerryConfig, secrets: StackSecrets, target: Target, images: ImageMirror, root: Ferry): DeclaredPooler | undefined {
  const plan = planPooler(config, name);
  if (!plan) return undefined;
  const master = config.secrets.targetPostgresPassword;
  const clientPassword = pulumi.secret(poolerPassword(master, "client"));
  const adminPassword = pulumi.secret(poolerPassword(master, "admin"));
  const serverUrl = pulumi.secret(pulumi.all([target.postgres.url, secrets.sourceDatabaseUrl]).apply(([t, s]) => poolerServerUrl(plan, { source: s, target: t })));
  const redisServerUrl = plan.redis
    ? pulumi.secret(pulumi.all([target.redis.url, secrets.sourceRedisUrl]).apply(([t, s]) => poolerRedisServerUrl(plan, { source: s, target: t }, config.source.kind === "heroku")))
    : undefined;
  const component = new Pooler(`${name}-pooler`, {
    plan,
    region: config.target.region,
    vpcId: target.network.vpc.id,
    subnetIds: target.network.privateSubnetIds,
    appSecurityGroupId: target.firewall.app.id,
    runnerSecurityGroupId: present(target.firewall.runner, "the runner's security group").id,
    postgresSecurityGroupId: target.firewall.postgres.id,
    redisSecurityGroupId: plan.redis ? target.firewall.redis.id : undefined,
    serverUrl,
    redisServerUrl,
    clientPassword,
    adminPassword,
    bucketName: target.storage.bucket.bucket,
    bucketArn: target.storage.bucket.arn,
    runner: target.runner,
    images: images.refs,
    fetchImage: config.target.compute.fetchImage,
    logRetentionDays: config.target.compute.logRetentionDays,
    parameterPrefix: `/ferry/${name}`,
    tags: tagsOf(name),
  }, { parent: root });
  return { plan, component, clientPassword, adminPassword };
}

/** What the cutover needs of the pooler: the replicas, the admin password, their CA, and the app's login on the target. */
function poolerAccess(pooler: DeclaredPooler, target: Target): StageContext["pooler"] {
  return {
    urls: pooler.plan.replicas.map((r) => r.controlUrl),
    pauseTimeoutSeconds: pooler.plan.pauseTimeoutSeconds,
    redis: !!pooler.plan.redis,
    env: {
      [ENV.poolerAdminPassword]: pooler.adminPassword,
      [ENV.poolerCa]: pooler.component.caPem,
      [ENV.poolerTargetUrl]: pulumi.secret(target.postgres.url.apply((t) => poolerServerUrl({ server: "target" }, { target: t }))),
      ...(pooler.plan.redis ? { [ENV.poolerRedisTargetUrl]: target.redis.url } : {}),
    },
  };
}

function stageContext(
  name: string, config: FerryConfig, secrets: StackSecrets, target: Target, box: VultrBox | undefined, heroku: HerokuSource | undefined, pooler: DeclaredPooler | undefined,
): StageContext {
  return {
    name,
    config,
    runner: withSecretOutputs(target.runner),
    secrets,
    sourceAddress: box?.address,
    heroku,
    pooler: pooler && poolerAccess(pooler, target),
    target: {
      postgresUrl: target.postgres.url,
      redisUrl: target.redis.url,
      runnerPostgresUrl: target.runnerPostgresUrl,
      runnerRedisUrl: target.runnerRedisUrl,
      loadBalancerDnsName: target.ingress.loadBalancer.dnsName,
      origin: target.ingress.origin,
      healthUrl: target.ingress.healthUrl,
      healthPath: target.ingress.healthPath,
      bucket: target.storage.bucket.bucket,
      sourceAppRedisUrl: target.redis.sourceUrl,
    },
  };
}

/**
 * The app on AWS. It uses a store where its data currently lives: the source until that
 * store is cut over (as in user stories 001 and 003), then the target.
 */
function runApp(
  name: string, config: FerryConfig, secrets: StackSecrets, target: Target, data: DataStages,
  box: VultrBox | undefined, heroku: HerokuSource | undefined, root: Ferry, images: ImageMirror, pooler: DeclaredPooler | undefined, readEpoch: string | undefined,
): Compute {
  // Through the pooler: the same variables at every stage (the pooler changes servers). Else at
  // the target: verify-full against the RDS bundle every task holds (libpq and
  // node-postgres read that alike); at the source: its URL as it is.
  const databaseEnv = pooler
    ? pooler.clientPassword.apply((password): Record<string, string> => ({ ...poolerClientEnv(pooler.plan, password) }))
    : pulumi.output(data.moved.postgres || !secrets.sourceDatabaseUrl ? target.postgres.url.apply(taskPostgresUrl) : secrets.sourceDatabaseUrl).apply((DATABASE_URL): Record<string, string> => ({ DATABASE_URL }));
  // Redis the same, through the pooler's proxy where it has one.
  const redisProxied = pooler?.plan.redis ? pooler : undefined;
  const redisEnv = redisProxied
    ? redisProxied.clientPassword.apply((password): Record<string, string> => ({ ...poolerRedisClientEnv(redisProxied.plan, password) }))
    : pulumi.output(data.moved.redis || !secrets.sourceRedisUrl ? target.redis.url : secrets.sourceRedisUrl).apply((REDIS_URL): Record<string, string> => ({ REDIS_URL }));
  return new Compute(`${name}-app`, {
    config,
    region: config.target.region,
    subnetIds: target.network.privateSubnetIds,
    securityGroupId: target.firewall.app.id,
    targetGroups: target.ingress.targetGroups,
    bucketName: target.storage.bucket.bucket,
    bucketArn: target.storage.bucket.arn,
    // ferry's own vars go by names of their own: the app keeps its S3_BUCKET and AWS_*
    // (its media bucket and the credentials for it), copied from Heroku or the box like any
    // other var. ECS itself sets AWS_REGION in every task.
    env: pulumi.secret(
      pulumi.all([databaseEnv, redisEnv, target.storage.bucket.bucket, trustedProxyVars(config, box, root)]).apply(([database, redis, FERRY_BUCKET, proxies]) => ({
        FERRY_BUCKET,
        ...config.target.compute.env,
        ...proxies,
        ...database,
        ...redis,
      })),
    ),
    // Through the pooler, a store's cutover is no reason to roll the services.
    dataGeneration: `postgres=${pooler ? "pooler" : data.moved.postgres ? "target" : "source"} redis=${redisProxied ? "pooler" : data.moved.redis ? "target" : "source"}`,
    parameterPrefix: `/ferry/${name}`,
    after: data.gates,
    // Scheduled jobs run on one side at a time: on AWS from the stage that switched the
    // source's off, once that switch and the cutover's gates are done.
    schedules: { enabled: data.jobs.moved, after: [...data.jobs.stopped, ...data.gates] },
    runner: target.runner,
    images: images.refs,
    herokuApiKey: secrets.herokuApiKey,
    herokuInventory: heroku?.inventory,
    readEpoch,
    pooler: pooler && { caUrl: pooler.component.caUrl, ready: pooler.component.tls },
    box: box && config.source.kind === "vultr"
      ? { address: box.address, user: config.source.ssh.user, port: config.source.ssh.port, hostKey: config.source.ssh.hostKey, sshPrivateKey: secrets.sshPrivateKey }
      : undefined,
    tags: tagsOf(name),
  }, { parent: root });
}

/** The app's trusted-proxy variable, if the stack names one (ferry:target.compute.trustedProxyVar). */
function trustedProxyVars(config: FerryConfig, box: VultrBox | undefined, parent: pulumi.Resource): pulumi.Output<Record<string, string>> {
  const name = config.target.compute.trustedProxyVar;
  if (!name) return pulumi.output<Record<string, string>>({});
  return pulumi.all([cloudflare.getIpRangesOutput({}, { parent }), box?.address]).apply(([ranges, boxAddress]) => ({ [name]: trustedProxyList(config.target.vpcCidr, ranges, boxAddress) }));
}

function outputs(config: FerryConfig, target: Target, heroku: HerokuSource | undefined, data: DataStages): FerryOutputs {
  const plan = planStages(config);
  return {
    endpoints: {
      postgresHost: target.postgres.instance.address,
      redisHost: target.redis.host,
      loadBalancer: target.ingress.loadBalancer.dnsName,
      bucket: target.storage.bucket.bucket,
      runnerIp: target.runnerIp,
      natIp: target.network.natPublicIp,
    },
    postgresUrl: target.postgres.url,
    redisUrl: target.redis.url,
    source: heroku?.inventory,
    stages: plan.components,
    activeStages: plan.active,
    trafficPercent: plan.trafficPercent,
    nextStep: plan.nextStep,
    postgresTrialCopy: data.replicate?.trialCopy,
  };
}
