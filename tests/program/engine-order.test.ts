// The program's steps in the order `pulumi up` runs them (the rehearsal's engine model,
// rehearsal/stack/engine.ts), with a provider that records instead of acting: what the
// stages do to the source's writers, and what lowering ferry:cutover does first.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";
import { Goal, pulumiUp, Realizer, StateFile } from "../../rehearsal/stack/engine";
import { fakeStepStdout, stackConfig, upTo, withFlags } from "./stacks";

interface Call {
  op: "create" | "update" | "delete";
  name: string;
  command?: string;
}

/** Records every step; commands print what the Heroku reads print; `refuse` fails matching commands. */
function recordingProvider(refuse: { pattern?: RegExp }) {
  const calls: Call[] = [];
  const outputs = (g: Goal) => ({
    ...g.inputs, address: `${g.name}.example.internal`, dnsName: `${g.name}.elb.example.internal`, primaryEndpointAddress: `${g.name}.cache.example.internal`,
    privateIp: "10.60.64.10", publicIp: "198.51.100.7", mainIp: "203.0.113.20", bucket: `${g.name}-bucket`, arn: `arn:x:${g.name}`, keyName: g.name, latestVersion: 1,
    repositoryUrl: `000000000000.dkr.ecr.us-east-1.amazonaws.com/${String(g.inputs.name)}`,
    // ACM's validation option per domain of a certificate.
    domainValidationOptions: [g.inputs.domainName, ...((g.inputs.subjectAlternativeNames as string[] | undefined) ?? [])].filter(Boolean)
      .map((d) => ({ domainName: d, resourceRecordName: `_v.${String(d)}.`, resourceRecordType: "CNAME", resourceRecordValue: `_v.${String(d).replace(/\./g, "-")}.acm-validations.aws.` })),
  });
  const command = (g: { name: string; inputs: Record<string, unknown> }, op: Call["op"]) => {
    const text = String(g.inputs[op === "update" ? (g.inputs.update ? "update" : "create") : op] ?? "");
    calls.push({ op, name: g.name, command: text });
    if (refuse.pattern?.test(text)) throw new Error(`${g.name} exited 1`);
    return text;
  };
  const realizer: Realizer = {
    async create(g) {
      if (g.type.startsWith("command:")) return { id: g.name, outputs: { ...g.inputs, stdout: fakeStepStdout(command(g, "create")) ?? "" } };
      calls.push({ op: "create", name: g.name });
      return { id: g.name, outputs: outputs(g) };
    },
    async update(old, g) {
      if (g.type.startsWith("command:")) return { id: old.id, outputs: { ...g.inputs, stdout: fakeStepStdout(command(g, "update")) ?? "" } };
      calls.push({ op: "update", name: g.name });
      return { id: old.id, outputs: { ...old.outputs, ...g.inputs } };
    },
    async delete(old) {
      if (old.type.startsWith("command:")) {
        if (old.inputs.delete) command(old, "delete");
        return;
      }
      calls.push({ op: "delete", name: old.name });
    },
    async read(g) {
      return { id: g.readId!, outputs: outputs(g) };
    },
    async import(g) {
      return { id: g.importId!, outputs: g.inputs };
    },
    async invoke() {
      return { ipv4Cidrs: ["173.245.48.0/20"], ipv6Cidrs: [] };
    },
    replaceKeys: (type) => (type.startsWith("command:") ? ["triggers"] : []),
  };
  return { calls, realizer };
}

type StageName = "provision" | "replicate" | "proxy" | "cutover" | "decommission";

async function journey(stack: "staging" | "prod", stages: StageName[], provider: ReturnType<typeof recordingProvider>, state: StateFile) {
  const results = [];
  for (const stage of stages) {
    const config = parseConfig(withFlags(stackConfig(stack), upTo(stage, stage === "proxy" || stage === "cutover" ? { trafficPercent: 100 } : {})));
    results.push(await pulumiUp({ project: "ferry", stack, stateFile: state, realizer: provider.realizer, program: () => buildFerry(config) }));
  }
  return results;
}

const newState = () => StateFile.create(join(mkdtempSync(join(tmpdir(), "ferry-order-")), "state.json"));
const index = (calls: Call[], pred: (c: Call) => boolean) => calls.findIndex(pred);

