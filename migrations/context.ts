// What every stage needs: the validated config, where each component stands, where
// commands run, and the secrets as Pulumi secrets (they only ever reach `environment`).
import type * as pulumi from "@pulumi/pulumi";
import type { Runner } from "../components/runner";
import type { HerokuSource } from "../components/source/heroku";
import type { Component, FerryConfig, Stage, VultrSourceConfig } from "../config";
import { atLeast, componentStage, componentsOf } from "../config";
import { ENV, redisSteps } from "./commands";
import type { OldHost } from "./commands";

export interface StageSecrets {
  sourceDatabaseUrl?: pulumi.Output<string>;
  sourceRedisUrl?: pulumi.Output<string>;
  herokuApiKey?: pulumi.Output<string>;
  sshPrivateKey?: pulumi.Output<string>;
}

export interface TargetEndpoints {
  /** The stores' own URLs (what apps are configured with). */
  postgresUrl: pulumi.Output<string>;
  redisUrl: pulumi.Output<string>;
  /** The URLs the runner uses: the same, or through the operator's port forwards. */
  runnerPostgresUrl: pulumi.Output<string>;
  runnerRedisUrl: pulumi.Output<string>;
  loadBalancerDnsName: pulumi.Output<string>;
  /** http(s)://<load balancer>: where the old nginx forwards to. */
  origin: pulumi.Output<string>;
  healthUrl: pulumi.Output<string>;
  healthPath: string;
  /** The stack's bucket: the final backups go under final-backup/. */
  bucket: pulumi.Output<string>;
  /** Redis as the source app reaches it through ferry:source.access (rediss://); only with a way in declared. */
  sourceAppRedisUrl?: pulumi.Output<string>;
}

export interface StageContext {
  name: string;
  config: FerryConfig;
  runner: Runner;
  secrets: StageSecrets;
  target: TargetEndpoints;
  /** The Vultr box's public address (vultr sources). */
  sourceAddress?: pulumi.Output<string>;
  /** The Heroku apps as read at provision (heroku sources): add-ons, domains, origins. */
  heroku?: HerokuSource;
  /** The pooler the app reaches its stores through (ferry:target.pooler): the cutover pauses, repoints and resumes it. */
  pooler?: PoolerAccess;
}

/** What the cutover needs of the pooler: where each replica's control API is, and the secrets that open it. */
export interface PoolerAccess {
  /** Every replica's control URL (https://host:port): no secret. */
  urls: string[];
  pauseTimeoutSeconds: number;
  /** The replicas proxy Redis too (the app's REDIS_URL names one): Redis's cutover pauses and repoints it. */
  redis: boolean;
  /** The environment of the step: the admin password, the CA the replicas' certificates chain to, and the app's logins on the target. */
  env: Record<string, pulumi.Input<string>>;
}

/**
 * What a step prints is kept as a secret output: a data-plane command's output may carry
 * data or a connection detail (a verify's differing rows, an error quoting a server), and
 * Pulumi stores a Command's stdout and stderr in the state and shows them in a diff.
 */
export const SECRET_OUTPUTS: pulumi.CustomResourceOptions = { additionalSecretOutputs: ["stdout", "stderr"] };

/** The runner, every step of which keeps its output secret (the stages read none of it). */
export function withSecretOutputs(runner: Runner): Runner {
  return {
    kind: runner.kind,
    role: runner.role,
    run: (name, step, opts = {}) => runner.run(name, step, { ...opts, ...SECRET_OUTPUTS }),
  };
}

export function stageOf(ctx: StageContext, component: Component): Stage {
  return componentStage(component, ctx.config.stages);
}

/** Whether this source has the component and it has reached `stage`. */
export function reached(ctx: StageContext, component: Component, stage: Stage): boolean {
  return componentsOf(ctx.config.source).includes(component) && atLeast(stageOf(ctx, component), stage);
}

/** A value parseConfig requires for this source; missing only when a caller skipped parseConfig. */
export function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing: build the stack from parseConfig()`);
  return value;
}

/** The Heroku source component (buildFerry creates it for every heroku source). */
export function herokuSource(ctx: StageContext): HerokuSource {
  return present(ctx.heroku, "the Heroku source component");
}

/**
 * Where a step finds the source store. A Heroku add-on's credentials rotate (Heroku
 * Postgres and Key-Value Store both do), so a Heroku step is given the app and add-on and
 * reads the add-on's current URL through the Platform API when it runs; a box's store
 * keeps the URL in the stack (ferry:sourceDatabaseUrl / ferry:sourceRedisUrl).
 */
export function postgresSourceEnv(ctx: StageContext): Record<string, pulumi.Input<string>> {
  const source = ctx.config.source;
  return source.kind === "heroku"
    ? herokuStoreEnv(ctx, present(source.postgres, "ferry:source.postgres"), ENV.sourceHerokuApp, ENV.sourceHerokuAddon)
    : { [ENV.sourceUrl]: present(ctx.secrets.sourceDatabaseUrl, "ferry:sourceDatabaseUrl") };
}

export function redisSourceEnv(ctx: StageContext): Record<string, pulumi.Input<string>> {
  const source = ctx.config.source;
  return source.kind === "heroku"
    ? herokuStoreEnv(ctx, present(source.redis, "ferry:source.redis"), ENV.sourceRedisHerokuApp, ENV.sourceRedisHerokuAddon)
    : { [ENV.sourceRedisUrl]: present(ctx.secrets.sourceRedisUrl, "ferry:sourceRedisUrl") };
}

/** A step that reads the source and writes the target. */
export function postgresEnv(ctx: StageContext): Record<string, pulumi.Input<string>> {
  return { ...postgresSourceEnv(ctx), [ENV.targetUrl]: ctx.target.runnerPostgresUrl };
}

export function redisEnv(ctx: StageContext): Record<string, pulumi.Input<string>> {
  return { ...redisSourceEnv(ctx), [ENV.targetRedisUrl]: ctx.target.runnerRedisUrl };
}

function herokuStoreEnv(ctx: StageContext, store: { app: string; addon: string }, appVar: string, addonVar: string): Record<string, pulumi.Input<string>> {
  return { [appVar]: store.app, [addonVar]: store.addon, ...herokuEnv(ctx) };
}

export function herokuEnv(ctx: StageContext): Record<string, pulumi.Input<string>> {
  return { [ENV.herokuApiKey]: present(ctx.secrets.herokuApiKey, "ferry:herokuApiKey") };
}

/** How ferry reaches the old box over SSH: its address, sudo unless root, and the only host key trusted. */
export function oldBoxHost(address: string, source: VultrSourceConfig): OldHost {
  return { ssh: `${source.ssh.user}@${address}:${source.ssh.port}`, sudo: source.ssh.user !== "root", hostKey: source.ssh.hostKey };
}

export function sshEnv(ctx: StageContext): Record<string, pulumi.Input<string>> {
  return { [ENV.sshKey]: present(ctx.secrets.sshPrivateKey, "ferry:sshPrivateKey") };
}

/** The Redis steps for this source (Heroku's self-signed TLS accepted explicitly). */
export function redisCommands(ctx: StageContext): ReturnType<typeof redisSteps> {
  return redisSteps(ctx.config.source.kind === "heroku");
}
