// ECS on Fargate, as the rehearsal stands it in: a task is started from its task
// definition's declared inputs alone. Its code is the slug the fetch container names
// (SLUG_URL, read from the S3 stand-in, where the program's slug copy put it), run by the
// bin/slug-run the task definition ships (SLUG_RUN), with the container's command, its
// `environment`, and its `secrets` resolved against the Secrets Manager and SSM
// stand-ins (valueFrom: a secret ARN with JSON key and version id, or a parameter ARN).
// The volumes are directories of the task: each mount point's container path is mapped
// to its volume's directory in the command and the environment, except the RDS CA
// bundle's (/etc/ferry): the app reads that path from its DATABASE_URL (a secret, handed
// over untouched), so the task runs in a mount namespace of its own where the volume's
// directory is bind-mounted there, as the container sees it; the fetch container's copy of
// the bundle (RDS_CA_URL, from the S3 stand-in where the program's step put it) fills it.
//
// What differs from Fargate, and why:
//   - awsvpc gives each task its own address; on one machine each task gets its own
//     port instead (PORT is overridden, and the target group registers that port);
//   - there is no container engine here: an image reference (a box's app) is mapped to
//     the rehearsal app's slug by the registry stand-in below; the slug's tree is laid out
//     as Mastodon's image is (config/puma.rb, streaming/index.js, a Gemfile), so the
//     container's declared command runs as it is in the unpacked slug (slug-run's one-off
//     SLUG_COMMAND), stated in docs/rehearsal.md;
//   - a task's container is a process in a PID namespace of its own (app-process.ts), with
//     ECS_CONTAINER_METADATA_URI_V4 set as Fargate sets it.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ContainerDefinition } from "../../../policy/providers";
import { containersOf } from "../../../policy/providers";
import type { AwsApi, EcsTask } from "../../servers/aws-api";
import { tempDir } from "../../servers";
import { SLUG_RUN } from "../slug";
import { RDS_CA_DIR, RDS_CA_IN_TASK } from "../../../components/target/app/rds-ca";
import { POOLER_CA_HASHED_IN_TASK, POOLER_CA_IN_TASK } from "../../../components/target/pooler/plan";
import { startProcess } from "../../app-process";
import { platformEnv, type FleetSpec } from "./fleet";

/** Image reference -> the slug that stands in for it, and how to pick a process type. */
export interface ImageRegistry {
  /** The slug file an image stands for; throws naming the image when the registry has none. */
  slugFor(image: string): string;
  /**
   * The slug's process type for a container with no command of its own (the image's
   * default command); with a command, only the name of the process (slug-run's DYNO).
   */
  processTypeFor(command: string | undefined, port: number | undefined): string;
  /** Whether an image stands for this machine, its command run here as declared (ecs-image.ts). */
  machineImage?(image: string): boolean;
}

/**
 * The registry stand-in: every image the stack names is the rehearsal app, packaged as
 * the slug; a container's command runs as declared in the slug's tree. Without one, the
 * image's default command is the slug's `release` for the release command, `web` for a
 * process with a port, `worker` otherwise.
 */
export function rehearsalRegistry(slugFile: string, images: string[], releaseCommand: string | undefined): ImageRegistry {
  const known = new Set(images);
  return {
    slugFor(image) {
      if (!known.has(image)) throw new Error(`CannotPullContainerError: ${image}: not in the rehearsal's registry (it holds ${[...known].join(", ") || "nothing"})`);
      return slugFile;
    },
    processTypeFor(command, port) {
      if (releaseCommand !== undefined && command === releaseCommand) return "release";
      return port === undefined ? "worker" : "web";
    },
  };
}

/** What a task runs: a slug process, with its whole environment and where it listens. */
export interface TaskLaunch {
  slugRun: string;
  slug: string;
  processType: string;
  /** The container's own command (an image's), run in the slug's tree instead of the Procfile's. */
  command?: string;
  env: Record<string, string>;
  /** What the process starts under: a mount namespace with the task's RDS CA volume at its path (empty: none). */
  launcher: string[];
  /** The app container's port mapping, if it serves HTTP. */
  port?: number;
  healthPath?: string;
}

