// Rules across resources: what a provider refuses because of another resource, or of
// something already live that the stack does not manage.
import type { FerryConfig } from "../../config";
import { LiveDnsRecord, ProviderWorld, Registration, plainInputs, physicalName } from "./rules";
import { containersOf } from "./ecs";

const SAME_NAME_DOC = "https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/";

/**
 * The live state ferry's config describes: the records serving the hostnames today. The
 * first `pulumi up` of a ferry stack is provision (every flag off) and adopts them; a
 * stage with any flag set runs on a stack where they are already in state.
 */
export function worldOf(config: FerryConfig): ProviderWorld {
  const { zoneId, hostnames } = config.target.cloudflare;
  const liveDnsRecords = new Map<string, LiveDnsRecord>();
  for (const host of hostnames) {
    if (!host.record) continue;
    const { id, type, content, proxied, ttl, comment } = host.record;
    liveDnsRecords.set(`${zoneId}/${id}`, { zoneId, id, name: host.name, type, content, proxied, ttl, comment });
  }
  const { replicate, proxy, cutover, decommission } = config.stages;
  const provisioned = replicate || proxy || cutover || decommission;
  return { liveDnsRecords, adopted: new Set(provisioned ? liveDnsRecords.keys() : []) };
}

interface ZoneRecord {
  zoneId: string;
  name: string;
  type: string;
  content: string;
  /** Who holds it: a registration, or a live record nothing adopts. */
  owner: string;
}

/** Records that will exist in each zone: those declared, and live ones no declaration adopts. */
function zoneRecords(registrations: Registration[], world: ProviderWorld): ZoneRecord[] {
  // A record declared with its import id is that live record (adopted now or earlier); one
  // left in state but no longer declared is deleted with retainOnDelete, so it stays live.
  const adopted = new Set(registrations.map((r) => r.options.import).filter(Boolean));
  const declared = registrations
    .filter((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord")
    .map((r) => {
      const i = plainInputs(r.inputs);
      return { zoneId: String(i.zoneId), name: String(i.name).toLowerCase(), type: String(i.type), content: String(i.content), owner: `${r.type} ${r.name}` };
    });
  const live = [...world.liveDnsRecords.entries()]
    .filter(([importId]) => !adopted.has(importId))
    .map(([, l]) => ({ zoneId: l.zoneId, name: l.name.toLowerCase(), type: l.type, content: l.content, owner: `the live ${l.type} record ${l.id} (not adopted)` }));
  return [...declared, ...live];
}

/**
 * One name, one CNAME: Cloudflare refuses a CNAME beside any other record of the same
 * name, and any record identical to an existing one (error 81058). A/AAAA records may share
 * a name when their contents differ (round robin).
 */
function dnsCollisions(registrations: Registration[], world: ProviderWorld): string[] {
  const byName = new Map<string, ZoneRecord[]>();
  for (const rec of zoneRecords(registrations, world)) {
    const key = `${rec.zoneId}/${rec.name}`;
    byName.set(key, [...(byName.get(key) ?? []), rec]);
  }
  const out: string[] = [];
  for (const records of byName.values()) {
    if (records.length < 2) continue;
    const name = records[0].name;
    const owners = records.map((r) => r.owner).join(" and ");
    if (records.some((r) => r.type === "CNAME")) {
      out.push(`${name}: a CNAME cannot coexist with another record of the same name (${owners}) (${SAME_NAME_DOC})`);
      continue;
    }
    const seen = new Set<string>();
    for (const r of records) {
      const key = `${r.type} ${r.content}`;
      if (seen.has(key)) out.push(`${name}: an identical ${key} record already exists (${owners}) (${SAME_NAME_DOC})`);
      seen.add(key);
    }
  }
  return out;
}

/** One load balancer per hostname in a zone (it shadows a DNS record of that name, which is allowed). */
function loadBalancerNames(registrations: Registration[]): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const r of registrations.filter((x) => x.type === "cloudflare:index/loadBalancer:LoadBalancer")) {
    const i = plainInputs(r.inputs);
    const key = `${String(i.zoneId)}/${String(i.name).toLowerCase()}`;
    const other = seen.get(key);
    if (other) out.push(`${String(i.name)}: ${other} and ${r.name} are two load balancers on one hostname (https://developers.cloudflare.com/load-balancing/load-balancers/dns-records/)`);
    seen.set(key, r.name);
  }
  return out;
}

