// Build the program once per stage under Pulumi mocks and record what it declares:
// every resource's type, name and inputs (from the mock monitor) and the options that
// matter for safety (from a transformation: options never reach the mocks).
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type { FerryOutputs } from "../../program";
import type { FerryConfig } from "../../config";
import { ProviderWorld, Registration, checkRegistration, checkStack, worldOf } from "../providers";
import type { PlannedResource } from "./diff";
import { plannedResource } from "./planned";

type Declared = Omit<DeclaredResource, "options">;

/** Options a reviewer must see change: what protects data, and what adopts or replaces. */
const OPTIONS = ["protect", "retainOnDelete", "deleteBeforeReplace", "import"] as const;

let declared: Declared[] = [];
const options = new Map<string, Record<string, unknown>>();
/** Each registered resource's name: a registration's `dependsOn` names what it waits for (the policies read it). */
const names = new WeakMap<pulumi.Resource, string>();
/** The live state the stage's config describes, and what the providers would refuse so far. */
let world: ProviderWorld = { liveDnsRecords: new Map(), adopted: new Set() };
let refused: string[] = [];

/** The registration as the provider rules see it. */
function registration(d: Declared, opts: Record<string, unknown>): Registration {
  return { type: d.type, name: d.name, inputs: d.inputs, options: { ...opts, import: opts.import as string | undefined } };
}

/**
 * Outputs a provider would compute. Generic on purpose: any resource's address-like
 * outputs get a readable stand-in named after it, so interpolated URLs and DNS
 * contents in the plan say which resource they come from.
 */
function computedOutputs(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const host = `${name}.mock.invalid`;
  return {
    arn: `arn:mock:${name}`,
    ...awsArns(type, name, inputs), address: host, dnsName: host, primaryEndpointAddress: host,
    // Addresses from the documentation ranges (RFC 5737): the provider rules check that a
    // CIDR built from one is a CIDR, as AWS does.
    privateIp: "10.0.0.10", publicIp: "192.0.2.10", mainIp: "192.0.2.20", bucket: `${name}-bucket`, keyName: name, latestVersion: 1,
  };
}

/**
 * ARNs in the form the provider rules check where one resource names another by ARN: a
 * task definition's secrets name a secret's ARN (ECS wants a Secrets Manager ARN), a
 * service its task definition's (family:revision).
 */
function awsArns(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const account = "arn:aws:%s:us-east-1:000000000000";
  const at = (service: string) => account.replace("%s", service);
  switch (type) {
    case "aws:secretsmanager/secret:Secret": return { arn: `${at("secretsmanager")}:secret:${String(inputs.namePrefix ?? name)}AbCdEf` };
    case "aws:secretsmanager/secretVersion:SecretVersion": return { versionId: `${name}-version` };
    case "aws:ecs/cluster:Cluster": return { arn: `${at("ecs")}:cluster/${name}`, name };
    case "aws:ecs/taskDefinition:TaskDefinition": {
      const family = `${at("ecs")}:task-definition/${String(inputs.family)}`;
      // A changed definition is a new revision, as ECS registers one: what follows the
      // revision (the release phase, the services) shows as running again at that stage.
      const revision = 1 + (parseInt(createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 8), 16) % 100_000);
      return { arn: `${family}:${revision}`, arnWithoutRevision: family, revision };
    }
    case "aws:iam/role:Role": return { arn: `arn:aws:iam::000000000000:role/${name}`, name };
    case "aws:ecr/repository:Repository":
      return { arn: `${at("ecr")}:repository/${String(inputs.name)}`, repositoryUrl: `000000000000.dkr.ecr.us-east-1.amazonaws.com/${String(inputs.name)}` };
    // ACM's DNS validation option per domain (the records the program declares from them).
    case "aws:acm/certificate:Certificate":
      return {
        arn: `${at("acm")}:certificate/00000000-0000-4000-8000-000000000000`,
        domainValidationOptions: [inputs.domainName, ...((inputs.subjectAlternativeNames as string[] | undefined) ?? [])].map((d, i) => ({
          domainName: String(d), resourceRecordName: `_validation${i}.${String(d)}.`, resourceRecordType: "CNAME", resourceRecordValue: `_validation${i}.mock.acm-validations.aws.`,
        })),
      };
    default: return {};
  }
}

