// The second `pulumi up` of a stage, judged. Operators run `pulumi up` again and again
// with the same config: that must change nothing. What counts as a change is what can
// be observed, not a list of resource names:
// - any create, update, replace, import or delete of a resource that is not a Command
//   (a task definition revision, a service roll, a secret version, a record, a schedule)
//   is a change;
// - a Command (@pulumi/command) that ran is a read only when its stdout is what it was
//   before (the program reads a Command's result through its stdout, so the same stdout
//   feeds nothing new downstream) and nothing that depends on it, directly or through
//   others, changed; a Command created anew, deleted, or whose old copy's `delete` ran
//   (a replacement) changed something;
// - a step that failed changed, or left, something;
// - a `get` (a static read) is a read.
import type { EngineStep, StoredResource } from "./engine";

export type Verdict = "read" | "change";

export interface JudgedStep {
  resource: string;
  type: string;
  op: EngineStep["op"];
  ok: boolean;
  verdict: Verdict;
  /** What changed, or why the step counts as a read. Names and keys only, never values. */
  what: string;
}

const isCommand = (type: string) => type.startsWith("command:");

/** JSON paths whose values differ (at most `limit`), or undefined when either side is not JSON. */
function jsonPathsDiffering(a: string, b: string, limit = 6): string[] | undefined {
  let x: unknown;
  let y: unknown;
  try {
    x = JSON.parse(a);
    y = JSON.parse(b);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  const walk = (p: unknown, q: unknown, path: string) => {
    if (out.length >= limit) return;
    if (p !== null && q !== null && typeof p === "object" && typeof q === "object" && Array.isArray(p) === Array.isArray(q)) {
      const keys = new Set([...Object.keys(p as object), ...Object.keys(q as object)]);
      for (const k of keys) walk((p as Record<string, unknown>)[k], (q as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      return;
    }
    if (JSON.stringify(p) !== JSON.stringify(q)) out.push(path || "(the whole value)");
  };
  walk(x, y, "");
  return out;
}

/** How a Command's stdout differs, in keys or line counts: never the values (they may be anything). */
export function describeStdoutChange(before: string, after: string): string {
  const paths = jsonPathsDiffering(before, after);
  if (paths) return `stdout changed at ${paths.join(", ")}`;
  const a = before.split("\n");
  const b = after.split("\n");
  const differing = Array.from({ length: Math.max(a.length, b.length) }, (_, i) => a[i] !== b[i]).filter(Boolean).length;
  return `stdout changed (${differing} of ${Math.max(a.length, b.length)} line(s) differ)`;
}

function judgeOne(step: EngineStep, before: Map<string, StoredResource>, after: Map<string, StoredResource>): Omit<JudgedStep, "resource" | "type" | "op" | "ok"> {
  if (!step.ok) return { verdict: "change", what: `failed: ${step.detail ?? "no detail"}` };
  if (step.op === "read") return { verdict: "read", what: "read with get" };
  const inputs = step.changed?.length ? `: ${step.changed.join(", ")}` : "";
  if (!isCommand(step.type)) return { verdict: "change", what: `${step.op}${inputs}` };
  const old = before.get(step.urn);
  const now = after.get(step.urn);
  switch (step.op) {
    case "create":
    case "import":
      return { verdict: "change", what: "created: the first up did not leave it in the state" };
    case "delete":
      if (now) {
        // The old copy of a replacement, deleted after the new one was created.
        return old?.inputs.delete ? { verdict: "change", what: "replaced: the old copy's delete command ran" } : { verdict: "read", what: "replaced: the old copy had no delete command" };
      }
      return { verdict: "change", what: old?.inputs.delete ? "deleted: its delete command ran" : "deleted" };
    default: {
      const was = String(old?.outputs.stdout ?? "");
      const is = String(now?.outputs.stdout ?? "");
      if (was !== is) return { verdict: "change", what: `ran (${step.op}${inputs}); ${describeStdoutChange(was, is)}` };
      return { verdict: "read", what: `ran (${step.op}${inputs}); stdout as before` };
    }
  }
}

/** URNs that depend on `urn` through the state's dependencies, directly or through others. */
function downstreamOf(urn: string, resources: StoredResource[]): Set<string> {
  const dependents = new Map<string, string[]>();
  for (const r of resources) for (const d of r.dependencies) dependents.set(d, [...(dependents.get(d) ?? []), r.urn]);
  const seen = new Set<string>();
  const queue = [urn];
  while (queue.length) {
    for (const next of dependents.get(queue.shift()!) ?? []) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  return seen;
}

/**
 * Judge every step of a second `pulumi up` (run with the same config as the first),
 * given the state before and after it.
 */
export function judgeSecondUp(steps: EngineStep[], before: StoredResource[], after: StoredResource[]): JudgedStep[] {
  const beforeByUrn = new Map(before.map((r) => [r.urn, r]));
  const afterByUrn = new Map(after.map((r) => [r.urn, r]));
  const judged = steps.map((s) => ({ urn: s.urn, resource: s.name, type: s.type, op: s.op, ok: s.ok, ...judgeOne(s, beforeByUrn, afterByUrn) }));
  const changedUrns = new Set(judged.filter((j) => j.verdict === "change").map((j) => j.urn));
  const nameOf = (urn: string) => afterByUrn.get(urn)?.name ?? beforeByUrn.get(urn)?.name ?? urn;
  return judged.map(({ urn, ...j }) => {
    if (j.verdict !== "read" || !isCommand(j.type) || j.op === "delete") return j;
    const hit = [...downstreamOf(urn, [...after, ...before])].filter((d) => changedUrns.has(d));
    if (!hit.length) return j;
    return { ...j, verdict: "change" as const, what: `${j.what}, but what depends on it changed: ${[...new Set(hit.map(nameOf))].join(", ")}` };
  });
}

/** The changes, one line each ("resource (op): what"), for a failed check. */
export function changesOf(judged: JudgedStep[]): string[] {
  return judged.filter((j) => j.verdict === "change").map((j) => `${j.resource} (${j.op}): ${j.what}`);
}
