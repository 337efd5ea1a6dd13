// Build the arguments the Pulumi engine hands a policy, so a test calls a policy's
// validate function directly (no Pulumi CLI here). Props go through the pack's own
// unknown-checking proxy, as in a real run.
import type { PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";

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
