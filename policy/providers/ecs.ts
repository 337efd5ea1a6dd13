// What ECS, EventBridge Scheduler, Secrets Manager and Application Auto Scaling refuse
// in the app plane's resources (components/target/compute.ts), one registration at a
// time; the rules across resources (a service against its task definition) are in
// stack.ts. Each rule cites the API documentation it comes from.
import { isFargateSize } from "../../components/target/app/sizes";
import type { Registration, Rule } from "./rules";

const REGISTER_TD_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html";
const FARGATE_TD_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html";
const TASK_SIZE_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#task_size";
const CONTAINER_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html";
const DEPENDENCY_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDependency.html";
const PORT_MAPPING_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PortMapping.html";
const SECRETS_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/specifying-sensitive-data.html";
const AWSLOGS_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html";
const CLUSTER_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html";
const SERVICE_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html";
const SCHEDULE_DOC = "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html";
const SCHEDULE_TYPES_DOC = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html";
const ECS_PARAMETERS_DOC = "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_EcsParameters.html";
const SECRET_DOC = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html";
const SCALABLE_TARGET_DOC = "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html";

/** A container definition, as far as the rules read one. */
export interface ContainerDefinition {
  name: string;
  essential?: boolean;
  image?: string;
  command?: string[];
  environment?: { name: string; value: string }[];
  secrets?: { name: string; valueFrom: string }[];
  portMappings?: { containerPort: number; hostPort?: number }[];
  dependsOn?: { containerName: string; condition: string }[];
  mountPoints?: { sourceVolume: string; containerPath: string }[];
  healthCheck?: { command: string[] };
  logConfiguration?: { logDriver: string; options?: Record<string, string> };
}

/** The containers of a task definition registration (containerDefinitions is a JSON string). */
export function containersOf(inputs: Record<string, unknown>): ContainerDefinition[] {
  const raw = inputs.containerDefinitions;
  if (typeof raw !== "string") return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? (parsed as ContainerDefinition[]) : [];
  } catch {
    return [];
  }
}

const at = (r: Registration, key: string) => `${r.type} ${r.name}: ${key}`;

const taskDefinition: Rule[] = [(r) => {
  const i = r.inputs;
  const out: string[] = [];
  const fargate = ((i.requiresCompatibilities as string[] | undefined) ?? []).includes("FARGATE");
  if (fargate && i.networkMode !== "awsvpc") out.push(`${at(r, "networkMode")}: Fargate requires awsvpc (${FARGATE_TD_DOC})`);
  if (fargate && !isFargateSize({ cpu: Number(i.cpu), memory: Number(i.memory) })) {
    out.push(`${at(r, "cpu/memory")}: no Fargate configuration exists for cpu ${String(i.cpu)} / memory ${String(i.memory)} (${TASK_SIZE_DOC})`);
  }
  if (typeof i.containerDefinitions !== "string" || containersOf(i).length === 0) return [...out, `${at(r, "containerDefinitions")}: not a JSON list of containers (${REGISTER_TD_DOC})`];
  // RegisterTaskDefinition: "The maximum size of a task definition is 64 KiB".
  if (Buffer.byteLength(i.containerDefinitions) > 64 * 1024) out.push(`${at(r, "containerDefinitions")}: over 64 KiB (${REGISTER_TD_DOC})`);
  return [...out, ...containerProblems(r, containersOf(i), ((i.volumes as { name: string }[] | undefined) ?? []).map((v) => v.name))];
}];

