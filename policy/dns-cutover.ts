// A hostname's Cloudflare record may point at AWS only once the app is cut over.
// Before that the record must be exactly the one that serves the hostname today
// (ferry:target.cloudflare.hostnames[].record), or absent: a record that moved early
// sends users to a target whose data is still a copy.
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { FerryConfig, atLeast, componentStage } from "../config";
import { UNKNOWN, knownOr, withFerryConfig } from "./judge";
import { STACK_CONFIG_SCHEMA } from "./stack-config";

export const DNS_TYPES = ["cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record"];

/** What a record says, read defensively: `unknown` when computed (e.g. the load balancer's name in a preview). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- @pulumi/policy hands props over as Record<string, any>
function recordOf(props: Record<string, any>): { name: unknown; type: unknown; content: unknown } {
  return {
    name: knownOr(() => props.name, UNKNOWN),
    type: knownOr(() => props.type, UNKNOWN),
    content: knownOr(() => props.content ?? props.value, UNKNOWN),
  };
}

/** Why a record for `hostname` is not allowed before cutover, or undefined when it is. */
export function earlyRecordProblem(config: FerryConfig, hostname: string, record: { type: unknown; content: unknown }): string | undefined {
  const host = config.target.cloudflare.hostnames.find((h) => h.name === hostname);
  if (!host) return undefined;
  if (!host.record) return `${hostname} has no record before cutover (ferry:target.cloudflare.hostnames lists none to adopt), but one is declared`;
  if (record.type === host.record.type && record.content === host.record.content) return undefined;
  const content = record.content === UNKNOWN ? "a value computed from another resource" : JSON.stringify(record.content);
  return `${hostname} must stay ${host.record.type} ${host.record.content} until cutover, but points at ${content}`;
}

export function validateDnsCutover(args: ResourceValidationArgs, report: ReportViolation): void {
  if (!DNS_TYPES.includes(args.type)) return;
  withFerryConfig(args, report, (config) => {
    const stage = componentStage("app", config.stages);
    if (atLeast(stage, "cutover")) return;
    const record = recordOf(args.props);
    if (typeof record.name !== "string") return;
    const problem = earlyRecordProblem(config, record.name, record);
    if (problem) report(`${problem} (the app is at ${stage}; ferry:cutover moves DNS)`);
  });
}

export const dnsOnlyAtCutover: ResourceValidationPolicy = {
  name: "ferry-dns-at-cutover",
  description: "Cloudflare records for the app's hostnames point at AWS only once the cutover flag is on.",
  enforcementLevel: "mandatory",
  configSchema: STACK_CONFIG_SCHEMA,
  validateResource: validateDnsCutover,
};
