// Writing the three report files (and the raw timeline, so a report can be rebuilt).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunTimeline } from "../timeline";
import { buildReport, RehearsalReport } from "./build";
import { renderMarkdown } from "./markdown";
import { renderSvg } from "./svg";

export function writeReport(t: RunTimeline, outDir: string): RehearsalReport {
  mkdirSync(outDir, { recursive: true });
  const report = buildReport(t);
  writeFileSync(join(outDir, "report.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(outDir, "report.md"), renderMarkdown(report));
  writeFileSync(join(outDir, "report.svg"), renderSvg(t));
  writeFileSync(join(outDir, "timeline.json"), JSON.stringify(t) + "\n");
  return report;
}
