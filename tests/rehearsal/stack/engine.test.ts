// The engine model against the rules it cites (rehearsal/stack/engine.ts): each test
// declares a small program with the real SDK and @pulumi/command, runs `pulumi up`
// through the model, and checks the steps a recording provider saw.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { describe, expect, test } from "vitest";
import { decide, deletionOrder, Goal, pulumiUp, Realizer, StateFile, StoredResource } from "../../../rehearsal/stack/engine";

class Group extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Group", name, {}, {});
  }
}

/** A provider that records every call; `fail` names resources whose create fails. */
function recordingRealizer(fail: Set<string> = new Set()) {
  const log: string[] = [];
  const realizer: Realizer = {
    async create(g) {
      log.push(`create ${g.name}`);
      await new Promise((r) => setTimeout(r, 5));
      if (fail.has(g.name)) throw new Error(`${g.name} exited 1`);
      return { id: `${g.name}-id`, outputs: { ...g.inputs, stdout: `out-${g.name}` } };
    },
    async update(old, g, changed) {
      log.push(`update ${g.name} [${changed.join(",")}]`);
      return { id: old.id, outputs: { ...g.inputs, stdout: `out-${g.name}` } };
    },
    async delete(old) {
      log.push(`delete ${old.name}${old.inputs.environment ? ` env=${JSON.stringify(old.inputs.environment)}` : ""}`);
    },
    async read(g) {
      log.push(`read ${g.name}`);
      return { id: g.readId!, outputs: { mainIp: "127.0.0.9" } };
    },
    async import(g) {
      log.push(`import ${g.name}`);
      return { id: g.importId!, outputs: g.inputs };
    },
    async invoke(token) {
      throw new Error(`no invoke ${token}`);
    },
    replaceKeys: (type) => (type.startsWith("command:") ? ["triggers"] : []),
  };
  return { log, realizer };
}

function newState(): StateFile {
  return StateFile.create(join(mkdtempSync(join(tmpdir(), "ferry-engine-")), "state.json"));
}

const up = (state: StateFile, realizer: Realizer, program: () => unknown) =>
  pulumiUp({ project: "ferry", stack: "test", stateFile: state, realizer, program });

const cmd = (name: string, args: command.local.CommandArgs, opts: pulumi.CustomResourceOptions = {}) => new command.local.Command(name, args, opts);

describe("the engine model", () => {
  test("creates run in dependency order: outputs and dependsOn both order them", async () => {
    const { log, realizer } = recordingRealizer();
    const state = newState();
    const result = await up(state, realizer, () => {
      const g = new Group("g");
      const a = cmd("a", { create: "a" }, { parent: g });
      const b = cmd("b", { create: a.stdout.apply((s) => `b after ${s}`) }, { parent: g });
      cmd("c", { create: "c" }, { parent: g, dependsOn: [b] });
    });
    expect(result.ok).toBe(true);
    expect(log).toEqual(["create a", "create b", "create c"]);
    expect(result.steps.map((s) => `${s.op}:${s.name}`)).toEqual(["create:a", "create:b", "create:c"]);
  });

  test("unchanged inputs run nothing; a changed input is an update; a changed trigger replaces, old deleted last", async () => {
    const { log, realizer } = recordingRealizer();
    const state = newState();
    const program = (v: string, t: number) => () => {
      const a = cmd("a", { create: `a ${v}` });
      cmd("b", { create: "b", triggers: [t] }, { dependsOn: [a] });
      if (t === 2) cmd("late", { create: "late" }, { dependsOn: [a] });
    };
    await up(state, realizer, program("1", 1));
    log.length = 0;
    expect((await up(state, realizer, program("1", 1))).steps).toEqual([]);
    expect(log).toEqual([]);
    await up(state, realizer, program("2", 2));
    // a updated; b replaced (create-before-delete), its old copy deleted after every create.
    expect(log.indexOf("update a [create]")).toBe(0);
    expect(log.indexOf("delete b")).toBe(log.length - 1);
    expect(log).toContain("create late");
  });

  test("deleteBeforeReplace deletes the old resource before creating the new one", async () => {
    const { log, realizer } = recordingRealizer();
    const state = newState();
    const program = (t: number) => () => cmd("r", { create: "r", triggers: [t] }, { deleteBeforeReplace: true });
    await up(state, realizer, program(1));
    log.length = 0;
    await up(state, realizer, program(2));
    expect(log).toEqual(["delete r", "create r"]);
  });

  test("resources no longer declared are deleted after the creates and updates, dependents first, with their stored secret environment", async () => {
    const { log, realizer } = recordingRealizer();
    const state = newState();
    await up(state, realizer, () => {
      const a = cmd("a", { create: "a", delete: "undo a" });
      const b = cmd("b", { create: "b", delete: "undo b", environment: { KEY: pulumi.secret("s3cret-value") } }, { dependsOn: [a] });
      cmd("c", { create: "c", delete: "undo c" }, { dependsOn: [b] });
    });
    // The state file never holds a secret in the clear.
    expect(readFileSync(state.path, "utf8")).not.toContain("s3cret-value");
    log.length = 0;
    await up(state, realizer, () => {
      cmd("a", { create: "a changed", delete: "undo a" });
      cmd("d", { create: "d" });
    });
    // a and d are independent: the engine may run them in either order, but both before any delete.
    expect(log.slice(0, 2).sort()).toEqual(["create d", "update a [create]"]);
    expect(log.slice(2)).toEqual(["delete c", 'delete b env={"KEY":"s3cret-value"}']);
  });

  test("a failed step stops its dependents and every delete; what succeeded is kept and the next run retries", async () => {
    const fail = new Set(["b"]);
    const { log, realizer } = recordingRealizer(fail);
    const state = newState();
    await up(state, realizer, () => cmd("old", { create: "old" }));
    log.length = 0;
    const program = () => {
      const a = cmd("a", { create: "a" });
      const b = cmd("b", { create: "b" }, { dependsOn: [a] });
      cmd("c", { create: "c" }, { dependsOn: [b] });
    };
    const failed = await up(state, realizer, program);
    expect(failed.ok).toBe(false);
    expect(failed.error).toMatch(/^b: b exited 1/);
    expect(log).toEqual(["create a", "create b"]);
    expect(failed.steps.find((s) => s.name === "b")).toMatchObject({ op: "create", ok: false });
    fail.clear();
    log.length = 0;
    const retried = await up(state, realizer, program);
    expect(retried.ok).toBe(true);
    expect(log).toEqual(["create b", "create c", "delete old"]);
  });

  test("a failed create is not recorded: lowering it runs no delete of its own, so a way back created before it carries the rollback, ahead of what it depends on", async () => {
    const fail = new Set(["window"]);
    const { log, realizer } = recordingRealizer(fail);
    const state = newState();
    const stage = (withWindow: boolean) => () => {
      const stop = cmd("stop-writers", { create: "stop", delete: "writers back" });
      if (!withWindow) return;
      const wayBack = cmd("way-back", { create: "status", delete: "lift the fence" }, { dependsOn: [stop] });
      cmd("window", { create: "fence, copy, verify", delete: "rollback of the window" }, { dependsOn: [wayBack] });
    };
    await up(state, realizer, stage(false));
    const failed = await up(state, realizer, stage(true));
    expect(failed.ok).toBe(false);
    expect(state.read().resources.map((r) => r.name).sort()).toEqual(["stop-writers", "way-back"]);
    log.length = 0;
    // The flag lowered: only the way back's delete undoes the window, before the writers return.
    await up(state, realizer, () => {
      cmd("stop-writers", { create: "stop", delete: "writers back" });
    });
    expect(log).toEqual(["delete way-back"]);
    await up(state, realizer, () => undefined);
    expect(log).toEqual(["delete way-back", "delete stop-writers"]);
  });

  test("retainOnDelete forgets without deleting; a protected resource refuses deletion; a read resource is never deleted", async () => {
    const { log, realizer } = recordingRealizer();
    const state = newState();
    await up(state, realizer, () => {
      cmd("kept", { create: "k" }, { retainOnDelete: true });
      cmd("guarded", { create: "g" }, { protect: true });
    });
    log.length = 0;
    const result = await up(state, realizer, () => undefined);
    expect(log).toEqual([]);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/guarded: refusing to delete a protected resource/);
  });
});