// Each test evaluates the whole program four or five times: minutes on a busy 2-core machine.
describe("the program's steps in the engine's order", { timeout: 240_000 }, () => {
  test("heroku cutover: maintenance on and every dyno scaled to zero before any store is fenced", async () => {
    const p = recordingProvider({});
    const results = await journey("staging", ["provision", "replicate", "proxy", "cutover"], p, newState());
    expect(results.every((r) => r.ok)).toBe(true);
    const calls = p.calls;
    const scaled = index(calls, (c) => /heroku scale --app masto-web web=0 worker=0/.test(c.command ?? ""));
    // Both stores move: one `ferry cutover` fences both; Redis's gate on it comes after.
    const stackCutover = index(calls, (c) => /ferry --json cutover /.test(c.command ?? ""));
    const redisGate = index(calls, (c) => /ferry --json redis status --require-cutover/.test(c.command ?? ""));
    expect(scaled).toBeGreaterThan(-1);
    expect(index(calls, (c) => /heroku maintenance on --app masto-web/.test(c.command ?? ""))).toBeLessThan(scaled);
    expect(scaled).toBeLessThan(stackCutover);
    expect(stackCutover).toBeLessThan(redisGate);
  });

  test("vultr cutover: the box's app units stop (over SSH) before the stores are fenced", async () => {
    const p = recordingProvider({});
    const results = await journey("prod", ["provision", "replicate", "proxy", "cutover"], p, newState());
    expect(results.every((r) => r.ok)).toBe(true);
    const units = index(p.calls, (c) => /ferry --json box units stop .*--unit mastodon-web --unit mastodon-sidekiq --unit mastodon-streaming$/.test(c.command ?? ""));
    expect(units).toBeGreaterThan(-1);
    expect(units).toBeLessThan(index(p.calls, (c) => /ferry --json cutover /.test(c.command ?? "")));
  });

  test("lowering ferry:cutover after the target took writes is refused by the guard before anything moves", async () => {
    const refuse: { pattern?: RegExp } = {};
    const p = recordingProvider(refuse);
    const state = newState();
    await journey("staging", ["provision", "replicate", "proxy", "cutover"], p, state);
    // The target took writes: `ferry pg rollback --check` refuses, as it does for real.
    refuse.pattern = /pg rollback --check/;
    p.calls.length = 0;
    const [back] = await journey("staging", ["proxy"], p, state);
    expect(back.ok).toBe(false);
    expect(back.error).toMatch(/ferry-replicate-pg-guard/);
    // Nothing repointed, nothing recreated (the load balancer's pools), nothing rolled back, the Heroku apps still fenced.
    expect(p.calls.filter((c) => c.op === "create" && !c.name.endsWith("-guard")).map((c) => c.name)).toEqual([]);
    expect(p.calls.filter((c) => c.op === "update").map((c) => c.name)).toEqual([]);
    expect(p.calls.filter((c) => c.op === "delete")).toEqual([]);
    expect(p.calls.some((c) => /maintenance off|pg rollback --strategy|web=2/.test(c.command ?? ""))).toBe(false);
  });

  test("lowering ferry:cutover before the target took writes: guards pass, the app and DNS move back, then the rollbacks run in reverse order", async () => {
    const p = recordingProvider({});
    const state = newState();
    await journey("staging", ["provision", "replicate", "proxy", "cutover"], p, state);
    p.calls.length = 0;
    const [back] = await journey("staging", ["proxy"], p, state);
    expect(back.ok).toBe(true);
    const calls = p.calls;
    const guard = index(calls, (c) => /pg rollback --check/.test(c.command ?? ""));
    // The app's config (DATABASE_URL, REDIS_URL) back at the source: a new secret version.
    const envBack = index(calls, (c) => c.op === "update" && c.name === "ferry-app-config");
    const firstDelete = index(calls, (c) => c.op === "delete");
    expect(guard).toBeGreaterThan(-1);
    expect(guard).toBeLessThan(envBack);
    expect(envBack).toBeLessThan(firstDelete);
    const order = (re: RegExp) => index(calls, (c) => c.op === "delete" && re.test(c.command ?? ""));
    // Config back and the stores' rollbacks before the dynos scale back and maintenance lifts.
    expect(order(/redis rollback/)).toBeLessThan(order(/heroku scale --app masto-web web=2 worker=1/));
    // The combined cutover's rollbacks: Redis's (its step depends on the combined one) before Postgres's.
    expect(order(/redis rollback/)).toBeLessThan(order(/pg rollback --strategy dump/));
    expect(order(/pg rollback --strategy dump/)).toBeLessThan(order(/heroku scale --app masto-web web=2 worker=1/));
    expect(order(/heroku scale --app masto-web web=2 worker=1/)).toBeLessThan(order(/maintenance off --app masto-web/));
  });
});
