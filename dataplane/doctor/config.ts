// The stack's own configuration: every stand-in `ferry init` left (one finding each, so
// the user sees all of them at once), a secret stored in clear, then the program's own
// validation with the stand-ins set aside (they were reported already).
import { parseConfig } from "../../config/parse";
import { findPlaceholders, placeholderLine } from "../../config/placeholders";
import { requireSecretStorage } from "../../config/secret-storage";
import type { FerryConfig } from "../../config/schema";
import { Finding, finding } from "./findings";
import type { StackConfig } from "./pulumi";

function decoded(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // parseConfig names the key
  }
}

export function placeholderFindings(raw: Record<string, string>): Finding[] {
  return ["ferry:source", "ferry:target"]
    .flatMap((key) => findPlaceholders(key, decoded(raw[key])))
    .map((found) => finding(found.key, "block", placeholderLine(found).slice(found.key.length + 2)));
}

export function checkConfig(stack: StackConfig): { findings: Finding[]; config?: FerryConfig } {
  const findings = placeholderFindings(stack.raw);
  try {
    requireSecretStorage(stack.raw, stack.isSecret);
  } catch (e) {
    findings.push(finding("config", "block", (e as Error).message));
  }
  try {
    const config = parseConfig(stack.raw, { allowPlaceholders: true });
    if (findings.length === 0) findings.push(finding("config", "ok", `a ${config.source.kind} source moving to ${config.target.region}`));
    return { findings, config };
  } catch (e) {
    findings.push(finding("config", "block", (e as Error).message.split("\n")[0]));
    return { findings };
  }
}
