// What each stage costs a month on each side. Pure: the stack's config per stage, the
// resources the program declares at that stage, what `ferry init` read from the
// source (with Heroku's own prices) and a price table in, a per-stage table out. The
// source is billed until decommission releases it, the target from provision on, so
// every stage before decommission pays for both sides: the overlap.
import { STAGES } from "../../config/schema";
import type { FerryConfig, Stage } from "../../config/schema";
import type { SourceInventory } from "../../dataplane/init/inventory";
import type { PriceTable } from "./prices";

export interface CostLine {
  label: string;
  /** Monthly cost in USD; null when the price is unknown (named in the label's note). */
  usd: number | null;
  note?: string;
}

export interface StageCost {
  stage: Stage;
  source: CostLine[];
  aws: CostLine[];
  sourceUsd: number;
  awsUsd: number;
  totalUsd: number;
  /** Both sides bill during this stage. */
  overlap: boolean;
  /** Lines whose price is unknown: the totals leave them out. */
  unpriced: string[];
}

/** A declared resource as the plan's collector records it (type, name, raw inputs). */
export interface PricedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

export interface StageInput {
  stage: Stage;
  /** Absent when the stack's holds make this stage unreachable. */
  config?: FerryConfig;
  declared?: PricedResource[];
}

/** Charged by use, not by the hour: named in the plan, never summed. */
export const USAGE_BASED = "S3 storage and requests, ECR storage (the image copies), CloudWatch Logs, data transfer, NAT per-GB processing, load balancer LCUs";

const round2 = (n: number) => Math.round(n * 100) / 100;
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown, fallback: number): number => (typeof v === "number" && Number.isFinite(v) ? v : fallback);

// ---- AWS side --------------------------------------------------------------

/** EC2's default root volume when none is declared (the AMI's, 8 GB for Debian/Amazon Linux). */
const DEFAULT_ROOT_GB = 8;

function ec2Line(label: string, instanceType: string | undefined, volumeGb: number, count: number, prices: PriceTable): CostLine {
  const hourly = instanceType ? prices.ec2Hourly[instanceType] : undefined;
  const what = `${label}: ${count} × ${instanceType ?? "?"} + ${volumeGb} GB gp3`;
  if (hourly === undefined) return { label: what, usd: null, note: `${instanceType} is not in the price table` };
  return { label: what, usd: round2(count * (hourly * prices.hoursPerMonth + volumeGb * prices.ebsGp3GbMonth)) };
}

function rdsLine(r: PricedResource, prices: PriceTable): CostLine {
  const cls = str(r.inputs.instanceClass);
  const multiAz = r.inputs.multiAz === true;
  const gb = num(r.inputs.allocatedStorage, 20);
  const az = multiAz ? "multiAz" : "singleAz";
  const label = `RDS ${cls ?? "?"} ${multiAz ? "Multi-AZ" : "single-AZ"} + ${gb} GB gp3`;
  const hourly = cls ? prices.rdsPostgresHourly[cls]?.[az] : undefined;
  if (hourly === undefined) return { label, usd: null, note: `${cls} is not in the price table` };
  return { label, usd: round2(hourly * prices.hoursPerMonth + gb * prices.rdsGp3GbMonth[az]) };
}

function elastiCacheLine(r: PricedResource, prices: PriceTable): CostLine {
  const node = str(r.inputs.nodeType);
  const nodes = num(r.inputs.numCacheClusters, 1);
  const label = `ElastiCache ${nodes} × ${node ?? "?"}`;
  const hourly = node ? prices.elasticacheHourly[node] : undefined;
  if (hourly === undefined) return { label, usd: null, note: `${node} is not in the price table` };
  return { label, usd: round2(nodes * hourly * prices.hoursPerMonth) };
}

/** A launch template's instance type and root volume; the program names a group after its template. */
function templateOf(group: PricedResource, all: PricedResource[]): PricedResource | undefined {
  const templates = all.filter((r) => r.type === "aws:ec2/launchTemplate:LaunchTemplate");
  const id = str((group.inputs.launchTemplate as Record<string, unknown> | undefined)?.id);
  return templates.find((t) => t.name === group.name) ?? templates.find((t) => id !== undefined && `${t.name}-id` === id);
}

