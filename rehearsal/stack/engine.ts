// The Pulumi engine as the rehearsal models it. The program registers its resources
// through a mock monitor, so the SDK's own dependency tracking decides when each
// registration arrives (a resource is sent only once the resources it depends on, by
// `dependsOn` or through an input's outputs, have been registered); each registration
// then becomes the step `pulumi up` would run against the previous state. The rules,
// each from Pulumi's documentation:
// - Creates and updates run in dependency order, as registrations arrive; resources no
//   longer declared are deleted after every create and update, in reverse dependency
//   order (https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/).
// - A replacement creates the new resource before deleting the old one unless
//   `deleteBeforeReplace` (https://www.pulumi.com/docs/iac/concepts/options/deletebeforereplace/);
//   the old one is deleted with the other deletes, at the end.
// - A failed step fails the update: nothing that depends on it runs, no new step starts,
//   what succeeded is kept in the state, and no delete runs.
// - `retainOnDelete` drops a resource from the state without deleting it
//   (https://www.pulumi.com/docs/iac/concepts/options/retainondelete/); deleting a
//   `protect`ed resource fails (https://www.pulumi.com/docs/iac/concepts/options/protect/).
// - A resource read with the static `get` is only ever read, never updated or deleted
//   (https://www.pulumi.com/docs/iac/concepts/resources/get/).
// - Command (@pulumi/command v4, https://www.pulumi.com/registry/packages/command/api-docs/local/command/):
//   changed inputs run `update`, or `create` again when there is no `update`; a change to
//   `triggers` replaces; unchanged inputs run nothing. That is the realizer's business
//   (realize/command.ts); which inputs force a replacement is the realizer's to say.
// The state is kept between runs in a JSON file, secrets encrypted as Pulumi's
// passphrase provider does, so a later stage's deletes run with the inputs an earlier
// stage created the resource with.
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { keepSecrecy, plainValue, sealSecrets, SecretBox, unsealSecrets } from "./values";

// The SDK's protobuf modules ship without type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const resproto = require("@pulumi/pulumi/proto/resource_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const structproto = require("google-protobuf/google/protobuf/struct_pb");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeState = require("@pulumi/pulumi/runtime/state");

/** Point the SDK at `monitor`, with the features `setMocks` turns on. */
function useMonitor(monitor: MockMonitor, project: string, stack: string): void {
  settings.setMockOptions(monitor, project, stack, false);
  const store = runtimeState.getStore();
  Object.assign(store, {
    supportsSecrets: true, supportsResourceReferences: true, supportsOutputValues: false, supportsDeletedWith: true,
    supportsAliasSpecs: true, supportsTransforms: false,
  });
}

/** One resource as the program declared it in this run. */
export interface Goal {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  /** Inputs with secrets in the clear (only ever in memory): what realizers read. */
  inputs: Record<string, unknown>;
  /** The same inputs with Pulumi's secret wrappers: what the state keeps (sealed). */
  raw: Record<string, unknown>;
  dependencies: string[];
  deleteBeforeReplace: boolean;
  protect: boolean;
  retainOnDelete: boolean;
  replaceOnChanges: string[];
  /** Top-level inputs whose new value gives way to the state's (`ignoreChanges`). */
  ignoreChanges: string[];
  importId?: string;
  /** Set for resources read with the static `get`. */
  readId?: string;
}

/** One resource in the state file (realizers see it with secrets in the clear). */
export interface StoredResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent?: string;
  id: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  dependencies: string[];
  protect: boolean;
  retainOnDelete: boolean;
  read: boolean;
}

export type Op = "same" | "create" | "update" | "replace" | "delete" | "read" | "import";

export interface EngineStep {
  urn: string;
  name: string;
  type: string;
  op: Op;
  ok: boolean;
  /** When the step started (ms since the epoch) and how long it took. */
  startedAt: number;
  ms: number;
  /** For commands: the exit code and the last line of output. */
  detail?: string;
  exitCode?: number;
  /** An update's or a replacement's inputs that differ from the state's (names only). */
  changed?: string[];
}

/** What a realizer returns: the provider's id and outputs. */
export interface Realized {
  id: string;
  outputs: Record<string, unknown>;
}

