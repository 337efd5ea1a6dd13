// Writing the three report files (and the raw timeline, so a report can be rebuilt).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunTimeline } from "../timeline";
import { buildReport, RehearsalReport } from "./build";
import { renderMarkdown } from "./markdown";
import { renderSvg } from "./svg";

/** Replace every occurrence of a secret: the last line of defence if one slipped into an error text. */
export function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}

export function writeReport(t: RunTimeline, outDir: string, secrets: string[] = []): RehearsalReport {
  mkdirSync(outDir, { recursive: true });
  const report = buildReport(t);
  const write = (name: string, text: string) => writeFileSync(join(outDir, name), scrub(text, secrets));
  write("report.json", JSON.stringify(report, null, 2) + "\n");
  write("report.md", renderMarkdown(report));
  write("report.svg", renderSvg(t));
  write("timeline.json", JSON.stringify(t) + "\n");
  return report;
}
