// Builds the ferry stack under Pulumi mocks and records every resource with its inputs.
// Import this before anything that declares resources: setMocks must come first.
// Every registration goes through the provider rules (policy/providers): what AWS,
// Cloudflare or the engine would refuse fails the registration here, and resourcesOf
// throws with every refusal of the build, as a real `pulumi up` would stop.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import type { FerryConfig } from "../../config";
import { ProviderWorld, Registration, RegistrationOptions, checkRegistration, checkStack, worldOf } from "../../policy/providers";
import { fakeBoxConfigCopy, fakeConfigCopy, fakeHerokuRead, fakeHerokuRelease, fakeImageCopy, fakeTrialCopy } from "./stacks";

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  id?: string;
}

const recorded: Recorded[] = [];
/** Options of each registration (they never reach the mocks), from `providerRules`. */
const registrationOptions = new Map<string, RegistrationOptions>();
/** The live state each build's config describes, by build name. */
const worlds = new Map<string, ProviderWorld>();
/** What the providers refused, by build name. */
const refusals = new Map<string, string[]>();
const NO_WORLD: ProviderWorld = { liveDnsRecords: new Map(), adopted: new Set() };

const buildOf = (resourceName: string) => resourceName.split("-")[0];

/**
 * The transformation that lets the provider rules see a build's options and live state:
 * pass it to buildFerry (`transformations`) with the build's config and name.
 */
export function providerRules(config: FerryConfig, build: string): pulumi.ResourceTransformation {
  worlds.set(build, worldOf(config));
  refusals.set(build, []);
  return (args) => {
    const opts = args.opts as pulumi.CustomResourceOptions;
    registrationOptions.set(`${args.type}::${args.name}`, {
      import: opts.import,
      read: opts.id !== undefined,
      protect: opts.protect,
      retainOnDelete: opts.retainOnDelete,
      deleteBeforeReplace: opts.deleteBeforeReplace,
    });
    return undefined;
  };
}

