// The stage plan as Markdown: one table per stage of what it adds, changes (with the
// inputs that change) and removes compared with the stage before.
import type { InputChange, PlannedResource, StageDiff } from "./diff";

export interface PlannedStage {
  stage: string;
  diff?: StageDiff;
  total?: number;
  invalid?: string;
}

/** Keep a table cell on one line and its pipes literal. */
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

const CONTEXT = 24;

/** Long values differ somewhere in the middle: show both around the first difference. */
export function aroundDifference(before: string, after: string): [string, string] {
  if (before.length <= 2 * CONTEXT + 20 && after.length <= 2 * CONTEXT + 20) return [before, after];
  let p = 0;
  while (p < before.length && before[p] === after[p]) p++;
  const from = Math.max(0, p - CONTEXT);
  const clip = (s: string) => `${from > 0 ? "…" : ""}${s.slice(from, p + CONTEXT)}${s.length > p + CONTEXT ? "…" : ""}`;
  return [clip(before), clip(after)];
}

function changeText(change: InputChange): string {
  if (change.before === undefined) return `\`${change.key}\`: (unset) → ${cell(change.after ?? "")}`;
  if (change.after === undefined) return `\`${change.key}\`: ${cell(change.before)} → (unset)`;
  const [before, after] = aroundDifference(change.before, change.after);
  return `\`${change.key}\`: ${cell(before)} → ${cell(after)}`;
}

/** Rows grouped by type, then name: the order resources register in is not meaningful. */
const byTypeAndName = <T>(key: (x: T) => PlannedResource) => (a: T, b: T) =>
  `${key(a).type} ${key(a).name}`.localeCompare(`${key(b).type} ${key(b).name}`);

function table(diff: StageDiff): string[] {
  const self = (r: PlannedResource) => r;
  const rows = [
    ...[...diff.added].sort(byTypeAndName(self)).map((r) => `| added | \`${r.type}\` | ${r.name} | |`),
    ...[...diff.changed].sort(byTypeAndName((c) => c.resource)).map((c) => `| changed | \`${c.resource.type}\` | ${c.resource.name} | ${c.changes.map(changeText).join("<br>")} |`),
    ...[...diff.removed].sort(byTypeAndName(self)).map((r) => `| removed | \`${r.type}\` | ${r.name} | |`),
  ];
  if (rows.length === 0) return ["No resource changes."];
  return ["| | type | name | inputs that change |", "|---|---|---|---|", ...rows];
}

export function renderPlan(stack: string, stages: PlannedStage[]): string {
  const lines = [`# ferry stage plan: ${stack}`, "", "Each stage is the one before plus its flag; secrets show as [secret].", ""];
  stages.forEach((s, i) => {
    const title = i === 0 ? `## ${s.stage} (no flags)` : `## ${s.stage} (ferry:${s.stage} true)`;
    lines.push(title, "");
    if (s.invalid) {
      lines.push(`Not reachable with this stack's settings: ${s.invalid}`, "");
      return;
    }
    const d = s.diff!;
    lines.push(`${s.total} resources; ${d.added.length} added, ${d.changed.length} changed, ${d.removed.length} removed.`, "", ...table(d), "");
  });
  return lines.join("\n");
}