let mocked = false;

function installMocks(stack: string): void {
  if (mocked) return;
  mocked = true;
  pulumi.runtime.setMocks({
    newResource(args) {
      const d = { type: args.type, name: args.name, inputs: args.inputs };
      declared.push(d);
      // What the provider would refuse fails the registration, as it would fail `pulumi up`.
      const problems = checkRegistration(registration(d, options.get(`${args.type}::${args.name}`) ?? {}), world);
      if (problems.length > 0) {
        refused.push(...problems);
        throw new Error(problems.join("\n"));
      }
      return { id: args.id || `${args.name}-id`, state: { ...computedOutputs(args.type, args.name, args.inputs), ...args.inputs } };
    },
    call(args) {
      // Invokes: Cloudflare's published ranges are the only one the program makes.
      if (args.token === "cloudflare:index/getIpRanges:getIpRanges") return { ipv4Cidrs: ["173.245.48.0/20"], ipv6Cidrs: ["2400:cb00::/32"] };
      return args.inputs;
    },
  }, "ferry", stack, false);
}

/** Wait until nothing new is declared for a few turns: applies declare resources late. */
async function settle(): Promise<void> {
  let last = -1;
  let quiet = 0;
  while (quiet < 10) {
    await new Promise((r) => setTimeout(r, 5));
    quiet = declared.length === last ? quiet + 1 : 0;
    last = declared.length;
  }
}

const recordOptions: pulumi.ResourceTransformation = (args) => {
  const picked = Object.fromEntries(OPTIONS.map((k) => [k, (args.opts as Record<string, unknown>)[k]]).filter(([, v]) => v !== undefined && v !== false));
  // A resource read with `X.get(name, id)` carries the id in its options.
  const read = (args.opts as pulumi.CustomResourceOptions).id !== undefined;
  const parent = args.opts.parent ? { parentType: (args.opts.parent as unknown as { __pulumiType: string }).__pulumiType } : {};
  names.set(args.resource, args.name);
  // The stages pass plain arrays or single resources, never an Input of them.
  const deps = args.opts.dependsOn as pulumi.Resource | pulumi.Resource[] | undefined;
  const dependsOnNames = (Array.isArray(deps) ? deps : deps ? [deps] : []).map((d) => names.get(d)).filter((n): n is string => !!n);
  options.set(`${args.type}::${args.name}`, { ...picked, ...(read ? { read } : {}), ...parent, ...(dependsOnNames.length ? { dependsOnNames } : {}) });
  return undefined;
};

/** A declared resource as the mocks saw it, with the options the transformation saw. */
export interface DeclaredResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  options: Record<string, unknown>;
}

export interface CollectedStage {
  resources: PlannedResource[];
  /** The same resources unrendered (the policy tests judge these). */
  declared: DeclaredResource[];
  /** The program's stack outputs for this stage (the secrets audit checks them). */
  outputs: FerryOutputs;
}

/** Every resource one stage's config declares. Stages are built one after another. */
export async function collectStage(config: FerryConfig, stack: string): Promise<CollectedStage> {
  installMocks(stack);
  declared = [];
  options.clear();
  refused = [];
  world = worldOf(config);
  // Loaded after the mocks are set: the program's modules must see the mock runtime.
  const { buildFerry } = await import("../../program");
  const outputs = buildFerry(config, { transformations: [recordOptions] });
  await settle();
  const all = declared.map((d) => ({ ...d, options: options.get(`${d.type}::${d.name}`) ?? {} }));
  refused.push(...checkStack(all.map((d) => registration(d, d.options)), world));
  if (refused.length > 0) throw new Error(`the providers would refuse this stage:\n${refused.join("\n")}`);
  // The plan shows the options a reviewer must see change; `read` and the parent are bookkeeping.
  const shown = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => (OPTIONS as readonly string[]).includes(k)));
  return { resources: all.map((d) => plannedResource(d.type, d.name, d.inputs, shown(d.options))), declared: all, outputs };
}
