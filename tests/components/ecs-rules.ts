// What AWS refuses in the app plane's resources, checked on the inputs recorded under
// mocks, each rule with the documentation it comes from. A mock that accepted what the
// real API refuses would let a broken stack pass.
import type { Recorded } from "../program/harness";
import { plain } from "../program/harness";
import { isFargateSize } from "../../components/target/app/sizes";

type Container = {
  name: string; essential?: boolean; image?: string; environment?: { name: string }[]; secrets?: { name: string; valueFrom: string }[];
  portMappings?: { containerPort: number; hostPort?: number }[]; dependsOn?: { containerName: string; condition: string }[];
  mountPoints?: { sourceVolume: string }[]; logConfiguration?: { logDriver: string; options?: Record<string, string> };
};

export function containersOf(r: Recorded): Container[] {
  return JSON.parse(String(plain(r.inputs.containerDefinitions))) as Container[];
}

function taskDefinitionRules(r: Recorded): string[] {
  const out: string[] = [];
  const i = plain(r.inputs) as Record<string, unknown>;
  const where = `${r.name}:`;
  const fargate = ((i.requiresCompatibilities as string[]) ?? []).includes("FARGATE");
  // ECS Developer Guide, "Fargate task definition considerations": network mode must be awsvpc.
  if (fargate && i.networkMode !== "awsvpc") out.push(`${where} Fargate requires networkMode awsvpc`);
  // "Task CPU and memory": only the documented combinations register.
  if (fargate && !isFargateSize({ cpu: Number(i.cpu), memory: Number(i.memory) })) out.push(`${where} No Fargate configuration exists for cpu ${i.cpu} / memory ${i.memory}`);
  const json = String(i.containerDefinitions);
  // RegisterTaskDefinition: the request is limited to 64 KiB.
  if (Buffer.byteLength(json) > 64 * 1024) out.push(`${where} task definition over 64 KiB`);
  const containers = containersOf(r);
  const names = containers.map((c) => c.name);
  const volumes = ((i.volumes as { name: string }[]) ?? []).map((v) => v.name);
  if (new Set(names).size !== names.length) out.push(`${where} duplicate container names`);
  // "Container definitions: essential": a task must have at least one essential container.
  if (!containers.some((c) => c.essential !== false)) out.push(`${where} no essential container`);
  for (const c of containers) {
    if (!c.image) out.push(`${where} ${c.name} has no image`);
    for (const d of c.dependsOn ?? []) {
      const target = containers.find((x) => x.name === d.containerName);
      if (!target) out.push(`${where} ${c.name} depends on unknown container ${d.containerName}`);
      // "Container dependency": SUCCESS/COMPLETE "can't be set on an essential container".
      else if ((d.condition === "SUCCESS" || d.condition === "COMPLETE") && target.essential !== false) out.push(`${where} ${d.condition} on essential container ${d.containerName}`);
    }
    // awsvpc: "hostPort can be left blank or it must be the same value as the containerPort".
    for (const p of c.portMappings ?? []) if (p.hostPort !== undefined && p.hostPort !== p.containerPort) out.push(`${where} ${c.name} hostPort != containerPort under awsvpc`);
    for (const m of c.mountPoints ?? []) if (!volumes.includes(m.sourceVolume)) out.push(`${where} ${c.name} mounts unknown volume ${m.sourceVolume}`);
    // "Specifying sensitive data": valueFrom is the full ARN of the secret (or parameter).
    for (const s of c.secrets ?? []) if (!/^arn:aws[a-z-]*:(secretsmanager|ssm):/.test(s.valueFrom)) out.push(`${where} ${c.name} secret ${s.name} valueFrom is not an ARN`);
    const envNames = new Set((c.environment ?? []).map((e) => e.name));
    for (const s of c.secrets ?? []) if (envNames.has(s.name)) out.push(`${where} ${c.name} sets ${s.name} both as environment and as a secret`);
    // "Using the awslogs log driver": awslogs-group and awslogs-region are required.
    const log = c.logConfiguration;
    if (log?.logDriver === "awslogs" && !(log.options?.["awslogs-group"] && log.options?.["awslogs-region"])) out.push(`${where} ${c.name} awslogs without group and region`);
  }
  return out;
}