function templateVolumeGb(template: PricedResource | undefined): number {
  const mappings = template?.inputs.blockDeviceMappings;
  if (!Array.isArray(mappings)) return DEFAULT_ROOT_GB;
  return mappings.reduce((sum: number, m) => sum + num((m as { ebs?: { volumeSize?: unknown } }).ebs?.volumeSize, 0), 0) || DEFAULT_ROOT_GB;
}

/**
 * A Fargate service: desiredCount tasks of its task definition's vCPU and memory, by the
 * hour (https://aws.amazon.com/fargate/pricing/). One-off tasks (release phase, scheduled
 * jobs) bill per run and are not summed.
 */
function fargateLine(service: PricedResource, all: PricedResource[], prices: PriceTable): CostLine {
  const label = `Fargate ${service.name}`;
  const family = /task-definition\/([^:]+)/.exec(str(service.inputs.taskDefinition) ?? "")?.[1];
  const definition = all.find((r) => r.type === "aws:ecs/taskDefinition:TaskDefinition" && r.inputs.family === family);
  if (!definition) return { label, usd: null, note: "its task definition is not declared" };
  if (prices.fargateVcpuHourly === undefined || prices.fargateGbHourly === undefined) return { label, usd: null, note: "Fargate is not in the price table" };
  const vcpu = num(Number(definition.inputs.cpu), 0) / 1024;
  const gb = num(Number(definition.inputs.memory), 0) / 1024;
  const count = num(service.inputs.desiredCount, 0);
  return { label, usd: round2(count * (vcpu * prices.fargateVcpuHourly + gb * prices.fargateGbHourly) * prices.hoursPerMonth) };
}

/** One cost line per billed resource the stage declares; free ones (VPC, IAM, rules) give none. */
export function awsLines(declared: PricedResource[], prices: PriceTable): CostLine[] {
  const hourly = (label: string, rate: number, count = 1): CostLine => ({ label, usd: round2(count * rate * prices.hoursPerMonth) });
  return declared.flatMap((r): CostLine[] => {
    switch (r.type) {
      case "aws:ec2/instance:Instance": {
        const root = r.inputs.rootBlockDevice as { volumeSize?: unknown } | undefined;
        return [ec2Line(`EC2 ${r.name}`, str(r.inputs.instanceType), num(root?.volumeSize, DEFAULT_ROOT_GB), 1, prices)];
      }
      case "aws:autoscaling/group:Group": {
        const template = templateOf(r, declared);
        return [ec2Line(`EC2 ${r.name}`, str(template?.inputs.instanceType), templateVolumeGb(template), num(r.inputs.desiredCapacity, 0), prices)];
      }
      case "aws:ecs/service:Service":
        return [fargateLine(r, declared, prices)];
      case "aws:rds/instance:Instance":
        return [rdsLine(r, prices)];
      case "aws:elasticache/replicationGroup:ReplicationGroup":
        return [elastiCacheLine(r, prices)];
      case "aws:ec2/natGateway:NatGateway":
        return [hourly(`NAT gateway ${r.name}`, prices.natGatewayHourly)];
      // Every public IPv4 address is billed by the hour since 2024-02-01 (https://aws.amazon.com/vpc/pricing/).
      case "aws:ec2/eip:Eip":
        return [hourly(`public IPv4 ${r.name}`, prices.publicIpv4Hourly)];
      case "aws:lb/loadBalancer:LoadBalancer":
        return r.inputs.loadBalancerType === "application" || r.inputs.loadBalancerType === undefined
          ? [hourly(`ALB ${r.name} (hours; LCUs by use)`, prices.albHourly)]
          : [{ label: `load balancer ${r.name} (${String(r.inputs.loadBalancerType)})`, usd: null, note: "only application load balancers are in the price table" }];
      case "cloudflare:index/loadBalancer:LoadBalancer":
        return [{ label: `Cloudflare load balancer ${r.name}`, usd: prices.cloudflareLoadBalancerMonthly }];
      default:
        return [];
    }
  });
}

