// Writing the three report files (and the raw timeline, so a report can be rebuilt).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RunTimeline } from "../timeline";
import { buildReport, RehearsalReport } from "./build";
import { renderMarkdown } from "./markdown";
import { esc, renderSvg } from "./svg";

/**
 * A secret as each report file may hold it: as written, inside a JSON string (an SSH key's
 * newlines become \n, a quote \"), and in the SVG's XML (&amp; &lt; &quot;).
 */
function writtenForms(secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), esc(secret)])];
}

/** Replace every occurrence of a secret, in every form a file may hold it: the last line of defence if one slipped into an error text. */
export function scrub(text: string, secrets: string[]): string {
  // Longest first, so a secret that contains another is replaced whole.
  const forms = secrets.filter((s) => s).flatMap(writtenForms).sort((a, b) => b.length - a.length);
  let out = text;
  for (const form of forms) out = out.split(form).join("***");
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
