// The stage plan as Markdown: one table per stage of what it adds, changes (with the
// inputs that change) and removes compared with the stage before.
import type { InputChange, StageDiff } from "./diff";

export interface PlannedStage {
  stage: string;
  diff?: StageDiff;
  total?: number;
  invalid?: string;
}

/** Keep a table cell on one line and its pipes literal. */
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function changeText(change: InputChange): string {
  return `\`${change.key}\`: ${change.before === undefined ? "(unset)" : cell(change.before)} → ${change.after === undefined ? "(unset)" : cell(change.after)}`;
}

function table(diff: StageDiff): string[] {
  const rows = [
    ...diff.added.map((r) => `| added | \`${r.type}\` | ${r.name} | |`),
    ...diff.changed.map((c) => `| changed | \`${c.resource.type}\` | ${c.resource.name} | ${c.changes.map(changeText).join("<br>")} |`),
    ...diff.removed.map((r) => `| removed | \`${r.type}\` | ${r.name} | |`),
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