// ---- source side -------------------------------------------------------------

const atOrAfter = (stage: Stage, than: Stage) => STAGES.indexOf(stage) >= STAGES.indexOf(than);

/** Whether decommission has released `component` at this stage (its hold may keep it). */
function released(config: FerryConfig, stage: Stage, component: "postgres" | "redis" | "app"): boolean {
  const limit = config.stages.hold[component] ?? "decommission";
  return atOrAfter(stage, "decommission") && atOrAfter(limit, "decommission");
}

function herokuLines(config: FerryConfig, stage: Stage, inventory: Extract<SourceInventory, { kind: "heroku" }>): CostLine[] {
  const source = config.source.kind === "heroku" ? config.source : undefined;
  const storeOf = (app: string, addon: string) =>
    (["postgres", "redis"] as const).find((c) => source?.[c]?.app === app && source?.[c]?.addon === addon);
  return inventory.apps.flatMap((app) => [
    ...app.formation
      .filter((f) => f.quantity > 0)
      .map((f): CostLine => {
        const label = `${app.name} ${f.type}: ${f.quantity} × ${f.size}`;
        if (released(config, stage, "app")) return { label, usd: 0, note: "scaled to 0 at decommission" };
        return f.monthlyCentsEach === null ? { label, usd: null, note: `no price for dyno size ${f.size}` } : { label, usd: round2((f.quantity * f.monthlyCentsEach) / 100) };
      }),
    ...app.addons.map((a): CostLine => {
      const label = `${app.name} ${a.plan}`;
      const store = storeOf(app.name, a.name);
      if (store && released(config, stage, store)) return { label, usd: 0, note: "released at decommission" };
      const note = atOrAfter(stage, "decommission") && !store ? "still billed: ferry does not release it" : undefined;
      return a.monthlyCents === null ? { label, usd: null, note: `no price for plan ${a.plan}` } : { label, usd: round2(a.monthlyCents / 100), note };
    }),
  ]);
}

function boxLines(stage: Stage, inventory: Extract<SourceInventory, { kind: "box" }>): CostLine[] {
  const label = `box ${inventory.box.host}`;
  const note = atOrAfter(stage, "decommission") ? "billed until you destroy the box: decommission only stops its app" : undefined;
  if (inventory.box.monthlyCents === null) return [{ label, usd: null, note: "its monthly price is not readable over SSH: set monthlyCents in the inventory file" }];
  return [{ label, usd: round2(inventory.box.monthlyCents / 100), note }];
}

export function sourceLines(config: FerryConfig, stage: Stage, inventory: SourceInventory | undefined): CostLine[] {
  if (!inventory) return [{ label: `${config.source.kind} source`, usd: null, note: "no inventory: run `ferry init` to read the source and its prices" }];
  return inventory.kind === "heroku" ? herokuLines(config, stage, inventory) : boxLines(stage, inventory);
}

// ---- per stage ---------------------------------------------------------------

const sum = (lines: CostLine[]) => round2(lines.reduce((s, l) => s + (l.usd ?? 0), 0));

export function stageCosts(stages: StageInput[], inventory: SourceInventory | undefined, prices: PriceTable): (StageCost | undefined)[] {
  return stages.map((s) => {
    if (!s.config || !s.declared) return undefined;
    const source = sourceLines(s.config, s.stage, inventory);
    const aws = awsLines(s.declared, prices);
    const sourceUsd = sum(source);
    const awsUsd = sum(aws);
    return {
      stage: s.stage,
      source,
      aws,
      sourceUsd,
      awsUsd,
      totalUsd: round2(sourceUsd + awsUsd),
      overlap: sourceUsd > 0 && awsUsd > 0,
      unpriced: [...source, ...aws].filter((l) => l.usd === null).map((l) => `${l.label} (${l.note})`),
    };
  });
}