/**
 * "There is only one entry point ruleset per phase" at the zone level
 * (https://developers.cloudflare.com/ruleset-engine/about/rulesets/#entry-point-ruleset): the API
 * refuses a second zone ruleset of the same phase.
 */
function entryPointRulesets(registrations: Registration[]): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const r of registrations.filter((x) => x.type === "cloudflare:index/ruleset:Ruleset")) {
    const i = plainInputs(r.inputs);
    if (i.kind !== "zone") continue;
    const key = `${String(i.zoneId)}/${String(i.phase)}`;
    const other = seen.get(key);
    if (other) out.push(`${String(i.phase)}: ${other} and ${r.name} are two entry point rulesets of phase ${String(i.phase)} in zone ${String(i.zoneId)}; a zone has one per phase (https://developers.cloudflare.com/ruleset-engine/about/rulesets/#entry-point-ruleset)`);
    seen.set(key, r.name);
  }
  return out;
}

/** Explicit AWS names that must be unique per account and region (SSM parameters, log groups, ...). */
function duplicateExplicitNames(registrations: Registration[]): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  const named = (r: Registration) => (r.type === "aws:ssm/parameter:Parameter" ? { name: String(plainInputs(r.inputs).name ?? ""), explicit: r.inputs.name !== undefined } : physicalName(r));
  for (const r of registrations) {
    const physical = named({ ...r, inputs: plainInputs(r.inputs) });
    if (!physical?.explicit) continue;
    const key = `${r.type}/${physical.name}`;
    const other = seen.get(key);
    if (other) out.push(`${r.type}: ${other} and ${r.name} both take the name '${physical.name}'; AWS names are unique per account and region`);
    seen.set(key, r.name);
  }
  return out;
}

const CREATE_SERVICE_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html";

/** The family in a task definition ARN (`...:task-definition/FAMILY:REVISION`), or the family itself. */
function familyOf(taskDefinition: string): string {
  const m = /task-definition\/([^:]+)(:\d+)?$/.exec(taskDefinition);
  return m ? m[1] : taskDefinition.replace(/:\d+$/, "");
}

/**
 * A service against the task definition it runs: an awsvpc task needs the service's
 * subnets, and each load balancer entry must name a container port the definition maps
 * ("The container <name> did not have a container port <port> defined").
 */
function servicesAgainstTaskDefinitions(registrations: Registration[]): string[] {
  const definitions = registrations.filter((r) => r.type === "aws:ecs/taskDefinition:TaskDefinition").map((r) => plainInputs(r.inputs));
  const out: string[] = [];
  for (const r of registrations.filter((x) => x.type === "aws:ecs/service:Service")) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registration's inputs are the provider's untyped JSON
    const i = plainInputs(r.inputs) as Record<string, any>;
    const where = `${r.type} ${r.name}`;
    const definition = definitions.find((d) => d.family === familyOf(String(i.taskDefinition ?? "")));
    if (!definition) {
      out.push(`${where}: taskDefinition ${String(i.taskDefinition)} is no task definition of the stack (${CREATE_SERVICE_DOC})`);
      continue;
    }
    if (definition.networkMode === "awsvpc" && !i.networkConfiguration?.subnets?.length) out.push(`${where}: networkConfiguration is required for an awsvpc task definition (${CREATE_SERVICE_DOC})`);
    const containers = containersOf(definition);
    for (const lb of (i.loadBalancers ?? []) as { containerName: string; containerPort: number }[]) {
      const c = containers.find((x) => x.name === lb.containerName);
      if (!c?.portMappings?.some((p) => p.containerPort === lb.containerPort)) out.push(`${where}: loadBalancers names ${lb.containerName}:${lb.containerPort}, a port the task definition does not map (${CREATE_SERVICE_DOC})`);
    }
  }
  return out;
}

/** Everything the providers would refuse about the stack as a whole. */
export function checkStack(registrations: Registration[], world: ProviderWorld): string[] {
  return [...dnsCollisions(registrations, world), ...loadBalancerNames(registrations), ...entryPointRulesets(registrations), ...duplicateExplicitNames(registrations), ...servicesAgainstTaskDefinitions(registrations)];
}