function serviceRules(r: Recorded, all: Recorded[]): string[] {
  const out: string[] = [];
  const i = plain(r.inputs) as Record<string, any>;
  const where = `${r.name}:`;
  const definition = all.find((d) => d.type === "aws:ecs/taskDefinition:TaskDefinition" && `arn:aws:ecs:us-east-1:123456789012:task-definition/${d.inputs.family}:1` === i.taskDefinition);
  if (!definition) return [`${where} taskDefinition is not a declared task definition`];
  // CreateService: "networkConfiguration ... is required for task definitions that use the awsvpc network mode".
  if (plain(definition.inputs.networkMode) === "awsvpc" && !i.networkConfiguration?.subnets?.length) out.push(`${where} awsvpc service without networkConfiguration.subnets`);
  const lbs = (i.loadBalancers ?? []) as { targetGroupArn: string; containerName: string; containerPort: number }[];
  // CreateService healthCheckGracePeriodSeconds: only for services configured to use load balancers.
  if (i.healthCheckGracePeriodSeconds !== undefined && lbs.length === 0) out.push(`${where} healthCheckGracePeriodSeconds without a load balancer`);
  const containers = containersOf(definition);
  for (const lb of lbs) {
    const c = containers.find((x) => x.name === lb.containerName);
    // "The container <name> did not have a container port <port> defined."
    if (!c || !(c.portMappings ?? []).some((p) => p.containerPort === lb.containerPort)) out.push(`${where} load balancer container ${lb.containerName}:${lb.containerPort} has no such port mapping`);
    const group = all.find((g) => g.type === "aws:lb/targetGroup:TargetGroup" && `arn:aws:elasticloadbalancing:::${g.name}` === lb.targetGroupArn);
    // "Use a load balancer": awsvpc tasks need target type ip.
    if (!group) out.push(`${where} unknown target group ${lb.targetGroupArn}`);
    else if (plain(group.inputs.targetType) !== "ip") out.push(`${where} target group ${group.name} has targetType ${plain(group.inputs.targetType)}, awsvpc needs ip`);
  }
  return out;
}

function scheduleRules(r: Recorded): string[] {
  const out: string[] = [];
  const i = plain(r.inputs) as Record<string, any>;
  const where = `${r.name}:`;
  const e = String(i.scheduleExpression);
  // EventBridge Scheduler "Schedule types": rate(value unit) or cron with six fields.
  const ok = /^rate\(1 (minute|hour|day)\)$|^rate\(([2-9]|\d\d+) (minutes|hours|days)\)$/.test(e) || (/^cron\(\S+( \S+){5}\)$/.test(e) && (e.split(" ")[2] === "?") !== (e.split(" ")[4] === "?"));
  if (!ok) out.push(`${where} invalid schedule expression ${e}`);
  // CreateSchedule: FlexibleTimeWindow mode OFF takes no MaximumWindowInMinutes.
  if (i.flexibleTimeWindow?.mode === "OFF" && i.flexibleTimeWindow?.maximumWindowInMinutes !== undefined) out.push(`${where} maximumWindowInMinutes with mode OFF`);
  const ecs = i.target?.ecsParameters;
  if (ecs) {
    if (!/^arn:aws:ecs:[^:]+:\d{12}:cluster\//.test(String(i.target.arn))) out.push(`${where} ECS target arn is not a cluster ARN`);
    // "EcsParameters": awsvpc task definitions need a NetworkConfiguration.
    if (ecs.launchType === "FARGATE" && !ecs.networkConfiguration?.subnets?.length) out.push(`${where} Fargate target without networkConfiguration`);
    if (!i.target.roleArn) out.push(`${where} target without roleArn`);
  }
  return out;
}

function secretRules(r: Recorded): string[] {
  const i = plain(r.inputs) as Record<string, unknown>;
  const name = String(i.name ?? i.namePrefix ?? "");
  // CreateSecret Name: "ASCII letters, numbers, and /_+=.@-"; at most 512 characters.
  return /^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name) ? [] : [`${r.name}: secret name ${JSON.stringify(name)} has characters Secrets Manager refuses`];
}

/** Every refusal AWS would give for the app plane's resources. */
export function appPlaneViolations(resources: Recorded[]): string[] {
  return resources.flatMap((r) => {
    switch (r.type) {
      case "aws:ecs/taskDefinition:TaskDefinition": return taskDefinitionRules(r);
      case "aws:ecs/service:Service": return serviceRules(r, resources);
      case "aws:scheduler/schedule:Schedule": return scheduleRules(r);
      case "aws:secretsmanager/secret:Secret": return secretRules(r);
      case "aws:appautoscaling/target:Target": return Number(r.inputs.minCapacity) <= Number(r.inputs.maxCapacity) ? [] : [`${r.name}: minCapacity above maxCapacity`];
      default: return [];
    }
  });
}
