// buildFerry: the whole stack from a typed config. index.ts calls it with the stack's
// validated configuration; tests and the stage-plan tool call it under mocks.
import * as cloudflare from "@pulumi/cloudflare";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { FerryConfig, Stage, StagePlan } from "./config";
import { atLeast, componentStage, componentsOf, planStages } from "./config";
import { applyDataStages, applyTrafficStages, StageContext } from "./migrations";
import { present } from "./migrations/context";
import { HerokuAppInventory, HerokuSource } from "./components/source/heroku";
import { VultrBox } from "./components/source/vultr";
import { Compute, TargetSide } from "./components/target";

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
}

export function buildFerry(config: FerryConfig, options: BuildOptions = {}): FerryOutputs {
  const name = options.name ?? "ferry";
  const tags = { "ferry:stack": name, "managed-by": "pulumi" };
  const awsProvider = new aws.Provider(`${name}-aws`, { region: config.target.region as aws.Region, defaultTags: { tags } });
  const cloudflareProvider = new cloudflare.Provider(`${name}-cloudflare`, { apiToken: pulumi.secret(config.secrets.cloudflareApiToken) });
  const root = new Ferry(name, { providers: { aws: awsProvider, cloudflare: cloudflareProvider }, transformations: options.transformations });
  const secrets = {
    sourceDatabaseUrl: optionalSecret(config.secrets.sourceDatabaseUrl),
    sourceRedisUrl: optionalSecret(config.secrets.sourceRedisUrl),
    herokuApiKey: optionalSecret(config.secrets.herokuApiKey),
    sshPrivateKey: optionalSecret(config.secrets.sshPrivateKey),
  };

  const box = config.source.kind === "vultr"
    ? new VultrBox(`${name}-source`, { source: config.source, stage: sourceBoxStage(config) }, { parent: root })
    : undefined;
  const target = new TargetSide(`${name}`, {
    config,
    sourceAddress: box?.address,
    secrets: {
      postgresPassword: pulumi.secret(config.secrets.targetPostgresPassword),
      redisPassword: pulumi.secret(config.secrets.targetRedisPassword ?? ""),
      sshPrivateKey: secrets.sshPrivateKey,
    },
    tags,
  }, { parent: root });

  // Read (never changed) through the same runner as the steps: ferry is on its PATH.
  const heroku = config.source.kind === "heroku"
    ? new HerokuSource(`${name}-heroku`, {
      source: config.source,
      runner: target.runner,
      herokuApiKey: present(secrets.herokuApiKey, "ferry:herokuApiKey"),
    }, { parent: root })
    : undefined;

  const ctx: StageContext = {
    name,
    config,
    runner: target.runner,
    secrets,
    sourceAddress: box?.address,
    heroku,
    target: {
      postgresUrl: target.postgres.url,
      redisUrl: target.redis.url,
      runnerPostgresUrl: target.runnerPostgresUrl,
      runnerRedisUrl: target.runnerRedisUrl,
      loadBalancerDnsName: target.ingress.loadBalancer.dnsName,
      origin: target.ingress.origin,
      healthUrl: target.ingress.healthUrl,
      healthPath: target.ingress.healthPath,
    },
  };
  const data = applyDataStages(ctx, root);

  // The app on AWS uses a store where its data currently lives: the source until that
  // store is cut over (as in user stories 001 and 003), then the target.
  const databaseUrl = data.moved.postgres || !secrets.sourceDatabaseUrl ? target.postgres.url : secrets.sourceDatabaseUrl;
  const redisUrl = data.moved.redis || !secrets.sourceRedisUrl ? target.redis.url : secrets.sourceRedisUrl;
  const compute = new Compute(`${name}-app`, {
    config,
    region: config.target.region,
    subnetIds: target.network.privateSubnetIds,
    securityGroupId: target.firewall.app.id,
    targetGroups: target.ingress.targetGroups,
    bucketName: target.storage.bucket.bucket,
    bucketArn: target.storage.bucket.arn,
    env: pulumi.secret(
      pulumi.all([databaseUrl, redisUrl, target.storage.bucket.bucket]).apply(([DATABASE_URL, REDIS_URL, S3_BUCKET]) => ({
        AWS_REGION: config.target.region,
        S3_BUCKET,
        ...config.target.compute.env,
        DATABASE_URL,
        REDIS_URL,
      })),
    ),
    dataGeneration: `postgres=${data.moved.postgres ? "target" : "source"} redis=${data.moved.redis ? "target" : "source"}`,
    parameterPrefix: `/ferry/${name}`,
    after: data.gates,
    runner: target.runner,
    herokuApiKey: secrets.herokuApiKey,
    herokuInventory: heroku?.inventory,
    box: box && config.source.kind === "vultr"
      ? { address: box.address, user: config.source.ssh.user, port: config.source.ssh.port, sshPrivateKey: secrets.sshPrivateKey }
      : undefined,
    tags,
  }, { parent: root });

  applyTrafficStages(ctx, data, Object.values(compute.services), root);

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
  };
}
