// What one stage adds, changes and removes compared with the stage before. Pure: the
// collected resources in, the differences out, so a test checks it without Pulumi.

/** A resource as the plan sees it: inputs flattened to dotted keys, secrets marked. */
export interface PlannedResource {
  type: string;
  name: string;
  /** Flattened input -> its rendered value ("[secret]" for secrets). */
  inputs: Record<string, string>;
  /** Flattened input -> a comparison key (secret values compare by content, print as [secret]). */
  identity: Record<string, string>;
}

export interface InputChange {
  key: string;
  before?: string;
  after?: string;
}

export interface StageDiff {
  added: PlannedResource[];
  changed: { resource: PlannedResource; changes: InputChange[] }[];
  removed: PlannedResource[];
}

const keyOf = (r: Pick<PlannedResource, "type" | "name">) => `${r.type}::${r.name}`;

export function inputChanges(before: PlannedResource, after: PlannedResource): InputChange[] {
  const keys = [...new Set([...Object.keys(before.identity), ...Object.keys(after.identity)])].sort();
  return keys
    .filter((key) => before.identity[key] !== after.identity[key])
    .map((key) => ({ key, before: before.inputs[key], after: after.inputs[key] }));
}

export function diffStages(before: PlannedResource[], after: PlannedResource[]): StageDiff {
  const old = new Map(before.map((r) => [keyOf(r), r]));
  const now = new Map(after.map((r) => [keyOf(r), r]));
  const changed = after
    .filter((r) => old.has(keyOf(r)))
    .map((r) => ({ resource: r, changes: inputChanges(old.get(keyOf(r))!, r) }))
    .filter((c) => c.changes.length > 0);
  return {
    added: after.filter((r) => !old.has(keyOf(r))),
    changed,
    removed: before.filter((r) => !now.has(keyOf(r))),
  };
}

/** One Command the engine runs at a stage: which, what it runs, and why. */
export interface CommandRun {
  name: string;
  /** create: new, or changed with no update command; update: changed; replace: its triggers changed (a new one is created); delete: gone, or replaced. */
  verb: "create" | "update" | "replace" | "delete";
  command: string;
}

const isCommand = (r: PlannedResource) => r.type === "command:local:Command" || r.type === "command:remote:Command";

/**
 * The Commands a stage runs, in the engine's order: creates and updates as the resources
 * register (the mocks see them in dependency order, as the engine does), then the deletes,
 * dependents first (reverse order of registration), the old copies of replaced Commands
 * among them. A Command's changed inputs run its `update`, or `create` again without one; a
 * change to `triggers` replaces it; unchanged inputs run nothing.
 */
export function commandRuns(before: PlannedResource[], after: PlannedResource[]): CommandRun[] {
  const old = new Map(before.map((r) => [keyOf(r), r]));
  const now = new Set(after.map(keyOf));
  const runs: CommandRun[] = [];
  const replaced = new Set<string>();
  for (const r of after.filter(isCommand)) {
    const was = old.get(keyOf(r));
    if (!was) {
      if (r.inputs.create !== undefined) runs.push({ name: r.name, verb: "create", command: r.inputs.create });
      continue;
    }
    const changed = inputChanges(was, r).map((c) => c.key);
    if (changed.length === 0) continue;
    if (changed.some((k) => k === "triggers" || k.startsWith("triggers."))) {
      replaced.add(keyOf(r));
      if (r.inputs.create !== undefined) runs.push({ name: r.name, verb: "replace", command: r.inputs.create });
      continue;
    }
    const command = r.inputs.update ?? r.inputs.create;
    if (command !== undefined) runs.push({ name: r.name, verb: r.inputs.update !== undefined ? "update" : "create", command });
  }
  const deleted = [...before].reverse().filter((r) => isCommand(r) && (!now.has(keyOf(r)) || replaced.has(keyOf(r))));
  for (const r of deleted) if (r.inputs.delete !== undefined) runs.push({ name: r.name, verb: "delete", command: r.inputs.delete });
  return runs;
}
