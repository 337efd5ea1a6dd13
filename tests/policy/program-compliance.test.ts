// The pack against the program itself: both example stacks, built under mocks at every
// stage, must pass every policy. A pack the program fails would block every preview;
// a program change that breaks a guard rail fails here before it reaches a pull request.
import { describe, expect, it } from "vitest";
import { collectStage } from "../../policy/plan/collect";
import { rdsSafe } from "../../policy/rds-safe";
import { readStackConfig } from "../../policy/stack-file";
import { stackConfig, upTo, withFlags } from "../program/stacks";
import { IDLE_BY_DESIGN, idle, runPack } from "./pack";
import { writeStackFile } from "./stacks";
import { withPooler } from "../components/pooler-config";

const STAGES = ["provision", "replicate", "proxy", "cutover", "decommission"] as const;

describe.each(["staging", "prod"] as const)("the policy pack passes the %s stack at every stage", (stack) => {
  it.each(STAGES)("%s", async (stage) => {
    const stackFile = writeStackFile(withFlags(stackConfig(stack), upTo(stage)), stack);
    const { declared } = await collectStage(readStackConfig(stackFile), stack);
    const verdict = runPack(declared, stackFile);
    expect(verdict.violations).toEqual([]);
    // Every policy judged something at this stage, save those with nothing to judge there
    // by design; the target database among it.
    expect(idle(verdict)).toEqual(IDLE_BY_DESIGN[stage]);
    expect(verdict.judged[rdsSafe.name]).toBe(1);
  }, 120_000);
});

// Each way the source app may reach the stores (ferry:source.access), as the program
// declares it with the stores cut over and the app still on the source: TLS and a
// password on both stores, the allowlist or the world only where the rules let them.
const EC2_REDIS = (t: { redis: unknown }) => (t.redis = { kind: "ec2", instanceType: "t4g.small", ami: "ami-0123456789abcdef0" });
const WAYS: [string, "staging" | "prod", object, boolean][] = [
  ["a static-IP egress add-on", "staging", { kind: "static-egress", addon: "fixie-socks", addresses: ["54.173.229.200/32", "54.175.230.252/32"] }, true],
  ["published", "staging", { kind: "published" }, true],
  ["a peered Private Space (ElastiCache kept)", "staging", { kind: "private-space", peering: { accountId: "847227832372", vpcId: "vpc-e291cc85", spaceCidrs: ["10.0.128.0/20"] } }, false],
  ["a box's own address", "prod", { kind: "box", addresses: ["198.51.100.9/32"] }, false],
];

describe("the policy pack passes every way the source app reaches the stores", () => {
  it.each(WAYS)("%s", async (_way, stack, access, ec2Redis) => {
    const raw = stackConfig(stack);
    const source = { ...JSON.parse(raw["ferry:source"]), access };
    const target = JSON.parse(raw["ferry:target"]);
    if (ec2Redis) EC2_REDIS(target);
    // Declared from provision on; replicate, as a store's cutover with the app on the source waits for its repoint (config/stages.ts).
    const config = withFlags({ ...raw, "ferry:source": JSON.stringify(source), "ferry:target": JSON.stringify(target) }, upTo("replicate"));
    const stackFile = writeStackFile(config, stack);
    const { declared } = await collectStage(readStackConfig(stackFile), stack);
    expect(runPack(declared, stackFile).violations).toEqual([]);
    // The way in is there to judge: rules from outside the VPC on the stores.
    expect(declared.filter((r) => /-fw-(postgres|redis)-source-in-\d+$/.test(r.name)).length).toBeGreaterThan(0);
  }, 120_000);
});

// The Postgres pooler (ferry:target.pooler) declared, at the stages where its server changes.
describe("the policy pack passes a stack with the Postgres pooler", () => {
  it.each([["staging", "provision"], ["prod", "cutover"]] as const)("%s at %s", async (stack, stage) => {
    const stackFile = writeStackFile(withFlags(withPooler(stackConfig(stack)), upTo(stage)), stack);
    const { declared } = await collectStage(readStackConfig(stackFile), stack);
    expect(runPack(declared, stackFile).violations).toEqual([]);
    // The pooler is there to judge: its ports, from security groups only.
    expect(declared.filter((r) => /-pooler-in-(app|control)$/.test(r.name)).length).toBe(2);
  }, 120_000);
});
