// The secrets audit, program side: the stage plan a pull request shows (every stage of
// both example stacks, built under mocks with recognizable secrets) and every stack
// output a stage exports must not carry a secret, except outputs Pulumi keeps secret.
// (tests/program/stack.test.ts checks the resources' own inputs and Command strings.)
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../config";
import { planJourney } from "../../policy/plan";
import { renderPlan } from "../../policy/plan/markdown";
import { FAKE_SECRETS, stackConfig } from "../program/stacks";
import { Leak, findLeaks } from "./leaks";
import { poolerPassword } from "../../components/target/pooler/plan";
import { withPooler } from "../components/pooler-config";

const SECRETS = Object.values(FAKE_SECRETS).flatMap((v) => [v, ...v.split(/[:@/\n]/).filter((part) => part.includes("SECRET"))]);

/** Every plain (non-secret) value in the outputs, as text with its path. */
async function plainOutputs(value: unknown, at: string): Promise<string[]> {
  if (pulumi.Output.isInstance(value)) {
    if (await pulumi.isSecret(value)) return [];
    const resolved = await new Promise<unknown>((resolve) => value.apply(resolve));
    return plainOutputs(resolved, at);
  }
  if (Array.isArray(value)) return (await Promise.all(value.map((v, i) => plainOutputs(v, `${at}[${i}]`)))).flat();
  if (value && typeof value === "object") return (await Promise.all(Object.entries(value).map(([k, v]) => plainOutputs(v, `${at}.${k}`)))).flat();
  return value === undefined ? [] : [`${at} = ${String(value)}`];
}

describe.each(["staging", "prod"] as const)("secrets audit under mocks: %s", (stack) => {
  it("neither the stage plan nor any stage's plain outputs contain a secret", async () => {
    const leaks: Leak[] = [];
    let outputsSeen = 0;
    const planned = await planJourney(stack, parseConfig(stackConfig(stack)), async (stage, collected) => {
      const lines = await plainOutputs(collected.outputs, stage);
      outputsSeen += lines.length;
      leaks.push(...findLeaks(`outputs (${stage})`, lines.join("\n"), SECRETS));
    });
    const markdown = renderPlan(stack, planned);
    leaks.push(...findLeaks("plan", markdown, SECRETS));
    expect(leaks).toEqual([]);
    // The audit looked at something: five stages with their outputs, and secrets marked as such.
    expect(planned.filter((p) => p.diff)).toHaveLength(5);
    expect(outputsSeen).toBeGreaterThan(20);
    expect(markdown).toContain("[secret]");
  }, 180_000);
});

// With the Postgres pooler: its two passwords (derived from the target's) join the secrets
// that must not show, and its server URL holds the source's and the target's logins.
describe.each(["staging", "prod"] as const)("secrets audit under mocks, with the pooler: %s", (stack) => {
  it("neither the stage plan nor any stage's plain outputs contain a secret or a pooler password", async () => {
    const master = FAKE_SECRETS["ferry:targetPostgresPassword"];
    const secrets = [...SECRETS, poolerPassword(master, "admin"), poolerPassword(master, "client")];
    const leaks: Leak[] = [];
    const planned = await planJourney(stack, parseConfig(withPooler(stackConfig(stack))), async (stage, collected) => {
      leaks.push(...findLeaks(`outputs (${stage})`, (await plainOutputs(collected.outputs, stage)).join("\n"), secrets));
    });
    const markdown = renderPlan(stack, planned);
    leaks.push(...findLeaks("plan", markdown, secrets));
    expect(leaks).toEqual([]);
    // The pooler is in the plan it audited.
    expect(markdown).toContain("pooler");
  }, 180_000);
});
