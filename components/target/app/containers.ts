// ECS container definitions, as plain JSON-able objects (what RegisterTaskDefinition
// takes). Config vars are only ever `secrets` (valueFrom a Secrets Manager JSON key,
// pinned to a version), never `environment`: the environment holds only what is not a
// config var (PORT, APP_DIR, where the slug is, the slug-run script). A local stand-in
// can start a process from these alone: the command, the secret names and where each
// comes from, the port.
//
// A slug process is two containers sharing two task volumes (Amazon ECS Developer Guide,
// "Container dependency" and "Bind mounts" on Fargate): `slug-fetch` copies the slug from
// S3 and writes bin/slug-run, then exits; `app` starts on the Heroku stack image only
// when it exited 0 (`dependsOn` SUCCESS) and runs `slug-run /slug/slug.tgz TYPE`.
// Every task, slug or image, also holds the RDS CA bundle at RDS_CA_IN_TASK (./rds-ca.ts):
// a slug task's slug-fetch copies it too; an image task gets a `ca-fetch` init container
// for it, the app starting once that exited 0.

import { RDS_CA_DIR, RDS_CA_IN_TASK, RDS_CA_VOLUME } from "./rds-ca";
import { POOLER_CA_HASHED_IN_TASK, POOLER_CA_IN_TASK } from "../pooler/plan";

export const APP_CONTAINER = "app";
export const FETCH_CONTAINER = "slug-fetch";
/** An image task's init container that puts the RDS CA bundle in place (a slug task's slug-fetch does it). */
export const CA_FETCH_CONTAINER = "ca-fetch";
const SLUG_DIR = "/slug";
const APP_DIR = "/app";
/** `heroku local` and slug-run use 5000 when a process has no port of its own. */
export const DEFAULT_PORT = 5000;

export interface SecretRef {
  /** The environment variable the app reads. */
  name: string;
  /** `<secret ARN>:<json key>::<version id>` (ECS: "Pass Secrets Manager secrets through environment variables"). */
  valueFrom: string;
}

export interface LogTarget {
  group: string;
  region: string;
  streamPrefix: string;
}

interface ContainerBase {
  secrets: SecretRef[];
  /** s3://bucket/certs/...: the RDS CA bundle, copied into every task at RDS_CA_IN_TASK before the app starts. */
  rdsCaUrl: string;
  /** The image that copies it (the AWS CLI's). */
  fetchImage: string;
  /** s3://bucket/certs/pooler-ca.pem where the app reaches Postgres through the pooler: copied beside the RDS bundle. */
  poolerCaUrl?: string;
  port?: number;
  logs: LogTarget;
  /** Non-secret marker of where the data lives: a change makes a new task definition revision. */
  dataGeneration: string;
  labels: Record<string, string>;
}

export interface SlugContainers extends ContainerBase {
  kind: "slug";
  stackImage: string;
  /** s3://bucket/key of the slug copied out of Heroku. */
  slugUrl: string;
  /** The Procfile type to run, or the dyno name of a one-off. */
  processType: string;
  /** A one-off command (release override, Scheduler job) instead of the Procfile entry. */
  command?: string;
  /** The text of bin/slug-run. */
  slugRun: string;
}

export interface ImageContainers extends ContainerBase {
  kind: "image";
  image: string;
  command?: string;
}

export type ContainerSpec = SlugContainers | ImageContainers;

type Json = Record<string, unknown>;

function awslogs(logs: LogTarget): Json {
  return {
    logDriver: "awslogs",
    options: { "awslogs-group": logs.group, "awslogs-region": logs.region, "awslogs-stream-prefix": logs.streamPrefix },
  };
}

const env = (vars: Record<string, string | undefined>) =>
  Object.entries(vars).flatMap(([name, value]) => (value === undefined ? [] : [{ name, value }]));

/** The `/slug` and `/app` task volumes a slug task needs (bind mounts on the task's ephemeral storage). */
export const SLUG_VOLUMES = [{ name: "slug" }, { name: "app" }];
/** Every task's RDS CA volume, mounted at the bundle's directory. */
export const CA_VOLUMES = [{ name: RDS_CA_VOLUME }];

/** The task's volumes: the RDS CA's, and a slug task's `/slug` and `/app`. */
export function taskVolumes(kind: ContainerSpec["kind"]): { name: string }[] {
  return kind === "slug" ? [...SLUG_VOLUMES, ...CA_VOLUMES] : CA_VOLUMES;
}

