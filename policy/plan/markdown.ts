// The stage plan as Markdown, written to be read as a pull-request comment: the monthly
// cost of every stage first, then per stage a few sentences (what it does, what it adds,
// changes and removes by kind, what it costs) with the resource table folded away.
import type { FerryConfig } from "../../config/schema";
import type { CostLine, StageCost } from "./cost";
import { USAGE_BASED } from "./cost";
import type { CommandRun, InputChange, PlannedResource, StageDiff } from "./diff";
import { KNOWN_AFTER_UP } from "./planned";
import { WindowEstimate, formatDuration } from "./write-window";

export interface PlannedStage {
  stage: string;
  diff?: StageDiff;
  /** The Commands the stage runs, in the engine's order. */
  commands?: CommandRun[];
  total?: number;
  invalid?: string;
  cost?: StageCost;
}

/** Where the plan's figures come from, printed beside them. */
export interface CostSources {
  sourceKind: FerryConfig["source"]["kind"];
  /** The AWS table used (undefined: none shipped for the stack's region). */
  prices?: { region: string; date: string; source: string };
  region: string;
  /** When `ferry init` read the source (undefined: no inventory). */
  inventoryTakenAt?: string;
  /** The stack's traffic share during proxy, for the words. */
  trafficPercent?: number;
  /** The cutover's write window, estimated (./write-window). */
  writeWindow?: WindowEstimate;
}

/** Keep a table cell on one line and its pipes literal. */
const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

const CONTEXT = 24;

/** A value longer than this is shown clipped: a table cell, not the whole input. */
const MAX_SHOWN = 400;
const clipped = (text: string) => (text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text);

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
  if (change.before === undefined) return `\`${change.key}\`: (unset) → ${cell(clipped(change.after ?? ""))}`;
  if (change.after === undefined) return `\`${change.key}\`: ${cell(clipped(change.before))} → (unset)`;
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

/**
 * The stage's Commands as one shell listing, in the order they run: what a reviewer checks
 * against the runbook. Steps that do not depend on each other run side by side.
 */
export function commandList(runs: CommandRun[]): string[] {
  if (runs.length === 0) return [];
  const fence = "```";
  return [
    `<details><summary>Commands, in the order they run: ${runs.length}</summary>`,
    "",
    "Each step starts once the steps it depends on are done; steps that do not depend on each other run side by side.",
    "",
    `${fence}sh`,
    ...runs.flatMap((r, i) => [`# ${i + 1}. ${r.name} (${r.verb})`, r.command.replace(/\n+$/, "")]),
    fence,
    "",
    "</details>",
    "",
  ];
}

// ---- words ---------------------------------------------------------------------

/** What each stage does, in a sentence, for the source kind at hand. */
export function stageSentence(stage: string, sources: Pick<CostSources, "sourceKind" | "trafficPercent">): string {
  const heroku = sources.sourceKind === "heroku";
  switch (stage) {
    case "provision":
      return "Builds the target on AWS beside the source (network, database, Redis, app servers, load balancer); no data and no traffic move.";
    case "replicate":
      return heroku
        ? "Copies the data stores into AWS: a timed trial copy of Postgres by dump (Heroku grants no replication; the real copy runs in the cutover's window), Redis by SCAN copy with a live tail; the source is only read."
        : "Copies the data stores into AWS and keeps them in sync (replication); the source is only read.";
    case "proxy":
      return heroku
        ? `AWS starts serving requests: a Cloudflare load balancer splits them by weight (${sources.trafficPercent ?? 0}% to AWS).`
        : "AWS starts serving requests: the old box's nginx forwards every request to the AWS load balancer.";
    case "cutover":
      return "Fences the source, moves the data stores over for good, repoints the app and points Cloudflare DNS at AWS.";
    case "decommission":
      return heroku
        ? "Releases the Postgres and Redis add-ons ferry moved, once their cutover is done (the dynos stopped at cutover); there is no way back from it."
        : "Drops the publication and replication slot on the old box (its app stopped at cutover); the box itself stays until you destroy it.";
    default:
      return "";
  }
}

/** `aws:rds/instance:Instance` -> `rds Instance`; `command:local:Command` -> `local Command`. */
export function kindOf(type: string): string {
  const [, module = "", resource = type] = type.split(":");
  const area = module.split("/")[0];
  return area && area !== "index" ? `${area} ${resource}` : resource;
}

