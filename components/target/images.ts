// The images the app's tasks run, copied once into the stack's own ECR. Fargate keeps no
// image cache, so every task start and every scheduled run is a pull; from private
// subnets all of them leave through the one NAT address, and Docker Hub allows 10
// anonymous pulls per hour per IPv4 address (https://docs.docker.com/docker-hub/usage/pulls/):
// `heroku/heroku:24` for every slug task would hit it within the first `pulumi up`s.
//
// How: skopeo on the runner (a Debian package its user data installs) copies each public
// image the stack names into a repository of its own, once per source reference (a
// changed reference copies again), and the task definitions name the copy by digest, so
// a later copy never changes what running tasks run. Not an ECR pull-through cache rule:
// for Docker Hub and GitHub's registry one needs the registry's credentials in Secrets
// Manager (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-creating-rule.html),
// an account the user may not have, and the cache re-pulls upstream as it sees fit.
// The copy is of the platform the tasks run on (linux/amd64: the task definitions'
// X86_64), as `skopeo copy` of a multi-platform image copies one platform.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { FerryConfig } from "../../config";
import type { Runner } from "../runner";
import { shellQuote } from "../shell";
import { UNREAD } from "./app/steps";

/** An image reference split as registries name it: host, repository path, tag or digest. */
export interface ImageName {
  host: string;
  path: string;
  tag?: string;
  digest?: string;
}

/** Docker's rules: no host means Docker Hub; a one-part path there is under `library/`. */
export function parseImage(ref: string): ImageName {
  const [name, digest] = ref.split("@");
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const hasHost = first.includes(".") || first.includes(":") || first === "localhost";
  let host = hasHost ? first : "docker.io";
  let rest = hasHost ? name.slice(slash + 1) : name;
  const colon = rest.lastIndexOf(":");
  const tag = colon > rest.lastIndexOf("/") ? rest.slice(colon + 1) : undefined;
  if (tag !== undefined) rest = rest.slice(0, colon);
  if (host === "index.docker.io" || host === "registry-1.docker.io") host = "docker.io";
  if (host === "docker.io" && !rest.includes("/")) rest = `library/${rest}`;
  return { host, path: rest, tag: tag ?? (digest ? undefined : "latest"), digest };
}

/** The fully qualified reference (docker.io spelled out), as skopeo takes it. */
export function qualified(image: ImageName): string {
  return `${image.host}/${image.path}${image.tag ? `:${image.tag}` : ""}${image.digest ? `@${image.digest}` : ""}`;
}

/** An image already in a private ECR registry needs no copy. */
export function inEcr(ref: string): boolean {
  return /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(parseImage(ref).host);
}

/** The stack's repository for an image: its registry and path under the stack's prefix (ECR: lowercase, . _ - /). */
export function mirrorRepositoryName(prefix: string, image: ImageName): string {
  return `${prefix}/${image.host}/${image.path}`.toLowerCase().replace(/[^a-z0-9._/-]/g, "-");
}

/** The tag the copy gets: the source's tag, or its digest's hex for a digest-only reference. */
export function mirrorTag(image: ImageName): string {
  return image.tag ?? `sha256-${(image.digest ?? "").replace(/^sha256:/, "")}`;
}

/** Every public image the stack's tasks run: the stack image of slug processes, the fetch image (every task's slug-fetch or ca-fetch), each process's own, and the pooler's. */
export function publicImages(config: Pick<FerryConfig, "target">): string[] {
  const compute = config.target.compute;
  const processes = Object.values(compute.processes);
  const slugTasks = processes.some((p) => p.image === undefined);
  const pooler = config.target.pooler;
  const refs = [
    ...(slugTasks ? [compute.stackImage] : []), ...(processes.length || pooler ? [compute.fetchImage] : []), ...processes.flatMap((p) => (p.image ? [p.image] : [])),
    ...(pooler ? [pooler.image] : []),
  ];
  return [...new Set(refs)].filter((r) => !inEcr(r));
}

export interface ImageCopy {
  source: string;
  repositoryUrl: string;
  region: string;
}

/**
 * The copy step: log skopeo in to ECR with a token the runner's role gets (through the
 * CLI's stdout to skopeo's stdin, never argv), copy the image, print where it landed.
 * The token and the auth file live in a private temporary directory removed on exit.
 */