function containerProblems(r: Registration, containers: ContainerDefinition[], volumes: string[]): string[] {
  const out: string[] = [];
  const names = containers.map((c) => c.name);
  if (new Set(names).size !== names.length) out.push(`${at(r, "containerDefinitions")}: duplicate container names (${CONTAINER_DOC})`);
  // "All tasks must have at least one essential container."
  if (!containers.some((c) => c.essential !== false)) out.push(`${at(r, "containerDefinitions")}: no essential container (${CONTAINER_DOC})`);
  for (const c of containers) {
    const key = `containerDefinitions[${c.name}]`;
    if (!c.image) out.push(`${at(r, key)}: no image (${CONTAINER_DOC})`);
    for (const d of c.dependsOn ?? []) {
      const target = containers.find((x) => x.name === d.containerName);
      if (!target) out.push(`${at(r, key)}: depends on unknown container ${d.containerName} (${DEPENDENCY_DOC})`);
      // SUCCESS / COMPLETE "can't be set on an essential container".
      else if ((d.condition === "SUCCESS" || d.condition === "COMPLETE") && target.essential !== false) out.push(`${at(r, key)}: ${d.condition} on essential container ${d.containerName} (${DEPENDENCY_DOC})`);
    }
    // awsvpc: "hostPort can be left blank or it must be the same value as the containerPort".
    for (const p of c.portMappings ?? []) if (p.hostPort !== undefined && p.hostPort !== p.containerPort) out.push(`${at(r, key)}: hostPort ${p.hostPort} differs from containerPort ${p.containerPort} under awsvpc (${PORT_MAPPING_DOC})`);
    for (const m of c.mountPoints ?? []) if (!volumes.includes(m.sourceVolume)) out.push(`${at(r, key)}: mounts unknown volume ${m.sourceVolume} (${CONTAINER_DOC})`);
    // valueFrom is "the full ARN of the Secrets Manager secret or the full ARN of the parameter in the SSM Parameter Store".
    for (const s of c.secrets ?? []) if (!/^arn:aws[a-z-]*:(secretsmanager|ssm):/.test(s.valueFrom)) out.push(`${at(r, key)}: secret ${s.name} valueFrom is not an ARN (${SECRETS_DOC})`);
    const envNames = new Set((c.environment ?? []).map((e) => e.name));
    for (const s of c.secrets ?? []) if (envNames.has(s.name)) out.push(`${at(r, key)}: ${s.name} set both as environment and as a secret (${SECRETS_DOC})`);
    const log = c.logConfiguration;
    // awslogs-group and awslogs-region are required options.
    if (log?.logDriver === "awslogs" && !(log.options?.["awslogs-group"] && log.options?.["awslogs-region"])) out.push(`${at(r, key)}: awslogs needs awslogs-group and awslogs-region (${AWSLOGS_DOC})`);
  }
  return out;
}

// "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
const cluster: Rule[] = [(r) => {
  const name = r.inputs.name;
  return typeof name === "string" && !/^[A-Za-z0-9_-]{1,255}$/.test(name) ? [`${at(r, "name")}: '${name}' allows 1 to 255 of letters, digits, _ and - (${CLUSTER_DOC})`] : [];
}];

const service: Rule[] = [(r) => {
  const i = r.inputs;
  const out: string[] = [];
  const lbs = (i.loadBalancers as unknown[] | undefined) ?? [];
  // healthCheckGracePeriodSeconds: "only used when your service is configured to use a load balancer".
  if (i.healthCheckGracePeriodSeconds !== undefined && lbs.length === 0) out.push(`${at(r, "healthCheckGracePeriodSeconds")}: only for a service with a load balancer (${SERVICE_DOC})`);
  const desired = i.desiredCount;
  if (typeof desired === "number" && (desired < 0 || !Number.isInteger(desired))) out.push(`${at(r, "desiredCount")}: a whole number of tasks, 0 or more (${SERVICE_DOC})`);
  const net = i.networkConfiguration as { subnets?: string[]; securityGroups?: string[] } | undefined;
  // awsvpcConfiguration: "You can specify up to 16 subnets" and "up to 5 security groups".
  if ((net?.subnets?.length ?? 0) > 16) out.push(`${at(r, "networkConfiguration.subnets")}: at most 16 (${SERVICE_DOC})`);
  if ((net?.securityGroups?.length ?? 0) > 5) out.push(`${at(r, "networkConfiguration.securityGroups")}: at most 5 (${SERVICE_DOC})`);
  return out;
}];