/** Kinds named in a summary; the rest are counted as "more". */
const KINDS_SHOWN = 6;

/** ferry's own components and the provider registrations group resources; they bill nothing. */
const isGrouping = (type: string) => type.startsWith("ferry:") || type.startsWith("pulumi:providers:");

/** "3 (2 local Command, 1 rds Instance)": the most frequent kinds, groupings left out of the words. */
function byKind(resources: PlannedResource[]): string {
  if (resources.length === 0) return "0";
  const counts = new Map<string, number>();
  for (const r of resources.filter((x) => !isGrouping(x.type))) counts.set(kindOf(r.type), (counts.get(kindOf(r.type)) ?? 0) + 1);
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const parts = sorted.slice(0, KINDS_SHOWN).map(([k, n]) => `${n} ${k}`);
  const rest = sorted.slice(KINDS_SHOWN).reduce((n, [, c]) => n + c, 0);
  if (rest > 0) parts.push(`${rest} more of ${sorted.length - KINDS_SHOWN} other kinds`);
  return parts.length ? `${resources.length} (${parts.join(", ")})` : String(resources.length);
}

// ---- downtime ------------------------------------------------------------------

/** Why no write is refused at the stages before and after the cutover. */
const NO_WINDOW: Record<string, string> = {
  provision: "none: the source is only read.",
  replicate: "none: the copy reads the source, which stays writable.",
  proxy: "none: requests move, the data stays on the source.",
  decommission: "none: writes already go to AWS.",
};

/** How the rate-based copy figure is replaced by this database's own. */
const TRIAL_HINT = "after `ferry:replicate` has run, `pulumi stack output --json > outputs.json` and `npm run plan -- --stack NAME --outputs outputs.json` put the trial copy's own time in its place";

function windowBasis(w: WindowEstimate): string {
  switch (w.basis) {
    case "trial":
      return "The copy's part is replicate's trial copy of this database, timed while the source stayed writable.";
    case "rate":
      return `The copy's part grows with the database and is a rate-based figure: ${TRIAL_HINT}.`;
    case "no-size":
      return `The dump copy, which grows with the database, is not estimated: \`ferry init\` recorded no size for it (rerun it, or ${TRIAL_HINT}).`;
    case "replication":
      return "Replication (or change capture) keeps the target caught up, so the window does not grow with the database (the in-window verify samples key ranges, or compares the rows changed since a full verify; keyless tables are counted whole).";
    default:
      return "The source has no Postgres to move.";
  }
}

/** The stage's write window: none before and after the cutover, the estimate at it. */
export function windowLines(stage: string, w: WindowEstimate | undefined): string[] {
  if (stage !== "cutover") return NO_WINDOW[stage] ? [`Write window: ${NO_WINDOW[stage]}`, ""] : [];
  if (!w) return [];
  const head = w.ms === undefined
    ? "**Write window (estimate): not known**, from the fence to the first new task on AWS serving writes, of which:"
    : `**Write window (estimate): about ${formatDuration(w.ms)}**, from the fence to the first new task on AWS serving writes:`;
  return [head, "", ...w.parts.map((p) => `- ${p.label}: ${formatDuration(p.ms)}, ${p.from}`), "", windowBasis(w), ""];
}

// ---- money ---------------------------------------------------------------------

