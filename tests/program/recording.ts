// A provider for the engine model (rehearsal/stack/engine.ts) that records every step
// instead of acting: resources get the outputs a real provider would compute, Commands
// print what the program's reads print (./stacks.ts), and `refuse` fails the commands it
// matches. `run` lets a test run some commands for real (e.g. the config copies against
// the Secrets Manager stand-in) and return their output.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Goal, Realized, Realizer, StoredResource } from "../../rehearsal/stack/engine";
import { StateFile } from "../../rehearsal/stack/engine";
import { fakeStepStdout } from "./stacks";

export interface Call {
  op: "create" | "update" | "delete";
  name: string;
  type?: string;
  command?: string;
}

export interface RecordingOptions {
  /** Commands whose text matches fail (exit 1). */
  refuse?: { pattern?: RegExp };
  /** Run a command for real: its stdout, or undefined to fake it. */
  run?: (goal: { name: string; type: string; inputs: Record<string, unknown> }, phase: "create" | "update" | "delete", previous?: Record<string, unknown>) => Promise<string | undefined>;
  /** What a created resource's outputs add to its inputs (e.g. a secret registered with a stand-in). */
  created?: (goal: Goal, outputs: Record<string, unknown>) => Record<string, unknown>;
}

export function recordingProvider(opts: RecordingOptions = {}) {
  const calls: Call[] = [];
  const outputs = (g: Goal) => ({
    ...g.inputs, address: `${g.name}.example.internal`, dnsName: `${g.name}.elb.example.internal`, primaryEndpointAddress: `${g.name}.cache.example.internal`,
    privateIp: "10.60.64.10", publicIp: "198.51.100.7", publicDns: "ec2-198-51-100-7.compute-1.amazonaws.com", mainIp: "203.0.113.20", bucket: `${g.name}-bucket`, arn: `arn:x:${g.name}`, keyName: g.name, latestVersion: 1,
    repositoryUrl: `000000000000.dkr.ecr.us-east-1.amazonaws.com/${String(g.inputs.name)}`,
    // ACM's validation option per domain of a certificate.
    domainValidationOptions: [g.inputs.domainName, ...((g.inputs.subjectAlternativeNames as string[] | undefined) ?? [])].filter(Boolean)
      .map((d) => ({ domainName: d, resourceRecordName: `_v.${String(d)}.`, resourceRecordType: "CNAME", resourceRecordValue: `_v.${String(d).replace(/\./g, "-")}.acm-validations.aws.` })),
  });
  const command = async (g: { name: string; type: string; inputs: Record<string, unknown> }, op: Call["op"], previous?: Record<string, unknown>) => {
    const phase = op === "update" ? (g.inputs.update ? "update" : "create") : op;
    const text = String(g.inputs[phase] ?? "");
    calls.push({ op, name: g.name, command: text });
    if (opts.refuse?.pattern?.test(text)) throw new Error(`${g.name} exited 1`);
    return (await opts.run?.(g, phase, previous)) ?? fakeStepStdout(text) ?? "";
  };
  const realizer: Realizer = {
    async create(g) {
      if (g.type.startsWith("command:")) return { id: g.name, outputs: { ...g.inputs, stdout: await command(g, "create") } };
      calls.push({ op: "create", name: g.name, type: g.type });
      const out = outputs(g);
      return { id: g.name, outputs: { ...out, ...(opts.created?.(g, out) ?? {}) } };
    },
    async update(old: StoredResource, g: Goal): Promise<Realized> {
      if (g.type.startsWith("command:")) return { id: old.id, outputs: { ...g.inputs, stdout: await command(g, "update", old.outputs) } };
      calls.push({ op: "update", name: g.name, type: g.type });
      return { id: old.id, outputs: { ...old.outputs, ...g.inputs } };
    },
    async delete(old) {
      if (old.type.startsWith("command:")) {
        if (old.inputs.delete) await command(old, "delete", old.outputs);
        return;
      }
      calls.push({ op: "delete", name: old.name, type: old.type });
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

export const newState = (prefix = "ferry-order-") => StateFile.create(join(mkdtempSync(join(tmpdir(), prefix)), "state.json"));
export const index = (calls: Call[], pred: (c: Call) => boolean) => calls.findIndex(pred);
