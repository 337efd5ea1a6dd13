// The pack against the program itself: both example stacks, built under mocks at every
// stage, must pass every policy. A pack the program fails would block every preview;
// a program change that breaks a guard rail fails here before it reaches a pull request.
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { describe, expect, it } from "vitest";
import { validateDnsCutover } from "../../policy/dns-cutover";
import { validateOpenPorts } from "../../policy/open-ports";
import { collectStage } from "../../policy/plan/collect";
import { validateRdsSafe } from "../../policy/rds-safe";
import { validateSourceProtected } from "../../policy/source-protected";
import { readStackConfig } from "../../policy/stack-file";
import { stackConfig, upTo, withFlags } from "../program/stacks";
import { resourceArgs, stackArgs, stackResource, violations } from "./args";
import { writeStackFile } from "./stacks";

const STAGES = ["provision", "replicate", "proxy", "cutover", "decommission"] as const;
const RESOURCE_POLICIES = [validateRdsSafe, validateOpenPorts, validateDnsCutover];

/** The engine hands policies plain values; the mocks wrap secrets. */
function unwrap(value: unknown): unknown {
  if (value && typeof value === "object" && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig) return unwrap((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
  return value;
}

describe.each(["staging", "prod"] as const)("the policy pack passes the %s stack at every stage", (stack) => {
  it.each(STAGES)("%s", async (stage) => {
    const stackFile = writeStackFile(withFlags(stackConfig(stack), upTo(stage)), stack);
    const { declared } = await collectStage(readStackConfig(stackFile), stack);
    const found: string[] = [];
    for (const r of declared) {
      const args = resourceArgs(r.type, r.name, unwrap(r.inputs) as Record<string, unknown>, { stackFile });
      for (const validate of RESOURCE_POLICIES) found.push(...violations((report) => validate(args, report)).map((m) => `${r.name}: ${m}`));
    }
    // As the engine hands them over: `protect` is not recorded on a read (`.get`), and
    // each resource has its parent.
    const parents = new Map(declared.map((r) => [r.type, stackResource(r.type, r.name, {})]));
    const resources = declared.map((r) => ({
      ...stackResource(r.type, r.name, unwrap(r.inputs) as Record<string, unknown>, { protect: r.options.protect === true && r.options.read !== true }),
      parent: typeof r.options.parentType === "string" ? (parents.get(r.options.parentType) ?? stackResource(r.options.parentType, "parent", {})) : undefined,
    }));
    found.push(...violations((report) => validateSourceProtected(stackArgs(resources, { stackFile }), report)));
    expect(found).toEqual([]);
    // The policies had something to judge at this stage.
    expect(declared.some((r) => r.type === "aws:rds/instance:Instance")).toBe(true);
  }, 120_000);
});
