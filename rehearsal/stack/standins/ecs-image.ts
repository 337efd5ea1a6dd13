// ECS tasks whose containers run images that stand for this machine (no container engine
// here): the Postgres pooler's task (components/target/pooler), node's Debian bookworm
// image running `ferry pooler serve` after a fetch container (the AWS CLI's image) copied
// ferry's bundle and the RDS CA bundle from the stack's bucket into the task's volumes.
//
// How each part of the task definition is honoured:
//   - the image: node's `*-bookworm` images are Debian 12 with node 20, which this machine
//     is (scripts/setup-system.sh); what the container's command installs with apt-get
//     (Debian's `pgbouncer`) must be installed here already: the image's apt-get is a
//     stand-in that installs nothing and fails, as apt-get does, on a package it cannot
//     find (exit 100, "Unable to locate package"). There is no network install here;
//   - the fetch image: the AWS CLI's `aws s3 cp s3://B/K DEST` copies from the S3
//     stand-in (a missing key fails as the CLI does: 404 on HeadObject);
//   - volumes: a directory each, bind-mounted at each container's mount points in a mount
//     namespace of the task's own, so both containers' commands run as declared;
//   - dependsOn SUCCESS: the fetch container runs to completion first; a non-zero exit
//     stops the task before the main container starts
//     (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDependency.html);
//   - environment and secrets: as for the app's tasks (ecs.ts: Secrets Manager / SSM
//     stand-ins, unpinned ARNs read the current version when the task starts);
//   - awsvpc: each task has its own network interface and address
//     (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking-awsvpc.html),
//     where `ferry pooler serve` binds 0.0.0.0. On one machine each task gets a loopback
//     address of its own instead (Cloud Map's name resolves to it, cloud.ts), and the
//     stand-in appends `--listen ADDR --control-listen ADDR` to the container's command:
//     the one change it makes to what the task definition declares.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ContainerDefinition } from "../../../policy/providers";
import { containersOf } from "../../../policy/providers";
import { tempDir } from "../../servers";
import { resolveSecrets, type EcsContext } from "./ecs";
import type { FleetSpec } from "./fleet";

/** node's Debian 12 (bookworm) images, at the node major this machine has. */
export function isMachineImage(ref: string): boolean {
  return /^(docker\.io\/)?(library\/)?node:20(\.\d+){0,2}-bookworm(-slim)?$/.test(ref);
}

/** Whether a task definition's essential container runs an image that stands for this machine. */
export function isMachineTask(ctx: EcsContext, taskDefinition: Record<string, unknown>): boolean {
  const main = containersOf(taskDefinition).find((c) => c.essential !== false);
  return !!main?.image && !!ctx.registry.machineImage?.(main.image);
}

const env = (c: ContainerDefinition) => Object.fromEntries((c.environment ?? []).map((e) => [e.name, e.value]));

/** The image's apt-get: Debian's packages as setup-system.sh installed them, nothing fetched. */
const APT_GET = `#!/bin/sh
mode=""
for a in "$@"; do
  case "$a" in
    update) [ -z "$mode" ] && exit 0 ;;
    install) mode=install ;;
    -*|*=*) ;;
    *) if [ "$mode" = install ] && ! dpkg -s "$a" >/dev/null 2>&1; then echo "E: Unable to locate package $a" >&2; exit 100; fi ;;
  esac
done
`;

/** The AWS CLI's `aws s3 cp`, reading the objects the task's environment names, staged from the S3 stand-in under `staged`. */
const awsCli = (staged: string) => `#!/bin/sh
[ "$1 $2" = "s3 cp" ] || { echo "aws: the rehearsal's task image runs only 'aws s3 cp'" >&2; exit 252; }
shift 2; src=""; dest=""
for a in "$@"; do case "$a" in --only-show-errors) ;; --*) echo "aws: unsupported option $a" >&2; exit 252 ;; *) if [ -z "$src" ]; then src=$a; else dest=$a; fi ;; esac; done
key=\${src#s3://*/}
f="${staged}/\${src#s3://}"
[ -f "$f" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key \\"$key\\" does not exist" >&2; exit 1; }
cp "$f" "$dest"
`;