/** Copy the RDS CA bundle from the bucket into the CA volume (a shell line for a fetch container). */
const copyRdsCa = `aws s3 cp --only-show-errors "$RDS_CA_URL" ${RDS_CA_IN_TASK}`;
// Twice: as a file (DATABASE_URL's sslrootcert, NODE_EXTRA_CA_CERTS) and under its subject
// hash in SSL_CERT_DIR (OpenSSL's lookup: Ruby's Redis clients), pooler/plan.ts says why.
const copyPoolerCa = `; aws s3 cp --only-show-errors "$POOLER_CA_URL" ${POOLER_CA_IN_TASK}; aws s3 cp --only-show-errors "$POOLER_CA_URL" ${POOLER_CA_HASHED_IN_TASK}`;
/** The CA copies of a task: the RDS bundle, and the pooler's CA where there is one (absent, the line is as it always was). */
const copyCas = (spec: ContainerBase) => `${copyRdsCa}${spec.poolerCaUrl ? copyPoolerCa : ""}`;
const caMount = (readOnly: boolean) => ({ sourceVolume: RDS_CA_VOLUME, containerPath: RDS_CA_DIR, readOnly });

export function containerDefinitions(spec: ContainerSpec): Json[] {
  const port = spec.port ?? DEFAULT_PORT;
  const common = {
    essential: true,
    secrets: spec.secrets.map((s) => ({ name: s.name, valueFrom: s.valueFrom })),
    portMappings: spec.port === undefined ? [] : [{ containerPort: spec.port, protocol: "tcp" }],
    logConfiguration: awslogs(spec.logs),
    dockerLabels: spec.labels,
    // Heroku gives a process 30 s between SIGTERM and SIGKILL; so does this.
    stopTimeout: 30,
  };
  if (spec.kind === "image") {
    return [
      {
        name: CA_FETCH_CONTAINER,
        image: spec.fetchImage,
        essential: false,
        entryPoint: ["/bin/sh", "-c"],
        command: [`set -eu; ${copyCas(spec)}`],
        environment: env({ RDS_CA_URL: spec.rdsCaUrl, POOLER_CA_URL: spec.poolerCaUrl }),
        mountPoints: [caMount(false)],
        logConfiguration: awslogs({ ...spec.logs, streamPrefix: `${spec.logs.streamPrefix}-ca-fetch` }),
      },
      {
        name: APP_CONTAINER,
        image: spec.image,
        ...(spec.command ? { command: ["/bin/sh", "-c", spec.command] } : {}),
        environment: env({ PORT: String(port), FERRY_DATA_GENERATION: spec.dataGeneration }),
        mountPoints: [caMount(true)],
        dependsOn: [{ containerName: CA_FETCH_CONTAINER, condition: "SUCCESS" }],
        ...common,
      },
    ];
  }
  return [
    {
      name: FETCH_CONTAINER,
      image: spec.fetchImage,
      essential: false,
      entryPoint: ["/bin/sh", "-c"],
      // /app is made writable for the stack image's unprivileged user; slug-run unpacks there.
      command: [`set -eu; aws s3 cp --only-show-errors "$SLUG_URL" ${SLUG_DIR}/slug.tgz; printf '%s' "$SLUG_RUN" > ${SLUG_DIR}/slug-run; chmod 0755 ${SLUG_DIR}/slug-run; chmod 1777 ${APP_DIR}; ${copyCas(spec)}`],
      environment: env({ SLUG_URL: spec.slugUrl, SLUG_RUN: spec.slugRun, RDS_CA_URL: spec.rdsCaUrl, POOLER_CA_URL: spec.poolerCaUrl }),
      mountPoints: [
        { sourceVolume: "slug", containerPath: SLUG_DIR, readOnly: false },
        { sourceVolume: "app", containerPath: APP_DIR, readOnly: false },
        caMount(false),
      ],
      logConfiguration: awslogs({ ...spec.logs, streamPrefix: `${spec.logs.streamPrefix}-fetch` }),
    },
    {
      name: APP_CONTAINER,
      image: spec.stackImage,
      // slug-run is a bash script (profile scripts are bash, as on a dyno); the stack image has bash.
      entryPoint: ["/bin/bash"],
      command: [`${SLUG_DIR}/slug-run`, `${SLUG_DIR}/slug.tgz`, spec.processType],
      environment: env({ APP_DIR, PORT: String(port), SLUG_COMMAND: spec.command, FERRY_DATA_GENERATION: spec.dataGeneration }),
      mountPoints: [
        { sourceVolume: "slug", containerPath: SLUG_DIR, readOnly: true },
        { sourceVolume: "app", containerPath: APP_DIR, readOnly: false },
        caMount(true),
      ],
      dependsOn: [{ containerName: FETCH_CONTAINER, condition: "SUCCESS" }],
      ...common,
    },
  ];
}

/** Secret references for `names`, each a JSON key of the secret at one version. */
export function secretRefs(names: string[], secretArn: string, versionId: string): SecretRef[] {
  return [...names].sort().map((name) => ({ name, valueFrom: `${secretArn}:${name}::${versionId}` }));
}
