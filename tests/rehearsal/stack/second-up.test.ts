// The second `pulumi up` of a stage, judged (rehearsal/stack/second-up.ts): each test
// declares a small program with the real SDK and @pulumi/command, runs `pulumi up` twice
// through the engine model with the same program, and judges the second run's steps.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { Goal, pulumiUp, Realizer, StateFile } from "../../../rehearsal/stack/engine";
import { changesOf, describeStdoutChange, judgeSecondUp } from "../../../rehearsal/stack/second-up";

/**
 * A provider whose Commands "run" `stdoutOf(goal)`, and whose other resources echo their
 * inputs; `fail` names a resource whose every create/update fails.
 */
function provider(stdoutOf: (g: Goal) => string, fail?: string): Realizer {
  const run = (g: Goal) => {
    if (g.name === fail) throw new Error(`${g.name} exited 1`);
    return g.type.startsWith("command:") ? { ...g.inputs, stdout: stdoutOf(g) } : { ...g.inputs, arn: `arn:${g.name}` };
  };
  return {
    create: async (g) => ({ id: `${g.name}-id`, outputs: run(g) }),
    update: async (old, g) => ({ id: old.id, outputs: run(g) }),
    delete: async () => undefined,
    read: async (g) => ({ id: g.readId!, outputs: g.inputs }),
    import: async (g) => ({ id: g.importId!, outputs: g.inputs }),
    invoke: async (token) => {
      throw new Error(`no invoke ${token}`);
    },
    replaceKeys: (type) => (type.startsWith("command:") ? ["triggers"] : []),
  };
}

/** Run `program(run)` twice (run = 1, then 2: a new process each time) and judge the second up. */
async function twice(program: (run: number) => void, realizer: Realizer) {
  const state = StateFile.create(join(mkdtempSync(join(tmpdir(), "ferry-second-up-")), "state.json"));
  const up = (run: number) => pulumiUp({ project: "ferry", stack: "test", stateFile: state, realizer, program: () => program(run) });
  const first = await up(1);
  expect(first.ok, first.error).toBe(true);
  const before = state.read().resources;
  const second = await up(2);
  return { second, judged: judgeSecondUp(second.steps, before, state.read().resources) };
}

const cmd = (name: string, args: command.local.CommandArgs, opts: pulumi.CustomResourceOptions = {}) => new command.local.Command(name, args, opts);
const taskDefinition = (name: string, definitions: pulumi.Input<string>) =>
  new aws.ecs.TaskDefinition(name, { family: name, containerDefinitions: definitions });

describe("a second pulumi up with the same config", () => {
  test("nothing runs when nothing is read again: no step, nothing to judge", async () => {
    const { second, judged } = await twice(() => {
      const copy = cmd("copy", { create: "copy" });
      taskDefinition("web", copy.stdout.apply((s) => JSON.stringify([{ s }])));
    }, provider(() => '{"versionId":"v1"}'));
    expect(second.steps).toEqual([]);
    expect(judged).toEqual([]);
  });

  test("a Command that runs again (a new epoch each up) with the same stdout is a read, and what reads its stdout stays", async () => {
    const { judged } = await twice((run) => {
      const release = cmd("release", { create: "ferry heroku release", environment: { EPOCH: String(run) } });
      taskDefinition("web", release.stdout.apply((s) => JSON.stringify([{ s }])));
    }, provider(() => '{"slugId":"s1"}'));
    expect(judged).toEqual([{ resource: "release", type: "command:local:Command", op: "update", ok: true, verdict: "read", what: "ran (update: environment); stdout as before" }]);
    expect(changesOf(judged)).toEqual([]);
  });

  test("a config copy that writes a new secret version each up is a change, and so is the task definition that pins it", async () => {
    let version = 0;
    const { judged } = await twice((run) => {
      const copy = cmd("config-copy", { create: "ferry heroku config copy", environment: { EPOCH: String(run) } });
      taskDefinition("web", copy.stdout.apply((s) => JSON.stringify([{ secrets: JSON.parse(s).versionId }])));
    }, provider(() => JSON.stringify({ names: ["A", "B"], versionId: `v${++version}` })));
    expect(changesOf(judged)).toEqual([
      "config-copy (update): ran (update: environment); stdout changed at versionId",
      "web (update): update: containerDefinitions",
    ]);
  });

  test("a Command with the same stdout whose dependents changed anyway is not a read", async () => {
    const { judged } = await twice((run) => {
      const gate = cmd("health-gate", { create: "ferry health", environment: { EPOCH: String(run) } });
      // Changes at every up for a reason of its own, after the gate.
      taskDefinition("web", pulumi.all([gate.stdout, String(run)]).apply(([, r]) => JSON.stringify([{ r }])));
    }, provider(() => "healthy"));
    const gate = judged.find((j) => j.resource === "health-gate")!;
    expect(gate.verdict).toBe("change");
    expect(gate.what).toMatch(/stdout as before, but what depends on it changed: web$/);
  });

  test("a replaced Command whose old copy has a delete command changed something, even with the same stdout", async () => {
    const { judged } = await twice((run) => {
      cmd("proxy", { create: "ferry proxy apply", delete: "ferry proxy revert", triggers: [run] });
    }, provider(() => "applied"));
    expect(judged.map((j) => `${j.op} ${j.verdict}: ${j.what}`)).toEqual([
      "replace read: ran (replace: triggers); stdout as before",
      "delete change: replaced: the old copy's delete command ran",
    ]);
  });

  test("a failed step is a change, and resources created anew are too", async () => {
    let fail: string | undefined;
    const realizer = provider(() => "out");
    const failing: Realizer = { ...realizer, update: async (old, g, c) => (g.name === fail ? Promise.reject(new Error(`${g.name} exited 3`)) : realizer.update(old, g, c)) };
    const { judged } = await twice((run) => {
      fail = "copy";
      cmd("copy", { create: "copy", environment: { EPOCH: String(run) } });
      if (run === 2) new aws.ecs.Cluster("late", {});
    }, failing);
    expect(changesOf(judged).sort()).toEqual(["copy (update): failed: copy exited 3", "late (create): create"]);
  });
});

describe("describeStdoutChange", () => {
  test("names the JSON keys that differ, never their values", () => {
    const what = describeStdoutChange('{"versionId":"abc-SECRETISH","names":["A"]}', '{"versionId":"def","names":["A","B"]}');
    expect(what).toBe("stdout changed at versionId, names.1");
    expect(what).not.toMatch(/abc|def/);
  });

  test("counts the lines that differ in plain text", () => {
    expect(describeStdoutChange("a\nb\nc", "a\nx\nc")).toBe("stdout changed (1 of 3 line(s) differ)");
  });
});
