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