/** rate(1 unit) or rate(N units), or a six-field cron where exactly one of day-of-month and day-of-week is "?". */
export function isScheduleExpression(e: string): boolean {
  if (/^rate\(1 (minute|hour|day)\)$/.test(e) || /^rate\(([2-9]|[1-9]\d+) (minutes|hours|days)\)$/.test(e)) return true;
  if (/^at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)$/.test(e)) return true;
  const cron = /^cron\((\S+( \S+){5})\)$/.exec(e);
  if (!cron) return false;
  const fields = cron[1].split(" ");
  return (fields[2] === "?") !== (fields[4] === "?");
}

const schedule: Rule[] = [(r) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registration's inputs are the provider's untyped JSON
  const i = r.inputs as Record<string, any>;
  const out: string[] = [];
  const e = String(i.scheduleExpression);
  if (!isScheduleExpression(e)) out.push(`${at(r, "scheduleExpression")}: '${e}' is not rate(), cron() with six fields and one '?', or at() (${SCHEDULE_TYPES_DOC})`);
  // FlexibleTimeWindow: MaximumWindowInMinutes only with mode FLEXIBLE.
  if (i.flexibleTimeWindow?.mode === "OFF" && i.flexibleTimeWindow?.maximumWindowInMinutes !== undefined) out.push(`${at(r, "flexibleTimeWindow")}: maximumWindowInMinutes with mode OFF (${SCHEDULE_DOC})`);
  if (!i.target?.roleArn) out.push(`${at(r, "target.roleArn")}: required (${SCHEDULE_DOC})`);
  const ecs = i.target?.ecsParameters;
  if (ecs) {
    if (!/^arn:aws[a-z-]*:ecs:[^:]+:\d{12}:cluster\//.test(String(i.target.arn))) out.push(`${at(r, "target.arn")}: an ECS target is a cluster ARN (${ECS_PARAMETERS_DOC})`);
    // "NetworkConfiguration ... required if the task definition uses the awsvpc network mode" (every Fargate task).
    if (ecs.launchType === "FARGATE" && !ecs.networkConfiguration?.subnets?.length) out.push(`${at(r, "target.ecsParameters.networkConfiguration")}: a Fargate task needs subnets (${ECS_PARAMETERS_DOC})`);
    if (!String(ecs.taskDefinitionArn ?? "").startsWith("arn:")) out.push(`${at(r, "target.ecsParameters.taskDefinitionArn")}: required, an ARN (${ECS_PARAMETERS_DOC})`);
  }
  return out;
}];

// Name: "ASCII letters, numbers, and the following characters: /_+=.@-", 1 to 512.
const secret: Rule[] = [(r) => {
  const name = String(r.inputs.name ?? r.inputs.namePrefix ?? "");
  return /^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name) ? [] : [`${at(r, "name")}: ${JSON.stringify(name)} has characters Secrets Manager refuses (${SECRET_DOC})`];
}];

const scalableTarget: Rule[] = [(r) => {
  const min = Number(r.inputs.minCapacity);
  const max = Number(r.inputs.maxCapacity);
  return min <= max ? [] : [`${at(r, "minCapacity")}: ${min} above maxCapacity ${max} (${SCALABLE_TARGET_DOC})`];
}];

export const ECS_RULES: Record<string, Rule[]> = {
  "aws:ecs/taskDefinition:TaskDefinition": taskDefinition,
  "aws:ecs/cluster:Cluster": cluster,
  "aws:ecs/service:Service": service,
  "aws:scheduler/schedule:Schedule": schedule,
  "aws:secretsmanager/secret:Secret": secret,
  "aws:appautoscaling/target:Target": scalableTarget,
};