export interface EcsContext {
  aws: AwsApi;
  registry: ImageRegistry;
  /** An SSM parameter's value by name (valueFrom an SSM parameter ARN). */
  ssmParameter(name: string): string | undefined;
}

const APP = "app";
const FETCH = "slug-fetch";
const CA_FETCH = "ca-fetch";

/**
 * The task's RDS CA volume at its container path: the fetch container's copy of the
 * bundle (`aws s3 cp "$RDS_CA_URL" ...`), done against the S3 stand-in, then a launcher
 * that bind-mounts the volume there for the task's processes only. A bundle the bucket
 * lacks fails the task as the fetch container's `aws s3 cp` would.
 */
function mountRdsCa(ctx: EcsContext, containers: ContainerDefinition[], app: ContainerDefinition, volumes: Map<string, string>, what: string): string[] {
  const mount = (app.mountPoints ?? []).find((m) => m.containerPath === RDS_CA_DIR);
  if (!mount) return [];
  const fetch = containers.find((c) => (c.name === FETCH || c.name === CA_FETCH) && env(c).RDS_CA_URL);
  const url = /^s3:\/\/([^/]+)\/(.+)$/.exec(fetch ? env(fetch).RDS_CA_URL : "");
  if (!url) throw new Error(`${what}: ${RDS_CA_DIR} is mounted but no fetch container names an s3:// RDS_CA_URL`);
  const bytes = ctx.aws.object(url[1], url[2]);
  if (!bytes) throw new Error(`${what}: ${fetch!.name} exited 1: fatal error: An error occurred (404) when calling the HeadObject operation: Key "${url[2]}" does not exist (the RDS CA step did not run?)`);
  const dir = volumes.get(mount.sourceVolume)!;
  writeFileSync(join(dir, RDS_CA_IN_TASK.slice(RDS_CA_DIR.length + 1)), bytes);
  copyPoolerCa(ctx, env(fetch!).POOLER_CA_URL, dir, what);
  mkdirSync(RDS_CA_DIR, { recursive: true });
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind "$1" ${RDS_CA_DIR} && shift && exec "$@"`, "sh", dir];
}

/**
 * The pooler's CA certificate beside the RDS bundle, where the fetch container names one
 * (POOLER_CA_URL: the app reaches Postgres through the pooler, its DATABASE_URL's
 * sslrootcert), and under its subject hash (SSL_CERT_DIR: Redis through the proxy), as the
 * fetch container's two copies put it. Missing from the bucket, the copy fails as `aws s3 cp` does.
 */
function copyPoolerCa(ctx: EcsContext, url: string | undefined, dir: string, what: string): void {
  if (!url) return;
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  const bytes = m && ctx.aws.object(m[1], m[2]);
  if (!bytes) throw new Error(`${what}: the CA fetch exited 1: fatal error: An error occurred (404) when calling the HeadObject operation: Key "${m?.[2] ?? url}" does not exist (the pooler's TLS step did not run?)`);
  for (const path of [POOLER_CA_IN_TASK, POOLER_CA_HASHED_IN_TASK]) {
    const inVolume = join(dir, path.slice(RDS_CA_DIR.length + 1));
    mkdirSync(dirname(inVolume), { recursive: true });
    writeFileSync(inVolume, bytes);
  }
}

/** `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:version-stage:version-id]` split into the secret and the rest. */
export function parseSecretRef(valueFrom: string): { secretArn: string; jsonKey?: string; versionStage?: string; versionId?: string } {
  const parts = valueFrom.split(":");
  if (parts.length < 7 || parts[2] !== "secretsmanager") throw new Error(`${valueFrom}: not a Secrets Manager ARN`);
  const [jsonKey, versionStage, versionId] = parts.slice(7);
  return { secretArn: parts.slice(0, 7).join(":"), jsonKey: jsonKey || undefined, versionStage: versionStage || undefined, versionId: versionId || undefined };
}

/** One `secrets` entry's value, as the ECS agent resolves it before the container starts. */
function resolveSecret(ctx: EcsContext, s: { name: string; valueFrom: string }): string {
  if (/^arn:aws[a-z-]*:ssm:/.test(s.valueFrom)) {
    const name = s.valueFrom.replace(/^arn:[^:]+:ssm:[^:]*:[^:]*:parameter/, "");
    const value = ctx.ssmParameter(name);
    if (value === undefined) throw new Error(`ResourceInitializationError: unable to retrieve secret ${s.name} from SSM: parameter ${name} not found`);
    return value;
  }
  const ref = parseSecretRef(s.valueFrom);
  const raw = ctx.aws.secretValue(ref.secretArn, ref.versionId);
  if (!ref.jsonKey) return raw;
  const parsed = JSON.parse(raw) as Record<string, unknown>;
  if (!(ref.jsonKey in parsed)) throw new Error(`ResourceInitializationError: unable to retrieve secret ${s.name}: the secret has no JSON key ${ref.jsonKey}`);
  return String(parsed[ref.jsonKey]);
}

const env = (c: ContainerDefinition) => Object.fromEntries((c.environment ?? []).map((e) => [e.name, e.value]));

/** A container's `secrets`, each resolved as the ECS agent does before the container starts. */
export function resolveSecrets(ctx: EcsContext, c: ContainerDefinition): Record<string, string> {
  return Object.fromEntries((c.secrets ?? []).map((s) => [s.name, resolveSecret(ctx, s)]));
}

/**
 * A task's launch from its task definition's inputs: the code (the fetch container's
 * slug, or the image's), the app container's command, environment and secrets.
 */
export function taskLaunch(ctx: EcsContext, taskDefinition: Record<string, unknown>, what: string): TaskLaunch {
  const containers = containersOf(taskDefinition);
  const app = containers.find((c) => c.name === APP);
  if (!app) throw new Error(`${what}: no "${APP}" container`);
  const dir = tempDir("ecs-task");
  const volumes = new Map<string, string>(((taskDefinition.volumes as { name: string }[] | undefined) ?? []).map((v) => [v.name, join(dir, v.name)]));
  for (const path of volumes.values()) mkdirSync(path, { recursive: true });
  // A container path inside the task is its volume's directory here.
  const mounts = (app.mountPoints ?? []).map((m) => ({ from: m.containerPath, to: volumes.get(m.sourceVolume)! })).sort((a, b) => b.from.length - a.from.length);
  const local = (value: string) => mounts.reduce((v, m) => (v === m.from || v.startsWith(`${m.from}/`) ? m.to + v.slice(m.from.length) : v), value);
  const secrets = resolveSecrets(ctx, app);
  const environment = { ...Object.fromEntries(Object.entries(env(app)).map(([k, v]) => [k, local(v)])), ...secrets };
  const port = app.portMappings?.[0]?.containerPort;
  const healthPath = (app as { dockerLabels?: Record<string, string> }).dockerLabels?.["ferry.healthPath"];
  const launcher = mountRdsCa(ctx, containers, app, volumes, what);
  const fetch = containers.find((c) => c.name === FETCH);
  if (fetch) {
    // What the fetch container does (`aws s3 cp "$SLUG_URL" /slug/slug.tgz`, the slug-run
    // script from SLUG_RUN), done against the S3 stand-in.
    const fetchEnv = env(fetch);
    const url = /^s3:\/\/([^/]+)\/(.+)$/.exec(fetchEnv.SLUG_URL ?? "");
    if (!url) throw new Error(`${what}: the fetch container names no s3:// SLUG_URL`);
    const bytes = ctx.aws.object(url[1], url[2]);
    if (!bytes) throw new Error(`${what}: CannotPullContainerError: fatal error: An error occurred (404) when calling the HeadObject operation: Key "${url[2]}" does not exist (the slug copy did not run?)`);
    const fetchMount = (p: string) => (fetch.mountPoints ?? []).find((m) => p.startsWith(`${m.containerPath}/`));
    const slugMount = fetchMount("/slug/slug.tgz");
    const slugDir = slugMount ? volumes.get(slugMount.sourceVolume)! : join(dir, "slug");
    mkdirSync(slugDir, { recursive: true });
    writeFileSync(join(slugDir, "slug.tgz"), bytes);
    writeFileSync(join(slugDir, "slug-run"), fetchEnv.SLUG_RUN ?? "");
    chmodSync(join(slugDir, "slug-run"), 0o755);
    // The app container: entryPoint /bin/sh, command [slug-run, slug, type].
    const [slugRun, slug, processType] = (app.command ?? []).map(local);
    if (!slugRun || !slug || !processType) throw new Error(`${what}: the app container's command is not [slug-run, slug, process type]`);
    return { slugRun, slug, processType, env: environment, port, healthPath, launcher };
  }
  if (!app.image) throw new Error(`${what}: the app container has no image`);
  const command = app.command?.[0] === "/bin/sh" && app.command[1] === "-c" ? app.command[2] : app.command?.join(" ");
  return { slugRun: SLUG_RUN, slug: ctx.registry.slugFor(app.image), processType: ctx.registry.processTypeFor(command, port), command, env: environment, port, healthPath, launcher };
}

/** How the rehearsal runs a service's tasks, for its log. */
export function serviceWhat(launch: TaskLaunch): string {
  return `${launch.command ? `\`${launch.command}\` in` : launch.processType + " of"} ${launch.slug.includes("rehearsal-slug") ? "the rehearsal slug" : "the slug copied to S3"} through slug-run, ${Object.keys(launch.env).length} variables`;
}

/** A Fleet spec that runs a service's tasks (one process each) from the launch. */
export function serviceFleetSpec(process: string, launch: TaskLaunch): FleetSpec {
  return {
    name: `aws-${process}`,
    platform: "ecs",
    http: launch.port !== undefined,
    env: launch.env,
    launch: { kind: "slug", file: launch.slug, slugRun: launch.slugRun, processType: launch.processType, command: launch.command, launcher: launch.launcher },
  };
}

/**
 * Run a one-off task (RunTask: the release phase) to completion: PROVISIONING for
 * `startDelayMs` (Fargate provisions it: ecs-service.ts), then its app container runs;
 * its exit code is the task's, as DescribeTasks reports it. Output goes to `logFile`.
 */
export function runOneOff(task: EcsTask, launch: TaskLaunch, logFile: string, machine: { env: Record<string, string>; schema: string }, startDelayMs = 0): void {
  task.lastStatus = "PROVISIONING";
  task.containers = [{ name: APP, lastStatus: "PENDING" }];
  let cancelled = false;
  task.stop = () => {
    cancelled = true;
    task.lastStatus = "STOPPED";
    task.stopCode = "UserInitiated";
    task.containers = [{ name: APP, lastStatus: "STOPPED", reason: "stopped before it started" }];
  };
  setTimeout(() => {
    if (!cancelled) startOneOff(task, launch, logFile, machine);
  }, startDelayMs);
}

function startOneOff(task: EcsTask, launch: TaskLaunch, logFile: string, machine: { env: Record<string, string>; schema: string }): void {
  const name = `ecs-run-task-${launch.processType}`;
  task.lastStatus = "RUNNING";
  task.containers = [{ name: APP, lastStatus: "RUNNING" }];
  const started = startProcess({
    name,
    platform: "ecs",
    launch: { kind: "slug", slugRun: launch.slugRun, slug: launch.slug, processType: launch.processType, command: launch.command, launcher: launch.launcher, appDir: join(tempDir("ecs-run-task"), "app") },
    env: { ...machine.env, ...launch.env, ...platformEnv("ecs", launch.processType, 1, name, machine.schema) },
    logFile,
    oneOff: true,
  });
  void started.then((p) => {
    task.stop = () => void p.stop();
    return p.exited;
  }).then(({ code, signal }) => {
    task.lastStatus = "STOPPED";
    task.stopCode = signal ? "UserInitiated" : "EssentialContainerExited";
    task.containers = [{ name: APP, lastStatus: "STOPPED", exitCode: code ?? 137, reason: signal ? `killed by ${signal}` : undefined }];
  });
}