function writeTool(dir: string, name: string, text: string): void {
  writeFileSync(join(dir, name), text);
  chmodSync(join(dir, name), 0o755);
}

/** A mount namespace of the task's own where each volume's directory is at its container path. */
function bindVolumes(mounts: Array<{ dir: string; path: string }>): string[] {
  for (const m of mounts) mkdirSync(m.path, { recursive: true });
  const script = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"';
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", ...mounts.flatMap((m) => [m.dir, m.path]), "--"];
}

/** Every s3:// object a container's environment names, copied from the S3 stand-in (absent ones left absent). */
function stageObjects(ctx: EcsContext, environment: Record<string, string>, staged: string): void {
  for (const value of Object.values(environment)) {
    const url = /^s3:\/\/([^/]+)\/(.+)$/.exec(value);
    const bytes = url && ctx.aws.object(url[1], url[2]);
    if (!url || !bytes) continue;
    mkdirSync(dirname(join(staged, url[1], url[2])), { recursive: true });
    writeFileSync(join(staged, url[1], url[2]), bytes);
  }
}

/** `/bin/sh -c CMD` as ECS runs it (entryPoint + command), or the command joined. */
function shellCommand(c: ContainerDefinition): string {
  const argv = [...((c as { entryPoint?: string[] }).entryPoint ?? []), ...(c.command ?? [])];
  return argv[0] === "/bin/sh" && argv[1] === "-c" ? argv[2] : argv.join(" ");
}

/**
 * One task of a machine task definition, started at `address`: its volumes made, each
 * container it depends on (SUCCESS) run to completion, then the essential container's
 * command as a fleet spec. Throws, naming the container, where ECS would stop the task.
 */
export function machineTaskSpec(ctx: EcsContext, taskDefinition: Record<string, unknown>, what: string, process: string, address: string): FleetSpec {
  const containers = containersOf(taskDefinition);
  const main = containers.find((c) => c.essential !== false)!;
  const dir = tempDir("ecs-image-task");
  const tools = join(dir, "bin");
  const staged = join(dir, "s3");
  mkdirSync(tools, { recursive: true });
  writeTool(tools, "apt-get", APT_GET);
  writeTool(tools, "aws", awsCli(staged));
  const volumes = new Map(((taskDefinition.volumes as { name: string }[] | undefined) ?? []).map((v) => [v.name, join(dir, "volumes", v.name)]));
  for (const path of volumes.values()) mkdirSync(path, { recursive: true });
  const launcherOf = (c: ContainerDefinition) => bindVolumes((c.mountPoints ?? []).map((m) => ({ dir: volumes.get(m.sourceVolume)!, path: m.containerPath })));
  const path = `${tools}:${globalThis.process.env.PATH ?? "/usr/bin:/bin"}`;
  for (const dep of main.dependsOn ?? []) {
    const c = containers.find((x) => x.name === dep.containerName)!;
    stageObjects(ctx, env(c), staged);
    const run = spawnSync(launcherOf(c)[0], [...launcherOf(c).slice(1), "/bin/sh", "-c", shellCommand(c)], { env: { PATH: path, ...env(c) }, encoding: "utf8" });
    if (run.status !== 0 && dep.condition === "SUCCESS") {
      throw new Error(`${what}: the task stopped: container ${c.name} exited ${run.status ?? run.signal} (${(run.stderr || "no output").trim().split("\n").pop()}), and ${main.name} waits for its SUCCESS`);
    }
  }
  const secrets = resolveSecrets(ctx, main);
  return {
    name: `aws-${process}`,
    platform: "ecs",
    http: false,
    env: { ...env(main), ...secrets, PATH: path },
    launch: { kind: "image", command: `${shellCommand(main)} --listen ${address} --control-listen ${address}`, launcher: launcherOf(main) },
  };
}