function registrationOf(r: { type: string; name: string; inputs: Record<string, unknown> }): Registration {
  return { type: r.type, name: r.name, inputs: r.inputs, options: registrationOptions.get(`${r.type}::${r.name}`) ?? {} };
}
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Outputs a real provider would compute, so applies on them run under mocks. */
function computed(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (type) {
    case "aws:rds/instance:Instance": return { address: `${name}.abc.us-east-1.rds.amazonaws.com`, arn: `arn:aws:rds:::db/${name}` };
    case "aws:elasticache/replicationGroup:ReplicationGroup": return { primaryEndpointAddress: `master.${name}.cache.amazonaws.com` };
    // Auto-named: the physical name is the logical one plus a suffix, as the provider names it.
    case "aws:rds/subnetGroup:SubnetGroup": return { name: inputs.name ?? `${name}-0a1b2c3` };
    case "aws:ec2/instance:Instance": return { privateIp: "10.60.64.10", publicIp: "", publicDns: inputs.associatePublicIpAddress ? "ec2-198-51-100-7.compute-1.amazonaws.com" : "", arn: `arn:aws:ec2:::instance/${name}` };
    case "aws:ec2/eip:Eip": return { publicIp: "198.51.100.77" };
    case "aws:lb/loadBalancer:LoadBalancer": return { dnsName: `${name}-123.us-east-1.elb.amazonaws.com`, arn: `arn:aws:elasticloadbalancing:::loadbalancer/${name}` };
    case "aws:acm/certificate:Certificate": {
      // One DNS validation option per domain, named and valued as ACM names them.
      const domains = [inputs.domainName, ...((inputs.subjectAlternativeNames as string[] | undefined) ?? [])].map(String);
      const token = (d: string) => createHash("sha256").update(d).digest("hex").slice(0, 32);
      return {
        arn: `arn:aws:acm:us-east-1:123456789012:certificate/${token(name).slice(0, 8)}-0000-4000-8000-000000000000`,
        domainValidationOptions: domains.map((d) => ({ domainName: d, resourceRecordName: `_${token(d)}.${d}.`, resourceRecordType: "CNAME", resourceRecordValue: `_${token(`v${d}`)}.abcdefghij.acm-validations.aws.` })),
      };
    }
    case "aws:lb/targetGroup:TargetGroup":
    case "aws:lb/listener:Listener": return { arn: `arn:aws:elasticloadbalancing:::${name}` };
    case "aws:ec2/launchTemplate:LaunchTemplate": return { latestVersion: 1 };
    case "aws:s3/bucket:Bucket": return { bucket: `${name}-bucket-1234`, arn: `arn:aws:s3:::${name}-bucket-1234` };
    case "aws:ssm/parameter:Parameter": return { arn: `arn:aws:ssm:::parameter/${name}` };
    case "aws:ec2/keyPair:KeyPair": return { keyName: name };
    case "vultr:index/instance:Instance": return { mainIp: "203.0.113.20", label: "old-box" };
    // The app plane (components/target/compute.ts).
    case "aws:ecr/repository:Repository": return { arn: `arn:aws:ecr:us-east-1:123456789012:repository/${inputs.name}`, repositoryUrl: `123456789012.dkr.ecr.us-east-1.amazonaws.com/${inputs.name}` };
    case "aws:ecs/cluster:Cluster": return { arn: `arn:aws:ecs:us-east-1:123456789012:cluster/${name}`, name };
    case "aws:ecs/taskDefinition:TaskDefinition": {
      const family = `arn:aws:ecs:us-east-1:123456789012:task-definition/${inputs.family}`;
      return { arn: `${family}:1`, arnWithoutRevision: family, revision: 1 };
    }
    case "aws:ecs/service:Service": return { name, arn: `arn:aws:ecs:us-east-1:123456789012:service/${name}` };
    case "aws:iam/role:Role": return { arn: `arn:aws:iam::123456789012:role/${name}`, name };
    case "aws:secretsmanager/secret:Secret": return { arn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${inputs.namePrefix ?? name}AbCdEf` };
    // Secrets Manager gives each new value a new version id.
    case "aws:secretsmanager/secretVersion:SecretVersion": return { versionId: createHash("sha256").update(JSON.stringify(inputs.secretString)).digest("hex").slice(0, 32) };
    // The pooler's names (components/target/pooler).
    case "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace": return { arn: `arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-${name}` };
    case "aws:servicediscovery/service:Service": return { arn: `arn:aws:servicediscovery:us-east-1:123456789012:service/srv-${name}` };
    case "aws:scheduler/schedule:Schedule": return { arn: `arn:aws:scheduler:us-east-1:123456789012:schedule/default/${name}` };
    case "command:local:Command":
    case "command:remote:Command": {
      const release = fakeHerokuRelease(inputs.create) ?? fakeConfigCopy(inputs.create) ?? fakeBoxConfigCopy(inputs.create) ?? fakeImageCopy(inputs.create) ?? fakeTrialCopy(inputs.create);
      if (release !== undefined) return { stdout: release, stderr: "" };
      const stdout = fakeHerokuRead(inputs.create);
      return stdout === undefined ? {} : { stdout, stderr: "" };
    }
    default: return {};
  }
}

pulumi.runtime.setMocks(
  {
    newResource(args) {
      recorded.push({ type: args.type, name: args.name, inputs: args.inputs, id: args.id });
      const build = buildOf(args.name);
      const problems = checkRegistration(registrationOf(args), worlds.get(build) ?? NO_WORLD);
      if (problems.length > 0) {
        refusals.set(build, [...(refusals.get(build) ?? []), ...problems]);
        throw new Error(problems.join("\n"));
      }
      const state = { ...args.inputs, ...computed(args.type, args.name, args.inputs) };
      return { id: args.id || `${args.name}-id`, state };
    },
    call(args) {
      if (args.token === "cloudflare:index/getIpRanges:getIpRanges") {
        return { ipv4Cidrs: ["173.245.48.0/20", "103.21.244.0/22"], ipv6Cidrs: [], etag: "x", jdcloudCidrs: [] };
      }
      return args.inputs;
    },
  },
  "ferry",
  "test",
  false,
);

/** Wait until no new resource has been registered for a few turns of the event loop. */
async function settle(): Promise<void> {
  let last = -1;
  let quiet = 0;
  while (quiet < 5) {
    await new Promise((r) => setTimeout(r, 2));
    quiet = recorded.length === last ? quiet + 1 : 0;
    last = recorded.length;
  }
}

/** Every resource whose name belongs to the build called `name`; throws what the providers refused. */
export async function resourcesOf(name: string): Promise<Recorded[]> {
  await settle();
  const resources = recorded.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
  const refused = [...(refusals.get(name) ?? []), ...checkStack(resources.map(registrationOf), worlds.get(name) ?? NO_WORLD)];
  if (refused.length > 0) throw new ProviderRefusal(refused);
  return resources;
}

/** What a real `pulumi up` of the build would have stopped on. */
export class ProviderRefusal extends Error {
  constructor(readonly problems: string[]) {
    super(`the providers would refuse:\n${problems.join("\n")}`);
  }
}

export function isSecretValue(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value with mock secret wrappers removed, for comparisons. */
export function plain(value: unknown): unknown {
  if (isSecretValue(value)) return plain((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

export function outputValue<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

export * from "./stacks";