export function imageCopyCommand(c: ImageCopy): string {
  const source = parseImage(c.source);
  const registry = c.repositoryUrl.split("/")[0];
  const dest = `${c.repositoryUrl}:${mirrorTag(source)}`;
  return [
    "set -eu",
    "d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT",
    `aws ecr get-login-password --region ${shellQuote(c.region)} | skopeo login --authfile "$d/auth.json" --username AWS --password-stdin ${shellQuote(registry)} >/dev/null`,
    `skopeo copy --retry-times 3 --authfile "$d/auth.json" --override-os linux --override-arch amd64 --digestfile "$d/digest" ${shellQuote(`docker://${qualified(source)}`)} ${shellQuote(`docker://${dest}`)} >&2`,
    `printf '{"source":"%s","image":"%s@%s"}\\n' ${shellQuote(c.source)} ${shellQuote(c.repositoryUrl)} "$(cat "$d/digest")"`,
  ].join("\n");
}

/** What a copy step printed: the copy's reference by digest. */
export function parseImageCopy(stdout: string, source: string): string {
  let parsed: { source?: unknown; image?: unknown };
  try {
    parsed = JSON.parse(stdout.trim().split("\n").pop() ?? "");
  } catch {
    throw new Error(`the copy of ${source} into ECR printed no JSON`);
  }
  if (parsed.source !== source || typeof parsed.image !== "string" || !/@sha256:[0-9a-f]{64}$/.test(parsed.image)) {
    throw new Error(`the copy of ${source} into ECR printed no image by digest`);
  }
  return parsed.image;
}

export interface ImageMirrorArgs {
  images: string[];
  /** Repository names start with it (one stack's copies together). */
  prefix: string;
  region: string;
  runner: Runner;
  tags: Record<string, string>;
}

export class ImageMirror extends pulumi.ComponentResource {
  /** Source reference -> the copy in ECR, by digest (known once the copy ran). */
  readonly refs: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ImageMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:ImageMirror", name, {}, opts);
    const byRepository = new Map<string, string[]>();
    for (const ref of args.images) {
      const repo = mirrorRepositoryName(args.prefix, parseImage(ref));
      byRepository.set(repo, [...(byRepository.get(repo) ?? []), ref]);
    }
    const repositories = [...byRepository.keys()].map((repo, i) => new aws.ecr.Repository(`${name}-repo-${i}`, {
      name: repo,
      // Copies of public images, kept by digest: a stack's destroy takes them along.
      forceDelete: true,
      imageTagMutability: "MUTABLE",
      tags: args.tags,
    }, { parent: this }));
    const grants = this.grantRunner(name, args, repositories);
    const copies = [...byRepository.entries()].flatMap(([, refs], i) => refs.map((source, j) => {
      const step = args.runner.run(`${name}-copy-${i}-${j}`, {
        create: repositories[i].repositoryUrl.apply((url) => imageCopyCommand({ source, repositoryUrl: url, region: args.region })),
        // A changed reference (a new tag) copies again; the same one never pulls twice.
        triggers: [source, repositories[i].repositoryUrl],
        // stdout is the copy's digest, which the task definitions read; skopeo's progress
        // (stderr) names registries only, but stays a secret like every step's.
      }, { parent: this, dependsOn: grants, additionalSecretOutputs: ["stderr"] });
      return stdoutOf(step).apply((stdout) => [source, stdout === undefined ? `${source}@${UNREAD}` : parseImageCopy(stdout, source)] as const);
    }));
    this.refs = pulumi.all(copies).apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({ refs: this.refs });
  }

  /** The runner's role may push into these repositories, and get ECR's login token. */
  private grantRunner(name: string, args: ImageMirrorArgs, repositories: aws.ecr.Repository[]): pulumi.Resource[] {
    const role = args.runner.role;
    if (!role || repositories.length === 0) return [];
    const policy = pulumi.all(repositories.map((r) => r.arn)).apply((arns) => JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        // GetAuthorizationToken has no resource-level permission (Service Authorization Reference: Amazon ECR).
        { Sid: "EcrLogin", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" },
        {
          Sid: "ImageCopy",
          Effect: "Allow",
          Action: ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
          Resource: arns,
        },
      ],
    }));
    return [new aws.iam.RolePolicy(`${name}-runner`, { role: role.id, policy }, { parent: this })];
  }
}

function stdoutOf(resource: pulumi.CustomResource): pulumi.Output<string | undefined> {
  if (resource instanceof command.local.Command || resource instanceof command.remote.Command) return resource.stdout;
  throw new Error("an image copy must be a command (local or remote)");
}