/** The provider side: each resource type is realized by a local stand-in. */
export interface Realizer {
  create(goal: Goal): Promise<Realized>;
  update(old: StoredResource, goal: Goal, changed: string[]): Promise<Realized>;
  delete(old: StoredResource): Promise<void>;
  read(goal: Goal): Promise<Realized>;
  /** Adopt a live resource: refuses when the declared inputs differ from what is live. */
  import(goal: Goal): Promise<Realized>;
  /** A provider function (an invoke such as cloudflare.getIpRanges). */
  invoke(token: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Inputs whose change the provider cannot update in place. */
  replaceKeys(type: string): string[];
  /** Extra words for a step's record (a command's exit code). */
  describeFailure?(error: unknown): { detail: string; exitCode?: number };
}

/** Which inputs differ between the state and the goal (JSON equality, secrets in the clear). */
export function changedInputs(old: Record<string, unknown>, next: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(old), ...Object.keys(next)]);
  return [...keys].filter((k) => JSON.stringify(old[k] ?? null) !== JSON.stringify(next[k] ?? null)).sort();
}

/**
 * `ignoreChanges`: an ignored input keeps the value the state has, in the diff and in the
 * new state alike (https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/).
 * Top-level names only, which is all the program uses.
 */
function keepIgnored(old: StoredResource, goal: Goal): void {
  for (const key of goal.ignoreChanges) {
    const top = key.split(/[.[]/)[0];
    if (!(top in old.inputs)) continue;
    goal.raw[top] = old.inputs[top];
    goal.inputs[top] = plainValue(old.inputs[top]);
  }
}

/** The step a registration becomes (pure: tests check the rules one by one). */
export function decide(old: StoredResource | undefined, goal: Goal, replaceKeys: string[]): { op: Op; changed: string[] } {
  if (goal.readId !== undefined) return { op: "read", changed: [] };
  if (!old || old.read) return { op: goal.importId ? "import" : "create", changed: [] };
  keepIgnored(old, goal);
  const changed = changedInputs(plainValue(old.inputs) as Record<string, unknown>, goal.inputs);
  if (changed.length === 0) return { op: "same", changed };
  const forcing = new Set([...replaceKeys, ...goal.replaceOnChanges]);
  return { op: changed.some((k) => forcing.has(k) || forcing.has("*")) ? "replace" : "update", changed };
}

/**
 * Reverse dependency order: a resource is deleted only after everything that depends on
 * it (or is its child) is gone. Resources outside `doomed` are already handled.
 */
export function deletionOrder(doomed: StoredResource[]): StoredResource[] {
  const byUrn = new Map(doomed.map((r) => [r.urn, r]));
  const dependents = new Map<string, Set<string>>(doomed.map((r) => [r.urn, new Set<string>()]));
  for (const r of doomed) {
    for (const d of [...r.dependencies, ...(r.parent ? [r.parent] : [])]) dependents.get(d)?.add(r.urn);
  }
  const ordered: StoredResource[] = [];
  const done = new Set<string>();
  const visit = (urn: string, path: Set<string>) => {
    if (done.has(urn) || path.has(urn)) return;
    path.add(urn);
    for (const dep of dependents.get(urn) ?? []) visit(dep, path);
    path.delete(urn);
    done.add(urn);
    ordered.push(byUrn.get(urn)!);
  };
  // Stable: the state's order (creation order) breaks ties, newest first.
  for (const r of [...doomed].reverse()) visit(r.urn, new Set());
  return ordered;
}

export interface EngineState {
  resources: StoredResource[];
}

/** The state file: secrets sealed with a key that lives only in this process. */
export class StateFile {
  constructor(readonly path: string, private readonly box: SecretBox) {}

  static create(path: string): StateFile {
    const key = randomBytes(32);
    const box: SecretBox = {
      seal: (plain) => {
        const iv = randomFillSync(Buffer.alloc(12)); // a nonce, not a secret
        const c = createCipheriv("aes-256-gcm", key, iv);
        const body = Buffer.concat([c.update(plain, "utf8"), c.final()]);
        return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
      },
      open: (sealed) => {
        const raw = Buffer.from(sealed, "base64");
        const d = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
        d.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
      },
    };
    const file = new StateFile(path, box);
    file.write({ resources: [] });
    return file;
  }

  read(): EngineState {
    const sealed = JSON.parse(readFileSync(this.path, "utf8")) as EngineState;
    return { resources: sealed.resources.map((r) => ({ ...r, inputs: unsealSecrets(r.inputs, this.box) as Record<string, unknown>, outputs: unsealSecrets(r.outputs, this.box) as Record<string, unknown> })) };
  }

  write(state: EngineState): void {
    const sealed = state.resources.map((r) => ({ ...r, inputs: sealSecrets(r.inputs, this.box), outputs: sealSecrets(r.outputs, this.box) }));
    writeFileSync(`${this.path}.tmp`, JSON.stringify({ resources: sealed }, null, 1));
    renameSync(`${this.path}.tmp`, this.path);
  }
}

/** A stored resource as realizers see it: secrets in the clear. */
export function plainStored(r: StoredResource): StoredResource {
  return { ...r, inputs: plainValue(r.inputs) as Record<string, unknown>, outputs: plainValue(r.outputs) as Record<string, unknown> };
}

export interface UpdateResult {
  ok: boolean;
  steps: EngineStep[];
  /** The first error: a failed step, or the program's own (an apply that threw). */
  error?: string;
  /** How many resources the program declared (components included). */
  declared: number;
  outputs: unknown;
}

function urnOf(parent: string, type: string, name: string): string {
  // The mock monitor's URN scheme, so lookups by URN agree with the SDK's.
  const qualified = parent ? `${parent.split("::")[2].split("$").pop()}$${type}` : type;
  return `urn:pulumi:${settings.getStack()}::${settings.getProject()}::${qualified}::${name}`;
}


/**
 * One `pulumi up`: run `program` (which declares resources) against `state`, realizing
 * each step, then delete what is no longer declared. The state file is written after
 * every step, as the engine checkpoints.
 */
export async function pulumiUp(opts: {
  project: string;
  stack: string;
  stateFile: StateFile;
  realizer: Realizer;
  program: () => unknown;
  onStep?: (step: EngineStep) => void;
  /** What the provider would refuse about a resource about to be created, updated or imported. */
  validate?: (goal: Goal) => string[];
}): Promise<UpdateResult> {
  const prior = opts.stateFile.read();
  const priorByUrn = new Map(prior.resources.map((r) => [r.urn, r]));
  const next = new Map<string, StoredResource>();
  const replacedOld: StoredResource[] = [];
  const steps: EngineStep[] = [];
  let failure: string | undefined;
  let inFlight = 0;
  let registrations = 0;

  const checkpoint = () => {
    // Resources from the prior state that this run has not (yet) touched stay recorded.
    const kept = prior.resources.filter((r) => !next.has(r.urn));
    opts.stateFile.write({ resources: [...kept, ...replacedOld.filter((r) => !kept.includes(r)), ...next.values()] });
  };
  const record = (goal: { urn: string; name: string; type: string }, op: Op, started: number, ok: boolean, extra: Partial<EngineStep> = {}) => {
    const step: EngineStep = { urn: goal.urn, name: goal.name, type: goal.type, op, ok, startedAt: started, ms: Date.now() - started, ...extra };
    steps.push(step);
    opts.onStep?.(step);
  };

  const stepFor = async (goal: Goal): Promise<Realized> => {
    const old = priorByUrn.get(goal.urn);
    const { op, changed } = decide(old, goal, opts.realizer.replaceKeys(goal.type));
    if (op === "same") return { id: old!.id, outputs: old!.outputs };
    if (failure && op !== "read") throw new Error(`not run: an earlier step failed (${failure})`);
    const started = Date.now();
    try {
      const refused = op === "read" ? [] : (opts.validate?.(goal) ?? []);
      if (refused.length) throw new Error(`the provider refuses it: ${refused.join("; ")}`);
      let realized: Realized;
      if (op === "read") realized = await opts.realizer.read(goal);
      else if (op === "import") realized = await opts.realizer.import(goal);
      else if (op === "create") realized = await opts.realizer.create(goal);
      else if (op === "update") realized = await opts.realizer.update(plainStored(old!), goal, changed);
      else if (goal.deleteBeforeReplace) {
        await deleteOne(old!);
        realized = await opts.realizer.create(goal);
      } else {
        realized = await opts.realizer.create(goal);
        replacedOld.push(old!);
      }
      if (op !== "read") record(goal, op, started, true, changed.length ? { changed } : {});
      return realized;
    } catch (e) {
      const described = opts.realizer.describeFailure?.(e) ?? { detail: (e as Error).message };
      failure ??= `${goal.name}: ${described.detail}`;
      record(goal, op, started, false, { ...described, ...(changed.length ? { changed } : {}) });
      throw e;
    }
  };

  const deleteOne = async (old: StoredResource) => {
    if (old.read) return; // read resources are never deleted
    if (old.protect) throw new Error(`${old.name}: refusing to delete a protected resource`);
    if (old.retainOnDelete) return;
    await opts.realizer.delete(plainStored(old));
  };

  /** Realize one registration and record it in the new state. */
  const realize = async (goal: Goal): Promise<Realized> => {
    inFlight++;
    registrations++;
    try {
      const realized = goal.custom ? await stepFor(goal) : { id: "", outputs: goal.inputs };
      const outputs = keepSecrecy(goal.raw, realized.outputs);
      next.set(goal.urn, {
        urn: goal.urn, type: goal.type, name: goal.name, custom: goal.custom, parent: goal.parent, id: realized.id,
        inputs: goal.raw, outputs, dependencies: goal.dependencies, protect: goal.protect,
        retainOnDelete: goal.retainOnDelete, read: goal.readId !== undefined,
      });
      checkpoint();
      return { id: realized.id, outputs };
    } finally {
      inFlight--;
    }
  };

  /** Outputs as the SDK expects them (secret wrappers kept: the SDK reads them as secrets). */
  const serialized = (realized: Realized) => rpc.serializeProperties("", realized.outputs);

  const goalOf = (req: any, inputs: Record<string, unknown>, read: boolean): Goal => {
    const type: string = req.getType();
    const parent: string = req.getParent();
    return {
      urn: urnOf(parent, type, req.getName()), type, name: req.getName(), custom: read ? true : req.getCustom(), parent: parent || undefined,
      inputs: plainValue(inputs) as Record<string, unknown>, raw: inputs,
      dependencies: read ? [] : req.getDependenciesList(),
      deleteBeforeReplace: !read && req.getDeletebeforereplace(), protect: !read && req.getProtect(),
      retainOnDelete: !read && req.getRetainondelete(), replaceOnChanges: read ? [] : req.getReplaceonchangesList(),
      ignoreChanges: read ? [] : req.getIgnorechangesList(),
      importId: read ? undefined : req.getImportid() || undefined, readId: read ? req.getId() : undefined,
    };
  };

  class EngineMonitor extends MockMonitor {
    constructor() {
      super({ newResource: async () => ({ id: "", state: {} }), call: async (args) => opts.realizer.invoke(args.token, args.inputs) });
    }

    async registerResource(req: any, callback: (err: unknown, resp?: unknown) => void): Promise<void> {
      try {
        const goal = goalOf(req, rpc.deserializeProperties(req.getObject()) as Record<string, unknown>, false);
        const realized = await realize(goal);
        const response = new resproto.RegisterResourceResponse();
        response.setUrn(goal.urn);
        response.setId(realized.id);
        response.setObject(structproto.Struct.fromJavaScript(await serialized(realized)));
        callback(null, response);
      } catch (e) {
        callback(e);
      }
    }

    // Components' outputs are not steps.
    registerResourceOutputs(_req: unknown, callback: (err: unknown, resp?: unknown) => void): void {
      callback(null, {});
    }

    async readResource(req: any, callback: (err: unknown, resp?: unknown) => void): Promise<void> {
      try {
        const goal = goalOf(req, rpc.deserializeProperties(req.getProperties()) as Record<string, unknown>, true);
        const realized = await realize(goal);
        const response = new resproto.ReadResourceResponse();
        response.setUrn(goal.urn);
        response.setProperties(structproto.Struct.fromJavaScript(await serialized(realized)));
        callback(null, response);
      } catch (e) {
        callback(e);
      }
    }
  }

  useMonitor(new EngineMonitor(), opts.project, opts.stack);
  const programErrors: string[] = [];
  const onRejection = (reason: unknown) => {
    programErrors.push(reason instanceof Error ? reason.message.split("\n")[0] : String(reason));
  };
  process.on("unhandledRejection", onRejection);
  let outputs: unknown;
  try {
    outputs = opts.program();
    await settle(() => ({ inFlight, registrations }));
  } finally {
    process.off("unhandledRejection", onRejection);
  }
  failure ??= programErrors.find((e) => !e.startsWith("not run:"));
  // The update is over: the CLI would end the program's process here, and with it the
  // outputs a failed step left pending forever. The next update starts a fresh program.
  runtimeState.getStore().leakCandidates?.clear();

  if (!failure) {
    const doomed = [...prior.resources.filter((r) => !next.has(r.urn)), ...replacedOld];
    for (const old of deletionOrder(doomed)) {
      const started = Date.now();
      try {
        await deleteOne(old);
        if (!old.read) record(old, "delete", started, true);
        if (!replacedOld.includes(old)) prior.resources = prior.resources.filter((r) => r.urn !== old.urn);
        replacedOld.splice(replacedOld.indexOf(old), replacedOld.includes(old) ? 1 : 0);
        checkpoint();
      } catch (e) {
        const described = opts.realizer.describeFailure?.(e) ?? { detail: (e as Error).message };
        failure = `${old.name}: ${described.detail}`;
        record(old, "delete", started, false, described);
        break;
      }
    }
  }
  checkpoint();
  return { ok: !failure, steps, error: failure, declared: next.size, outputs };
}

/** Wait until nothing is in flight and no new registration arrived for a while. */
async function settle(probe: () => { inFlight: number; registrations: number }): Promise<void> {
  let last = -1;
  let quiet = 0;
  while (quiet < 20) {
    await new Promise((r) => setTimeout(r, 10));
    const { inFlight, registrations } = probe();
    quiet = inFlight === 0 && registrations === last ? quiet + 1 : 0;
    last = registrations;
  }
}
