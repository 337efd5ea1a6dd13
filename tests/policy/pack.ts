// The whole pack over what one stage declares, as the engine runs it: each resource
// policy on every resource, the stack policy on them all. A pass proves nothing when a
// policy looked at nothing, so each policy's reads are watched: a resource counts as
// judged by a policy when the policy read one of its properties or options.
import type { PolicyResource, ResourceValidation } from "@pulumi/policy";
import { dnsOnlyAtCutover, validateDnsCutover } from "../../policy/dns-cutover";
import { noOpenDataPorts, validateOpenPorts } from "../../policy/open-ports";
import type { DeclaredResource } from "../../policy/plan/collect";
import { plainInputs } from "../../policy/providers";
import { rdsSafe, validateRdsSafe } from "../../policy/rds-safe";
import { sourceProtected, validateSourceProtected } from "../../policy/source-protected";
import { storeAuth, storeTls, validateStoreAuth, validateStoreTls } from "../../policy/store-access";
import { engineResources, resourceArgs, stackArgs, violations } from "./args";

const RESOURCE_POLICIES: [string, ResourceValidation][] = [
  [rdsSafe.name, validateRdsSafe], [noOpenDataPorts.name, validateOpenPorts], [dnsOnlyAtCutover.name, validateDnsCutover],
  [storeTls.name, validateStoreTls], [storeAuth.name, validateStoreAuth],
];

export interface PackVerdict {
  /** "resource: message" for the resource policies, the message for the stack policy. */
  violations: string[];
  /** Per policy name: how many resources it judged. */
  judged: Record<string, number>;
}

/** `target` as it is, calling `onRead` whenever one of its properties is read. */
function watched<T extends object>(target: T, onRead: () => void): T {
  return new Proxy(target, {
    get(t, key, receiver) {
      onRead();
      return Reflect.get(t, key, receiver);
    },
  });
}

/** Run every policy of the pack over `declared`; `stackFile` is the stack file the policies read their config from. */
export function runPack(declared: DeclaredResource[], stackFile: string): PackVerdict {
  const found: string[] = [];
  const judged: Record<string, number> = {};
  const judging = (policy: string) => {
    const seen = new Set<string>();
    judged[policy] = 0;
    return (resource: string) => () => {
      if (!seen.has(resource)) judged[policy] = seen.add(resource).size;
    };
  };
  for (const [policy, validate] of RESOURCE_POLICIES) {
    const read = judging(policy);
    for (const r of declared) {
      const args = resourceArgs(r.type, r.name, plainInputs(r.inputs), { stackFile });
      const watchedArgs = { ...args, props: watched(args.props, read(`${r.type}::${r.name}`)) };
      found.push(...violations((report) => validate(watchedArgs, report)).map((m) => `${r.name}: ${m}`));
    }
  }
  const read = judging(sourceProtected.name);
  const resources: PolicyResource[] = engineResources(declared).map((r) => {
    const onRead = read(`${r.type}::${r.name}`);
    return { ...r, props: watched(r.props, onRead), opts: watched(r.opts, onRead) };
  });
  found.push(...violations((report) => validateSourceProtected(stackArgs(resources, { stackFile }), report)));
  return { violations: found, judged };
}

/**
 * Per stage, the policies that judge nothing there by design: once the app is cut over
 * its records may point anywhere, so the DNS policy has nothing left to judge.
 */
export const IDLE_BY_DESIGN: Record<string, string[]> = {
  provision: [], replicate: [], proxy: [], cutover: [dnsOnlyAtCutover.name], decommission: [dnsOnlyAtCutover.name],
};

/** The policies that judged no resource: a pass by them says nothing about this stage. */
export function idle(verdict: PackVerdict): string[] {
  return Object.entries(verdict.judged).filter(([, n]) => n === 0).map(([policy]) => policy);
}
