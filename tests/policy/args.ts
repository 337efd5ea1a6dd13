// Build the arguments the Pulumi engine hands a policy, so a test calls a policy's
// validate function directly (no Pulumi CLI here). Props go through the pack's own
// unknown-checking proxy, as in a real run.
import type { PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";
import type { DeclaredResource } from "../../policy/plan/collect";
import { plainInputs } from "../../policy/providers";

export const URN_PREFIX = "urn:pulumi:test::ferry::";

const options = (opts: Partial<PolicyResourceOptions>): PolicyResourceOptions => ({
  protect: false, ignoreChanges: [], aliases: [], additionalSecretOutputs: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, ...opts,
});

const never = () => false;

export function resourceArgs(type: string, name: string, props: Record<string, unknown>, config: object = {}): ResourceValidationArgs {
  return {
    type, name, props: unknownCheckingProxy(props), urn: `${URN_PREFIX}${type}::${name}`, opts: options({}), stackTags: new Map(),
    getConfig: <T extends object>() => config as T, notApplicable: (reason?: string): never => { throw new Error(reason); },
    isType: never, asType: () => undefined,
  };
}

export function stackResource(type: string, name: string, props: Record<string, unknown>, opts: Partial<PolicyResourceOptions> = {}): PolicyResource {
  return {
    type, name, props: unknownCheckingProxy(props), urn: `${URN_PREFIX}${type}::${name}`, opts: options(opts),
    dependencies: [], propertyDependencies: {}, isType: never, asType: () => undefined,
  };
}

/**
 * Declared resources (from the plan's collector) as the engine hands them to stack
 * policies: plain values (no secret wrappers), no `protect` on a read (`.get`, which the
 * engine does not record), each resource with its parent.
 */
export function engineResources(declared: DeclaredResource[]): PolicyResource[] {
  const parents = new Map(declared.map((r) => [r.type, stackResource(r.type, r.name, {})]));
  const resources: PolicyResource[] = declared.map((r) => ({
    ...stackResource(r.type, r.name, plainInputs(r.inputs), { protect: r.options.protect === true && r.options.read !== true }),
    parent: typeof r.options.parentType === "string" ? (parents.get(r.options.parentType) ?? stackResource(r.options.parentType, "parent", {})) : undefined,
  }));
  // Each resource's explicit dependencies, as the engine lists them for a stack policy.
  const byName = new Map(resources.map((r) => [r.name, r]));
  declared.forEach((r, i) => {
    const deps = Array.isArray(r.options.dependsOnNames) ? (r.options.dependsOnNames as string[]) : [];
    resources[i].dependencies = deps.map((n) => byName.get(n)).filter((d): d is PolicyResource => !!d);
  });
  return resources;
}

export function stackArgs(resources: PolicyResource[], config: object = {}): StackValidationArgs {
  return {
    resources, stackTags: new Map(), getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => { throw new Error(reason); },
  };
}

/** Run a validation and collect its violation messages. */
export function violations(run: (report: (message: string) => void) => void): string[] {
  const found: string[] = [];
  run((message) => found.push(message));
  return found;
}

/** The engine's marker for a string not known until `pulumi up` (internal to the pack's proxy, hence require). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const UNKNOWN_STRING: string = (require("@pulumi/policy/proxy") as { unknownStringValue: string }).unknownStringValue;