export const usd = (n: number) => `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const usdOrUnknown = (n: number | null) => (n === null ? "unknown" : usd(n));

function sideName(kind: CostSources["sourceKind"]): string {
  return kind === "heroku" ? "Heroku" : "old box";
}

function costSentence(cost: StageCost, sources: CostSources): string {
  const both = cost.overlap ? " (both sides bill during this stage)" : "";
  const unknown = cost.unpriced.length ? `; ${cost.unpriced.length} item(s) without a price left out` : "";
  return `Monthly cost at this stage: ${sideName(sources.sourceKind)} ${usd(cost.sourceUsd)} + AWS ${usd(cost.awsUsd)} = **${usd(cost.totalUsd)}**${both}${unknown}.`;
}

function costLines(title: string, lines: CostLine[]): string[] {
  return lines.map((l) => `| ${title} | ${cell(l.label)} | ${usdOrUnknown(l.usd)} | ${cell(l.note ?? "")} |`);
}

function costDetails(cost: StageCost, sources: CostSources): string[] {
  return [
    `<details><summary>Cost lines (${usd(cost.totalUsd)} a month)</summary>`,
    "",
    "| side | item | per month | note |",
    "|---|---|---|---|",
    ...costLines(sideName(sources.sourceKind), cost.source),
    ...costLines("AWS", cost.aws),
    "",
    "</details>",
    "",
  ];
}

/** The overview at the top: every stage's monthly cost, with where the figures come from. */
export function costOverview(stages: PlannedStage[], sources: CostSources): string[] {
  const priced = stages.filter((s) => s.cost);
  if (priced.length === 0) return [];
  const side = sideName(sources.sourceKind);
  const rows = stages.map((s) =>
    s.cost
      ? `| ${s.stage} | ${usd(s.cost.sourceUsd)} | ${usd(s.cost.awsUsd)} | **${usd(s.cost.totalUsd)}** | ${s.cost.overlap ? "both sides bill" : ""} |`
      : `| ${s.stage} | | | | not reachable with this stack's holds |`,
  );
  const today = priced[0].cost!.sourceUsd;
  const after = priced[priced.length - 1].cost!;
  const awsSource = sources.prices
    ? `AWS: on-demand list prices for ${sources.prices.region}, table of ${sources.prices.date} (${sources.prices.source}).`
    : `AWS: no price table is shipped for ${sources.region}, so AWS lines are unpriced; add policy/plan/prices/aws-${sources.region}.json (npm run prices).`;
  const sourceOrigin = sources.inventoryTakenAt
    ? sources.sourceKind === "heroku"
      ? `${side}: dyno sizes and add-on plan prices from the Heroku Platform API, read by \`ferry init\` on ${sources.inventoryTakenAt.slice(0, 10)}.`
      : `${side}: the box's monthly price from the inventory \`ferry init\` wrote on ${sources.inventoryTakenAt.slice(0, 10)}.`
    : `${side}: unpriced, no inventory; run \`ferry init\` to read the source and its prices.`;
  return [
    `**Monthly cost by stage.** The source costs ${usd(today)} a month today; after decommission AWS costs ${usd(after.awsUsd)} a month${after.sourceUsd > 0 ? ` and the source still bills ${usd(after.sourceUsd)} (see the decommission cost lines)` : ""}.`,
    "",
    `| stage | ${side} | AWS | total | |`,
    "|---|---|---|---|---|",
    ...rows,
    "",
    `${awsSource} ${sourceOrigin} Not counted (billed by use): ${USAGE_BASED}.`,
    "",
  ];
}

function changeSummary(d: StageDiff, total: number): string {
  return `Adds ${byKind(d.added)}; changes ${byKind(d.changed.map((c) => c.resource))}; removes ${byKind(d.removed)}. ${total} resources in all.`;
}

export function renderPlan(stack: string, stages: PlannedStage[], sources?: CostSources): string {
  const lines = [
    `# ferry stage plan: ${stack}`,
    "",
    `Each stage is the one before plus its flag; secrets show as [secret], what a step prints before it has run as ${KNOWN_AFTER_UP}, and task definition revisions are stand-ins (a changed definition gets a new one).`,
    "",
  ];
  if (sources) lines.push(...costOverview(stages, sources));
  stages.forEach((s, i) => {
    const title = i === 0 ? `## ${s.stage} (no flags)` : `## ${s.stage} (ferry:${s.stage} true)`;
    lines.push(title, "");
    if (s.invalid) {
      lines.push(`Not reachable with this stack's settings: ${s.invalid}`, "");
      return;
    }
    const d = s.diff!;
    if (sources) lines.push(stageSentence(s.stage, sources), "", ...windowLines(s.stage, sources.writeWindow));
    lines.push(changeSummary(d, s.total!), "");
    if (s.cost && sources) lines.push(costSentence(s.cost, sources), "", ...costDetails(s.cost, sources));
    lines.push(
      `<details><summary>Resources: ${d.added.length} added, ${d.changed.length} changed, ${d.removed.length} removed</summary>`,
      "",
      ...table(d),
      "",
      "</details>",
      "",
      ...commandList(s.commands ?? []),
    );
  });
  return lines.join("\n");
}