describe("decide (pure)", () => {
  const goal = (inputs: Record<string, unknown>, extra: Partial<Goal> = {}): Goal => ({
    urn: "u", type: "command:local:Command", name: "n", custom: true, inputs, raw: inputs, dependencies: [],
    deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [], ...extra,
  });
  const stored = (inputs: Record<string, unknown>, read = false): StoredResource => ({
    urn: "u", type: "command:local:Command", name: "n", custom: true, id: "i", inputs, outputs: {}, dependencies: [], protect: false, retainOnDelete: false, read,
  });

  test("create, import, same, update, replace, read", () => {
    expect(decide(undefined, goal({ a: 1 }), []).op).toBe("create");
    expect(decide(undefined, goal({ a: 1 }, { importId: "zone/rec" }), []).op).toBe("import");
    expect(decide(stored({ a: 1 }), goal({ a: 1 }), []).op).toBe("same");
    expect(decide(stored({ a: 1 }), goal({ a: 2 }), ["triggers"])).toEqual({ op: "update", changed: ["a"] });
    expect(decide(stored({ triggers: [1] }), goal({ triggers: [2] }), ["triggers"]).op).toBe("replace");
    expect(decide(stored({ a: 1 }), goal({ a: 2 }, { replaceOnChanges: ["a"] }), []).op).toBe("replace");
    expect(decide(undefined, goal({}, { readId: "box" }), []).op).toBe("read");
  });

  test("ignoreChanges: the state's value stays, in the diff and in what is stored", () => {
    const next = goal({ create: "c", environment: { EPOCH: "2" } }, { ignoreChanges: ["environment"] });
    expect(decide(stored({ create: "c", environment: { EPOCH: "1" } }), next, []).op).toBe("same");
    expect(next.inputs.environment).toEqual({ EPOCH: "1" });
    expect(next.raw.environment).toEqual({ EPOCH: "1" });
    // Other inputs still count, and a new resource takes the goal's value.
    expect(decide(stored({ create: "c", environment: { EPOCH: "1" } }), goal({ create: "d", environment: { EPOCH: "2" } }, { ignoreChanges: ["environment"] }), []).op).toBe("update");
    expect(decide(undefined, goal({ environment: { EPOCH: "2" } }, { ignoreChanges: ["environment"] }), []).op).toBe("create");
  });

  test("deletion order: dependents and children before what they depend on", () => {
    const r = (urn: string, dependencies: string[] = [], parent?: string): StoredResource => ({ ...stored({}), urn, name: urn, dependencies, parent });
    const order = deletionOrder([r("db"), r("app", ["db"]), r("dns", ["app"]), r("child", [], "db")]).map((x) => x.urn);
    expect(order.indexOf("dns")).toBeLessThan(order.indexOf("app"));
    expect(order.indexOf("app")).toBeLessThan(order.indexOf("db"));
    expect(order.indexOf("child")).toBeLessThan(order.indexOf("db"));
  });
});
