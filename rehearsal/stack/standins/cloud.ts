// The providers, as stand-ins on this machine: every resource type the program declares
// is realized here. Data stores and traffic get real servers shaped like the managed
// ones (RDS: PostgreSQL over TLS from a private CA with a master user that is not a
// superuser; ElastiCache: Redis over TLS with AUTH; the load balancer and Cloudflare's
// edge: nginx); the app's ECS services run the rehearsal app's slug through bin/slug-run
// from their task definitions alone (ecs.ts), secrets resolved against the Secrets
// Manager stand-in, which with S3 and ECS's RunTask is also what the steps' real AWS CLI
// talks to (servers/aws-api.ts); Commands run for real (command.ts). Resources with no
// behaviour to rehearse (VPC, subnets, IAM, security groups, log groups) are recorded
// with the outputs their provider computes, names auto-suffixed as Pulumi does.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Goal, Realized, Realizer, StoredResource } from "../engine";
import { freePort, LocalPostgres, LocalRedis, serverCertificate, startPostgres, startRedis, tempDir } from "../../servers";
import { withClient } from "../../../dataplane/postgres/connection";
import type { Hosts } from "../hosts";
import { forward, Forward } from "../forward";
import type { PrivateCa } from "./ca";
import { CommandFailed, CommandRunner } from "./command";
import { Edge } from "./edge";
import { Fleet } from "./fleet";
import { AwsApi, AwsApiError, EcsTask, TaskRunner } from "../../servers/aws-api";
import { EcsContext, ImageRegistry, runOneOff, serviceFleetSpec, serviceWhat, taskLaunch } from "./ecs";
import { containersOf, isScheduleExpression } from "../../../policy/providers";
import { PullRefused, Registries } from "./registry";
import { EcsService, FARGATE_START_SECONDS } from "./ecs-service";
import { isMachineTask, machineTaskSpec } from "./ecs-image";
import { healthCheckOf, TargetGroupHealth } from "./target-group";
import { join } from "node:path";
import { oneAtATime, ProxyHost, Upstream, VirtualServer } from "./proxies";
import { fires, ScheduleClock } from "./clock";

export interface CloudContext {
  hosts: Hosts;
  /** Signs what chains to a public root on AWS (ElastiCache, ACM). */
  ca: PrivateCa;
  /** Signs RDS only: its clients need the RDS bundle. */
  rdsCa: PrivateCa;
  commands: CommandRunner;
  edge: Edge;
  logsDir: string;
  /** Schema the rehearsal app reads and writes. */
  schema: string;
  /** What the platform's machines have that the app relies on (the system trust store): see FleetContext. */
  machineEnv: Record<string, string>;
  region: string;
  log(line: string): void;
  secret(value: string): void;
  /** Make this machine what an EC2 runner's user data makes the instance. */
  provisionRunner(): Promise<void>;
  /** The box's address, for the Vultr instance read (vultr sources). */
  boxAddress?: string;
  /** S3, Secrets Manager and ECS's API, shared with the steps' AWS CLI. */
  aws: AwsApi;
  /** Image references -> the rehearsal app's slug (no container engine here). */
  registry: ImageRegistry;
  /** The schedulers' shared clock: EventBridge Scheduler runs each ENABLED schedule on it. */
  clock?: ScheduleClock;
  /** The public registries and the account's ECR: task starts pull from them. */
  registries: Registries;
  /** A certificate the stack names (ferry:target.certificateArn): an existing, issued one for the hostnames. */
  certificateArn?: string;
  hostnames: string[];
  /** ECS's and the load balancer's times (Fargate's start, health checks, draining) are divided by this. */
  timeFactor: number;
}

/** Where Fargate tasks in the private subnets pull from: every pull leaves through the NAT gateway. */
const NAT_ADDRESS = "the NAT gateway's Elastic IP";

/** An ACM certificate of the stand-in: its names, what validation asks for, whether it is issued. */
interface AcmCertificate {
  arn: string;
  domains: string[];
  options: Array<{ domainName: string; resourceRecordName: string; resourceRecordType: string; resourceRecordValue: string }>;
  issued: boolean;
}

/** A service's last deployment: what the state declares, and what runs. */
export interface ServiceDeployment {
  service: string;
  declared: string;
  running?: string;
  rolledBack: boolean;
  failedTasks: number;
}

interface Live {
  urn: string;
  type: string;
  name: string;
  id: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

const CLOUDFLARE_IPV4 = [
  "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18", "108.162.192.0/18", "190.93.240.0/20",
  "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17", "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
];
const CLOUDFLARE_IPV6 = ["2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32", "2a06:98c0::/29", "2c0f:f248::/32"];

const suffix = () => randomBytes(4).toString("hex").slice(0, 7);

/** The parameter group an RDS instance names asks for logical replication (rds.logical_replication=1). */
function wantsLogical(params: Live | undefined): boolean {
  const list = (params?.inputs.parameters as Array<{ name: string; value: string }> | undefined) ?? [];
  return list.some((p) => p.name === "rds.logical_replication" && p.value === "1");
}

const ACCOUNT = "000000000000";

/**
 * The TLS listener Redis on EC2's user data configures (`tls-port N`, components/target/userData.ts),
 * on a certificate made on the instance, self-signed as Heroku Redis's is; none without it.
 * Redis serves it beside the plain port (https://redis.io/docs/latest/operate/oss_and_stack/management/security/encryption/).
 */
async function redisTlsListener(userData: string, names: string[]): Promise<{ declaredPort: number; port: number; settings: Record<string, string> } | undefined> {
  const declared = /^tls-port (\d+)$/m.exec(userData);
  if (!declared) return undefined;
  const files = await serverCertificate(tempDir("ec2-redis-tls"), { kind: "self-signed", hostnames: [...names, "localhost", "127.0.0.1"] });
  const port = await freePort();
  return {
    declaredPort: Number(declared[1]),
    port,
    settings: { "tls-port": String(port), "tls-cert-file": files.certFile, "tls-key-file": files.keyFile, "tls-ca-cert-file": files.caFile, "tls-auth-clients": "no" },
  };
}

export class Cloud implements Realizer, TaskRunner {
  private readonly live = new Map<string, Live>();
  private readonly postgres = new Map<string, { pg: LocalPostgres; forward: Forward; database: string }>();
  private readonly redis = new Map<string, { redis: LocalRedis; forward: Forward }>();
  /** ECS services by URN: their tasks, and the task definition they run. */
  private readonly services = new Map<string, { service: EcsService; fleet: Fleet }>();
  /** Target groups by ARN: their targets' health, which the load balancer routes by. */
  private readonly targetHealth = new Map<string, TargetGroupHealth>();
  /** Each service's last deployment, by name. */
  readonly deployments = new Map<string, ServiceDeployment>();
  private readonly revisions = new Map<string, number>();
  private readonly certificates = new Map<string, AcmCertificate>();
  private alb?: { host: string; dnsName: string; proxy?: ProxyHost; arn: string };

  constructor(private readonly ctx: CloudContext) {
    ctx.clock?.onMinute((slot) => this.runSchedules(slot));
    // The stack names a certificate of its own: on AWS it exists, issued for the hostnames.
    if (ctx.certificateArn) this.certificates.set(ctx.certificateArn, { arn: ctx.certificateArn, domains: ctx.hostnames, options: [], issued: true });
  }

  // ---- the Realizer ----------------------------------------------------------------

  replaceKeys(type: string): string[] {
    if (type.startsWith("command:")) return ["triggers", "connection"];
    if (type === "aws:rds/instance:Instance") return ["engine", "dbName", "username", "storageEncrypted", "identifier"];
    if (type === "aws:elasticache/replicationGroup:ReplicationGroup") return ["engine", "transitEncryptionEnabled", "atRestEncryptionEnabled"];
    // A new AMI or subnet replaces an instance; the stand-in does not replay user data, so a user-data change is an in-place update here.
    if (type === "aws:ec2/instance:Instance") return ["ami", "subnetId"];
    if (type === "cloudflare:index/dnsRecord:DnsRecord") return ["zoneId"];
    // ACM: other names are another certificate (the provider's ForceNew).
    if (type === "aws:acm/certificate:Certificate") return ["domainName", "subjectAlternativeNames", "validationMethod"];
    if (type === "aws:ecr/repository:Repository") return ["name"];
    return [];
  }

  async invoke(token: string): Promise<Record<string, unknown>> {
    // Cloudflare's published ranges (https://www.cloudflare.com/ips-v4/, https://www.cloudflare.com/ips-v6/).
    if (token === "cloudflare:index/getIpRanges:getIpRanges") return { ipv4Cidrs: CLOUDFLARE_IPV4, ipv6Cidrs: CLOUDFLARE_IPV6, etag: "rehearsal", jdcloudCidrs: [] };
    throw new Error(`the rehearsal has no stand-in for the provider function ${token}`);
  }

  describeFailure(error: unknown): { detail: string; exitCode?: number } {
    if (error instanceof CommandFailed) return { detail: error.message, exitCode: error.exitCode };
    const lines = (error as Error).message.split("\n").map((l) => l.trim()).filter(Boolean);
    return { detail: lines.length > 1 ? `${lines[0]} | ${lines.slice(1).join(" | ")}`.slice(0, 600) : (lines[0] ?? "failed") };
  }

  async create(goal: Goal): Promise<Realized> {
    const realized = await this.realizeCreate(goal);
    this.remember(goal, realized);
    return realized;
  }

  async update(old: StoredResource, goal: Goal, changed: string[]): Promise<Realized> {
    const realized = await this.realizeUpdate(old, goal, changed);
    this.remember(goal, realized);
    return realized;
  }

  async delete(old: StoredResource): Promise<void> {
    await this.realizeDelete(old);
    this.live.delete(old.urn);
    await this.rerender(old.type);
  }

  async read(goal: Goal): Promise<Realized> {
    if (goal.type === "vultr:index/instance:Instance") {
      if (!this.ctx.boxAddress) throw new Error(`${goal.name}: no Vultr instance ${goal.readId} in this rehearsal`);
      const realized = { id: goal.readId!, outputs: { ...goal.inputs, mainIp: this.ctx.boxAddress, label: "old-box", status: "active", powerStatus: "running" } };
      this.remember(goal, realized);
      return realized;
    }
    throw new Error(`${goal.name}: the rehearsal cannot read a ${goal.type}`);
  }

  async import(goal: Goal): Promise<Realized> {
    if (goal.type === "cloudflare:index/dnsRecord:DnsRecord") {
      const realized = this.ctx.edge.adoptRecord(goal.importId!, goal.inputs);
      this.remember(goal, realized);
      return realized;
    }
    throw new Error(`${goal.name}: the rehearsal cannot import a ${goal.type}`);
  }

  private remember(goal: Goal, realized: Realized): void {
    this.live.set(goal.urn, { urn: goal.urn, type: goal.type, name: goal.name, id: realized.id, inputs: goal.inputs, outputs: realized.outputs });
  }

  private ofType(type: string): Live[] {
    return [...this.live.values()].filter((l) => l.type === type);
  }

  // ---- per type ---------------------------------------------------------------------

  private async realizeCreate(goal: Goal): Promise<Realized> {
    const i = goal.inputs;
    switch (goal.type) {
      case "command:local:Command":
      case "command:remote:Command":
        return this.ctx.commands.create(goal);
      case "aws:rds/instance:Instance":
        return this.rds(goal);
      case "aws:elasticache/replicationGroup:ReplicationGroup":
        return this.elastiCache(goal);
      case "aws:ec2/instance:Instance":
        return this.instance(goal);
      case "aws:ec2/eip:Eip": {
        const runner = this.ofType("aws:ec2/instance:Instance").find((x) => x.id === i.instance && x.outputs.runner);
        const address = runner ? "127.0.0.1" : await this.ctx.hosts.allocate(goal.name);
        return this.generic(goal, { publicIp: address, allocationId: `eipalloc-${suffix()}` });
      }
      case "aws:lb/loadBalancer:LoadBalancer":
        return this.loadBalancer(goal);
      case "aws:acm/certificate:Certificate":
        return this.certificate(goal);
      case "aws:acm/certificateValidation:CertificateValidation":
        return this.certificateValidation(goal);
      case "aws:ecr/repository:Repository": {
        const { repositoryUrl, arn } = this.ctx.registries.createRepository(String(i.name));
        return { id: String(i.name), outputs: { ...i, repositoryUrl, arn, registryId: ACCOUNT } };
      }
      case "aws:lb/listener:Listener":
      case "aws:lb/listenerRule:ListenerRule":
      case "aws:lb/targetGroup:TargetGroup": {
        if (goal.type === "aws:lb/listener:Listener") this.checkListener(goal);
        const realized = this.generic(goal);
        this.remember(goal, realized);
        await this.renderAlb();
        return realized;
      }
      case "aws:s3/bucket:Bucket": {
        const bucket = String(i.bucket ?? `${String(i.bucketPrefix ?? `${goal.name}-`)}${suffix()}`).toLowerCase();
        this.ctx.aws.createBucket(bucket);
        return this.generic(goal, { bucket, arn: `arn:aws:s3:::${bucket}`, id: bucket });
      }
      case "aws:iam/role:Role": {
        // A role's id is its name.
        const name = String(i.name ?? `${goal.name}-${suffix()}`);
        return { id: name, outputs: this.generic(goal, { id: name, name, arn: `arn:aws:iam::${ACCOUNT}:role/${name}` }).outputs };
      }
      case "aws:ecs/cluster:Cluster": {
        const name = String(i.name ?? `${goal.name}-${suffix()}`);
        return this.generic(goal, { name, arn: `arn:aws:ecs:${this.ctx.region}:${ACCOUNT}:cluster/${name}` });
      }
      case "aws:ecs/taskDefinition:TaskDefinition":
        return this.taskDefinition(goal);
      case "aws:ecs/service:Service":
        return this.service(goal);
      case "aws:secretsmanager/secret:Secret":
        return this.secret(goal);
      case "aws:secretsmanager/secretVersion:SecretVersion":
        return this.secretVersion(goal);
      case "aws:scheduler/schedule:Schedule":
        return this.schedule(goal);
      case "cloudflare:index/dnsRecord:DnsRecord":
      case "cloudflare:index/loadBalancer:LoadBalancer":
      case "cloudflare:index/loadBalancerPool:LoadBalancerPool":
      case "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor":
      case "cloudflare:index/ruleset:Ruleset":
        return this.ctx.edge.create(goal);
      default:
        return this.generic(goal);
    }
  }

  private async realizeUpdate(old: StoredResource, goal: Goal, _changed: string[]): Promise<Realized> {
    switch (goal.type) {
      case "command:local:Command":
      case "command:remote:Command":
        return this.ctx.commands.update(old, goal);
      case "aws:ecs/taskDefinition:TaskDefinition":
        // RegisterTaskDefinition: a changed definition is a new revision of its family.
        return this.taskDefinition(goal);
      case "aws:ecs/service:Service":
        return this.service(goal, old);
      case "aws:secretsmanager/secretVersion:SecretVersion":
        return this.secretVersion(goal);
      case "aws:scheduler/schedule:Schedule":
        return this.schedule(goal);
      case "aws:lb/listener:Listener":
      case "aws:lb/listenerRule:ListenerRule":
      case "aws:lb/targetGroup:TargetGroup": {
        if (goal.type === "aws:lb/listener:Listener") this.checkListener(goal);
        const realized = { id: old.id, outputs: { ...old.outputs, ...goal.inputs } };
        this.remember(goal, realized);
        await this.renderAlb();
        return realized;
      }
      case "cloudflare:index/dnsRecord:DnsRecord":
      case "cloudflare:index/loadBalancer:LoadBalancer":
      case "cloudflare:index/loadBalancerPool:LoadBalancerPool":
      case "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor":
      case "cloudflare:index/ruleset:Ruleset":
        return this.ctx.edge.update(old, goal);
      default:
        // Data stores, instances, parameters: the new inputs apply in place.
        return { id: old.id, outputs: { ...old.outputs, ...goal.inputs } };
    }
  }

  private async realizeDelete(old: StoredResource): Promise<void> {
    switch (old.type) {
      case "command:local:Command":
      case "command:remote:Command":
        return this.ctx.commands.delete(old);
      case "aws:rds/instance:Instance": {
        // RDS refuses: "Cannot delete protected DB Instance, please disable deletion protection and try again."
        if (old.inputs.deletionProtection) throw new Error(`${old.name}: InvalidParameterCombination: Cannot delete protected DB Instance, please disable deletion protection and try again`);
        const s = this.postgres.get(old.urn);
        await s?.forward.close();
        await s?.pg.stop();
        return;
      }
      case "aws:elasticache/replicationGroup:ReplicationGroup":
      case "aws:ec2/instance:Instance": {
        if (old.inputs.disableApiTermination) throw new Error(`${old.name}: OperationNotPermitted: the instance may not be terminated (disableApiTermination)`);
        const s = this.redis.get(old.urn);
        await s?.forward.close();
        await s?.redis.stop();
        return;
      }
      case "aws:ecs/service:Service":
        await this.services.get(old.urn)?.service.stop();
        this.services.delete(old.urn);
        return;
      case "aws:ecr/repository:Repository":
        this.ctx.registries.deleteRepository(String(old.inputs.name));
        return;
      case "cloudflare:index/dnsRecord:DnsRecord":
      case "cloudflare:index/loadBalancer:LoadBalancer":
      case "cloudflare:index/loadBalancerPool:LoadBalancerPool":
      case "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor":
      case "cloudflare:index/ruleset:Ruleset":
        return this.ctx.edge.delete(old);
      default:
        return;
    }
  }

  private async rerender(type: string): Promise<void> {
    if (type.startsWith("aws:lb/") || type === "aws:ecs/service:Service") await this.renderAlb();
  }

  /** Outputs a provider computes for a resource with no behaviour here. */
  private generic(goal: Goal, extra: Record<string, unknown> = {}): Realized {
    const physical = `${goal.name}-${suffix()}`;
    const id = `${goal.type.split(":")[1]?.split("/")[0] ?? "res"}-${physical}`;
    return {
      id,
      outputs: {
        name: physical,
        bucket: physical,
        keyName: physical,
        ...goal.inputs,
        id,
        arn: `arn:aws:rehearsal:${this.ctx.region}:000000000000:${goal.type.split(":")[1]}/${physical}`,
        ...extra,
      },
    };
  }

  // ---- RDS: PostgreSQL over TLS, a master user who is not a superuser --------------

  private async rds(goal: Goal): Promise<Realized> {
    const i = goal.inputs;
    const host = await this.ctx.hosts.allocate(`RDS ${goal.name}`);
    const address = `${goal.name}.c${suffix()}.${this.ctx.region}.rds.rehearsal.invalid`;
    this.ctx.hosts.name(address, host);
    // rds.force_ssl=1 (the program's parameter group): TLS only, on a certificate the RDS CA signs.
    const pg = await startPostgres({ password: randomBytes(12).toString("hex"), tls: { ...this.ctx.rdsCa.tlsFor([address, host, "localhost", "127.0.0.1"]), required: true } });
    const user = String(i.username);
    const password = String(i.password);
    const params = this.ofType("aws:rds/parameterGroup:ParameterGroup").find((p) => p.outputs.name === i.parameterGroupName);
    await withClient(pg.url(), async (c) => {
      // RDS's master user has rds_superuser, not superuser. Stock PostgreSQL 15 lets only a
      // superuser create a subscription, which rds_superuser may do: with logical
      // replication asked for, the stand-in's master user gets superuser for that alone.
      const power = wantsLogical(params) ? "SUPERUSER" : "NOSUPERUSER CREATEDB CREATEROLE";
      await c.query(`CREATE ROLE ${c.escapeIdentifier(user)} LOGIN ${power} PASSWORD ${c.escapeLiteral(password)}`);
      // rds_superuser may set session_replication_role (RDS's "Common DBA tasks"), which
      // capture's apply and verify's repair set; PostgreSQL 15 grants exactly that.
      await c.query(`GRANT SET ON PARAMETER session_replication_role TO ${c.escapeIdentifier(user)}`);
      await c.query(`CREATE DATABASE ${c.escapeIdentifier(String(i.dbName))} OWNER ${c.escapeIdentifier(user)}`);
    });
    const port = Number(i.port ?? 5432);
    const fwd = await forward(host, port, pg.port);
    this.postgres.set(goal.urn, { pg, forward: fwd, database: String(i.dbName) });
    this.ctx.log(`      RDS ${goal.name}: PostgreSQL on ${address} (${host}:${port}), TLS from the rehearsal's RDS CA (only the RDS bundle holds it), master user ${user}`);
    const id = String(i.identifier ?? `${goal.name}-${suffix()}`);
    return { id, outputs: { ...i, address, port, endpoint: `${address}:${port}`, identifier: id, arn: `arn:aws:rds:${this.ctx.region}:000000000000:db:${id}` } };
  }

  // ---- ElastiCache: Redis over TLS with AUTH; Redis on EC2 as user data sets it up --

  private async elastiCache(goal: Goal): Promise<Realized> {
    const i = goal.inputs;
    const host = await this.ctx.hosts.allocate(`ElastiCache ${goal.name}`);
    const address = `master.${goal.name}.${suffix()}.cache.rehearsal.invalid`;
    this.ctx.hosts.name(address, host);
    const redis = await startRedis({ tls: this.ctx.ca.tlsFor([address, host, "localhost", "127.0.0.1"]), password: String(i.authToken) });
    const port = Number(i.port ?? 6379);
    this.redis.set(goal.urn, { redis, forward: await forward(host, port, redis.port) });
    this.ctx.log(`      ElastiCache ${goal.name}: Redis on ${address} (${host}:${port}), TLS and AUTH`);
    return { id: `${goal.name}-${suffix()}`, outputs: { ...i, primaryEndpointAddress: address, port, arn: `arn:aws:elasticache:${this.ctx.region}:000000000000:replicationgroup:${goal.name}` } };
  }

  private async instance(goal: Goal): Promise<Realized> {
    const i = goal.inputs;
    const role = String((i.tags as Record<string, string> | undefined)?.Name ?? goal.name);
    const id = `i-${randomBytes(8).toString("hex").slice(0, 17)}`;
    if (role.endsWith("-runner")) {
      // The runner is this machine, provisioned as its user data would: ferry on the PATH,
      // cloud-init done, the RDS CA bundle where the user data downloads it.
      await this.ctx.provisionRunner();
      return { id, outputs: { ...i, privateIp: "127.0.0.1", publicIp: "127.0.0.1", runner: true } };
    }
    const host = await this.ctx.hosts.allocate(`EC2 ${goal.name}`);
    // An instance launched with a public IP (a public subnet) gets an address of its own
    // that the internet reaches: a Heroku dyno connects to it, not to the private one.
    const publicIp = i.associatePublicIpAddress === true ? await this.ctx.hosts.allocate(`EC2 ${goal.name} public IP`) : "";
    // Its public DNS name resolves to it (the VPC has DNS hostnames on): EC2's form per region.
    const publicDns = publicIp ? `ec2-${publicIp.replace(/\./g, "-")}.${this.ctx.region === "us-east-1" ? "compute-1" : `${this.ctx.region}.compute`}.amazonaws.com` : "";
    if (publicDns) this.ctx.hosts.name(publicDns, publicIp);
    if (role.endsWith("-redis")) {
      // User data reads the password from SSM and starts redis-server with AOF on.
      const param = this.ofType("aws:ssm/parameter:Parameter").find((p) => String(p.inputs.name).endsWith("/redis-password"));
      if (!param) throw new Error(`${goal.name}: its user data reads the Redis password from SSM, and no such parameter exists`);
      const tls = await redisTlsListener(String(i.userData ?? ""), [...(publicDns ? [publicDns, publicIp] : []), host]);
      const redis = await startRedis({ password: String(param.inputs.value), settings: tls?.settings });
      const forwards = [await forward(host, 6379, redis.port)];
      if (tls) forwards.push(await forward(publicIp || host, tls.declaredPort, tls.port));
      this.redis.set(goal.urn, { redis, forward: { listen: forwards[0].listen, close: async () => void (await Promise.all(forwards.map((f) => f.close()))) } });
      this.ctx.log(`      EC2 ${goal.name}: Redis on ${host}:6379 with the password from SSM${tls ? `, and TLS on ${publicIp || host}:${tls.declaredPort} (a self-signed certificate, as its user data makes at first boot)` : ""}`);
    }
    return { id, outputs: { ...i, privateIp: host, publicIp, publicDns, arn: `arn:aws:ec2:${this.ctx.region}:000000000000:instance/${id}` } };
  }

  // ---- ACM: DNS-validated certificates --------------------------------------------------

  /**
   * RequestCertificate: PENDING_VALIDATION, with one CNAME per domain for DNS validation
   * (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html).
   */
  private certificate(goal: Goal): Realized {
    const i = goal.inputs;
    const domains = [String(i.domainName), ...((i.subjectAlternativeNames as string[] | undefined) ?? []).map(String)];
    const arn = `arn:aws:acm:${this.ctx.region}:${ACCOUNT}:certificate/${randomUUID()}`;
    const token = (what: string) => createHash("sha256").update(`${arn}/${what}`).digest("hex").slice(0, 32);
    const options = [...new Set(domains)].map((d) => ({ domainName: d, resourceRecordName: `_${token(d)}.${d}.`, resourceRecordType: "CNAME", resourceRecordValue: `_${token(`value/${d}`)}.${token("zone").slice(0, 10)}.acm-validations.aws.` }));
    this.certificates.set(arn, { arn, domains, options, issued: false });
    this.ctx.log(`      ACM ${goal.name}: ${domains.join(", ")}, PENDING_VALIDATION until ACM sees ${options.length} DNS record(s)`);
    return { id: arn, outputs: { ...i, arn, domainValidationOptions: options, status: "PENDING_VALIDATION" } };
  }

  /**
   * ACM issues a certificate once every domain's validation CNAME resolves (the zone here is
   * the edge's). On AWS the CertificateValidation waits for that, 75 minutes by default; the
   * stand-in looks once, after the records it depends on were created, and fails naming the
   * record that is not there (a proxied record answers with Cloudflare's addresses, never the CNAME).
   */
  private certificateValidation(goal: Goal): Realized {
    const arn = String(goal.inputs.certificateArn);
    const cert = this.certificates.get(arn);
    if (!cert) throw new Error(`${goal.name}: ResourceNotFoundException: Could not find certificate ${arn}`);
    for (const o of cert.options) {
      const name = o.resourceRecordName.replace(/\.$/, "");
      const answer = this.ctx.edge.answer(name);
      const expected = o.resourceRecordValue.replace(/\.$/, "");
      if (!answer || answer.type !== "CNAME" || answer.content.replace(/\.$/, "") !== expected) {
        throw new Error(`${goal.name}: the certificate for ${o.domainName} stays PENDING_VALIDATION: DNS answers ${answer ? `${answer.type} ${answer.content}` : "nothing"} for ${name}, ACM waits for CNAME ${expected}`);
      }
    }
    cert.issued = true;
    this.ctx.log(`      ACM ${goal.name}: ${cert.domains.join(", ")} ISSUED`);
    return { id: arn, outputs: { ...goal.inputs, certificateArn: arn } };
  }

  /**
   * CreateListener/ModifyListener: an HTTPS listener needs a certificate this account's ACM
   * has issued (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html,
   * errors CertificateNotFound and UnsupportedCertificate).
   */
  private checkListener(goal: Goal): void {
    if (goal.inputs.protocol !== "HTTPS") return;
    const arn = String(goal.inputs.certificateArn ?? "");
    const cert = this.certificates.get(arn);
    if (!cert) throw new Error(`${goal.name}: CertificateNotFound: Certificate '${arn}' not found`);
    if (!cert.issued) throw new Error(`${goal.name}: UnsupportedCertificate: The certificate '${arn}' is not issued (PENDING_VALIDATION): the listener must wait for its validation`);
  }

  /** The certificate an HTTPS listener serves: the rehearsal CA signs exactly its domains. */
  private listenerCertificate(listener: Live): Promise<{ cert: string; key: string }> | undefined {
    if (listener.inputs.protocol !== "HTTPS") return undefined;
    const cert = this.certificates.get(String(listener.inputs.certificateArn));
    return this.ctx.ca.issue("alb", cert?.domains ?? []);
  }

  // ---- the load balancer and the app's autoscaling groups ---------------------------

  private async loadBalancer(goal: Goal): Promise<Realized> {
    const host = await this.ctx.hosts.allocate(`ALB ${goal.name}`);
    const dnsName = `${goal.name}-${randomBytes(4).readUInt32BE()}.${this.ctx.region}.elb.rehearsal.invalid`;
    this.ctx.hosts.name(dnsName, host);
    const arn = `arn:aws:elasticloadbalancing:${this.ctx.region}:000000000000:loadbalancer/app/${goal.name}/${suffix()}`;
    this.alb = { host, dnsName, arn };
    return { id: arn, outputs: { ...goal.inputs, dnsName, arn, zoneId: "Z35SXDOTRQ7X7K" } };
  }

  /** A target group's health checks, as its live inputs declare them (created with the first service behind it). */
  private targetGroupHealth(tgArn: string): TargetGroupHealth {
    let health = this.targetHealth.get(tgArn);
    if (!health) {
      const tg = this.ofType("aws:lb/targetGroup:TargetGroup").find((t) => t.outputs.arn === tgArn);
      if (!tg) throw new Error(`InvalidParameterException: target group ${tgArn} does not exist`);
      health = new TargetGroupHealth(healthCheckOf(tg.inputs, this.ctx.timeFactor), () => this.renderAlb());
      this.targetHealth.set(tgArn, health);
    }
    return health;
  }

  /** The targets a target group sends requests to: healthy ones only (target-group.ts). */
  private upstreamFor(tgArn: string): Upstream {
    const tg = this.ofType("aws:lb/targetGroup:TargetGroup").find((t) => t.outputs.arn === tgArn);
    const targets = this.targetHealth.get(tgArn)?.routable() ?? [];
    return { name: `tg_${tg?.name ?? "unknown"}`, servers: targets.map((address) => ({ address, weight: 1 })) };
  }

  private readonly renderAlb = oneAtATime(() => this.renderAlbNow());

  /** One virtual server per listener rule, plus each listener's default action. */
  private async renderAlbNow(): Promise<void> {
    const alb = this.alb;
    if (!alb) return;
    const listeners = this.ofType("aws:lb/listener:Listener").filter((l) => l.inputs.loadBalancerArn === alb.arn);
    if (!listeners.length) return;
    const rules = this.ofType("aws:lb/listenerRule:ListenerRule");
    const servers: VirtualServer[] = [];
    for (const l of listeners) {
      const listen = `${alb.host}:${l.inputs.port}`;
      // The listener's ACM certificate: its own domains only (never the ALB's name).
      const certificate = await this.listenerCertificate(l);
      // On every request it forwards the ALB sets X-Forwarded-Proto to the listener's protocol
      // (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html).
      const forwardedProto = l.inputs.protocol === "HTTPS" ? "https" : "http";
      for (const r of rules.filter((x) => x.inputs.listenerArn === l.outputs.arn).sort((a, b) => Number(a.inputs.priority) - Number(b.inputs.priority))) {
        const names = (r.inputs.conditions as Array<{ hostHeader?: { values: string[] } }>).flatMap((c) => c.hostHeader?.values ?? []);
        const action = (r.inputs.actions as Array<{ type: string; targetGroupArn?: string }>)[0];
        servers.push({ listen, names, certificate, forwardedProto, upstream: action?.targetGroupArn ? this.upstreamFor(action.targetGroupArn) : undefined });
      }
      const action = (l.inputs.defaultActions as Array<{ type: string; fixedResponse?: { statusCode: string; messageBody?: string }; redirect?: { protocol?: string; port?: string; statusCode?: string } }>)[0];
      if (action?.type === "redirect") {
        // ALB's redirect keeps host, path and query unless told otherwise (#{host}, #{path}, #{query}).
        const r = action.redirect ?? {};
        const port = r.port && r.port !== "443" && r.port !== "80" ? `:${r.port}` : "";
        servers.push({ listen, names: ["_"], certificate, redirect: { code: r.statusCode === "HTTP_302" ? 302 : 301, to: `${(r.protocol ?? "HTTPS").toLowerCase()}://$host${port}$request_uri` } });
      } else {
        servers.push({ listen, names: ["_"], certificate, status: { code: Number(action?.fixedResponse?.statusCode ?? 404), body: action?.fixedResponse?.messageBody ?? "" } });
      }
    }
    if (!alb.proxy) alb.proxy = await ProxyHost.start(servers);
    else await alb.proxy.apply(servers);
  }

  // ---- ECS, Secrets Manager, EventBridge Scheduler -------------------------------------

  private ecsContext(): EcsContext {
    return {
      aws: this.ctx.aws,
      registry: this.ctx.registry,
      ssmParameter: (name) => {
        const p = this.ofType("aws:ssm/parameter:Parameter").find((x) => x.inputs.name === name);
        return p === undefined ? undefined : String(p.inputs.value);
      },
    };
  }

  private taskDefinition(goal: Goal): Realized {
    const family = String(goal.inputs.family);
    const revision = (this.revisions.get(family) ?? 0) + 1;
    this.revisions.set(family, revision);
    const arnWithoutRevision = `arn:aws:ecs:${this.ctx.region}:${ACCOUNT}:task-definition/${family}`;
    return { id: family, outputs: { ...goal.inputs, arn: `${arnWithoutRevision}:${revision}`, arnWithoutRevision, revision } };
  }

  private liveTaskDefinition(arn: string, what: string): Live {
    const found = this.ofType("aws:ecs/taskDefinition:TaskDefinition").find((t) => t.outputs.arn === arn);
    if (!found) throw new Error(`${what}: ClientException: Unable to describe task definition ${arn}`);
    return found;
  }

  /**
   * A service: desiredCount tasks of its task definition, each started after Fargate's
   * provisioning and registered in its target group, which routes to it once it passes a
   * health check; a new task definition rolls the service as ECS does (ecs-service.ts).
   * A task of an image that stands for this machine (the pooler's) gets an address of its
   * own, which the service's Cloud Map name resolves to while it runs (ecs-image.ts).
   */
  private async service(goal: Goal, old?: StoredResource): Promise<Realized> {
    const i = goal.inputs;
    const taskDefinition = String(i.taskDefinition);
    const process = (i.tags as Record<string, string> | undefined)?.["ferry:process"] ?? goal.name;
    const discovery = this.discoveryName(goal);
    const machine = isMachineTask(this.ecsContext(), this.liveTaskDefinition(taskDefinition, goal.name).inputs);
    const specOf = (definition: string) => {
      const launch = taskLaunch(this.ecsContext(), this.liveTaskDefinition(definition, goal.name).inputs, goal.name);
      return { launch, spec: serviceFleetSpec(process, launch) };
    };
    // What ECS checks before it accepts the update: the definition, its secrets, its slug.
    const first = machine ? undefined : specOf(taskDefinition);
    const realized: Realized = old
      ? { id: old.id, outputs: { ...old.outputs, ...i } }
      : { id: `arn:aws:ecs:${this.ctx.region}:${ACCOUNT}:service/${goal.name}`, outputs: { ...i, name: String(i.name ?? goal.name), arn: `arn:aws:ecs:${this.ctx.region}:${ACCOUNT}:service/${goal.name}` } };
    this.remember(goal, realized);
    let running = this.services.get(goal.urn);
    if (!running) {
      const tgArn = (i.loadBalancers as Array<{ targetGroupArn: string }> | undefined)?.[0]?.targetGroupArn;
      const fleet = new Fleet(first?.spec ?? { name: `aws-${process}`, platform: "ecs", http: false, env: {}, launch: { kind: "image", command: "", launcher: [] } }, { logsDir: this.ctx.logsDir, schema: this.ctx.schema, machineEnv: this.ctx.machineEnv, log: this.ctx.log, changed: () => this.renderAlb() });
      const seconds = (s: number) => (s * 1000) / this.ctx.timeFactor;
      const service = new EcsService({
        name: goal.name,
        // Every task ECS starts pulls its containers' images first (Fargate caches none): a
        // refused pull stops that task, which the circuit breaker counts as failed.
        launch: async (definition) => {
          const inputs = this.liveTaskDefinition(definition, goal.name).inputs;
          this.pullImages(inputs, goal.name);
          if (!isMachineTask(this.ecsContext(), inputs)) return fleet.launch(definition === taskDefinition && first ? first.spec : specOf(definition).spec);
          const address = await this.ctx.hosts.allocate(`ECS task of ${goal.name}`);
          const task = await fleet.launch(machineTaskSpec(this.ecsContext(), inputs, goal.name, process, address));
          // ECS registers a running task's address under the service's Cloud Map name.
          if (discovery) this.ctx.hosts.name(discovery, address);
          return task;
        },
        targetGroup: tgArn ? this.targetGroupHealth(tgArn) : undefined,
        timing: { startDelayMs: seconds(FARGATE_START_SECONDS), gracePeriodMs: seconds(Number(i.healthCheckGracePeriodSeconds ?? 0)) },
        log: this.ctx.log,
      });
      running = { service, fleet };
      this.services.set(goal.urn, running);
      this.ctx.log(`      ECS ${goal.name}: ${first ? serviceWhat(first.launch) : "its image's command on this machine (an image of Debian 12 with node 20)"}${discovery ? `, Cloud Map name ${discovery}` : ""} (${tgArn ? `in its target group, health ${this.targetGroupHealth(tgArn).settings.path}` : "no load balancer"})`);
    }
    const outcome = await running.service.deploy(taskDefinition, Number(i.desiredCount ?? 0));
    this.deployments.set(goal.name, { service: goal.name, declared: taskDefinition, running: outcome.runningDefinition, rolledBack: outcome.rolledBack, failedTasks: outcome.failedTasks });
    return realized;
  }

  /**
   * The DNS name a service's tasks register under (serviceRegistries: a Cloud Map service
   * in a private DNS namespace), refused where ECS refuses it: a registry that does not
   * exist, or SRV records without containerName and containerPort
   * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRegistry.html),
   * or A records for a task outside awsvpc mode ("the bridge and host network modes
   * support SRV records only": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-discovery.html).
   */
  private discoveryName(goal: Goal): string | undefined {
    const registry = goal.inputs.serviceRegistries as { registryArn?: string; containerName?: string; containerPort?: number } | undefined;
    if (!registry?.registryArn) return undefined;
    const service = this.ofType("aws:servicediscovery/service:Service").find((s) => s.outputs.arn === registry.registryArn);
    if (!service) throw new Error(`${goal.name}: InvalidParameterException: the service registry ${registry.registryArn} does not exist`);
    const dns = service.inputs.dnsConfig as { namespaceId?: string; dnsRecords?: Array<{ type: string }> } | undefined;
    const namespace = this.ofType("aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace").find((n) => n.id === dns?.namespaceId);
    if (!namespace) throw new Error(`${goal.name}: InvalidParameterException: the service registry's namespace ${String(dns?.namespaceId)} does not exist`);
    const types = (dns?.dnsRecords ?? []).map((r) => r.type);
    if (types.includes("SRV") && (!registry.containerName || !registry.containerPort)) throw new Error(`${goal.name}: InvalidParameterException: a service registry with SRV records needs containerName and containerPort`);
    const mode = this.liveTaskDefinition(String(goal.inputs.taskDefinition), goal.name).inputs.networkMode;
    if (types.includes("A") && mode !== "awsvpc") throw new Error(`${goal.name}: InvalidParameterException: A records in a service registry need the awsvpc network mode (the task definition says ${String(mode ?? "bridge")})`);
    return `${String(service.inputs.name)}.${String(namespace.inputs.name)}`;
  }

  /** RunTask (through the AWS API stand-in): the release phase's one-off task, run to completion. */
  async runTask(task: EcsTask): Promise<void> {
    const cluster = this.ofType("aws:ecs/cluster:Cluster").find((c) => c.outputs.arn === task.clusterArn || c.outputs.name === task.clusterArn);
    if (!cluster) throw new AwsApiError(400, "ClusterNotFoundException", "Cluster not found.");
    const definition = this.ofType("aws:ecs/taskDefinition:TaskDefinition").find((t) => t.outputs.arn === task.taskDefinitionArn || t.outputs.arnWithoutRevision === task.taskDefinitionArn);
    if (!definition) throw new AwsApiError(400, "ClientException", `Unable to describe task definition ${task.taskDefinitionArn}.`);
    this.pullImages(definition.inputs, definition.name);
    const launch = taskLaunch(this.ecsContext(), definition.inputs, definition.name);
    this.ctx.log(`      ECS run-task ${definition.name}: ${launch.processType} of the slug, to completion`);
    runOneOff(task, launch, join(this.ctx.logsDir, `ecs-${definition.name}.log`), { env: this.ctx.machineEnv, schema: this.ctx.schema }, (FARGATE_START_SECONDS * 1000) / this.ctx.timeFactor);
  }

  /** A task start pulling every container image of its task definition, through the NAT gateway. */
  private pullImages(definition: Record<string, unknown>, what: string): void {
    for (const image of containersOf(definition).flatMap((c) => (c.image ? [c.image] : []))) {
      try {
        this.ctx.registries.pull(image, NAT_ADDRESS);
      } catch (e) {
        if (e instanceof PullRefused) throw new Error(`${what}: a task stopped before it ran: ${e.message}`);
        throw e;
      }
    }
  }

  /** A secret: its ARN as Secrets Manager forms it (name, "-", 6 random characters). */
  private secret(goal: Goal): Realized {
    // namePrefix: the provider appends a unique id (terraform's resource.PrefixedUniqueId).
    const name = String(goal.inputs.name ?? `${String(goal.inputs.namePrefix ?? `${goal.name}-`)}${Date.now().toString(36)}${suffix()}`);
    const arn = `arn:aws:secretsmanager:${this.ctx.region}:${ACCOUNT}:secret:${name}-${randomBytes(3).toString("hex")}`;
    this.ctx.aws.createSecret(arn, name);
    return { id: arn, outputs: { ...goal.inputs, name, arn } };
  }

  /** PutSecretValue: a new version (its id is what task definitions pin). */
  private secretVersion(goal: Goal): Realized {
    const secretId = String(goal.inputs.secretId);
    const versionId = this.ctx.aws.putSecret(secretId, String(goal.inputs.secretString ?? ""));
    return { id: `${secretId}|${versionId}`, outputs: { ...goal.inputs, versionId, arn: secretId } };
  }

  private scheduledTasks = 0;

  /**
   * EventBridge Scheduler at one scheduled minute: each ENABLED schedule that is due runs
   * its target's task (RunTask with the schedule's task definition): its app container's
   * command through bin/slug-run (a slug task's SLUG_COMMAND; an image task's command),
   * with the task's secrets resolved. A DISABLED schedule runs nothing
   * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html: State).
   */
  private runSchedules(slot: Date): void {
    for (const schedule of this.ofType("aws:scheduler/schedule:Schedule")) {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registration's inputs are the provider's untyped JSON
      const i = schedule.inputs as Record<string, any>;
      if ((i.state ?? "ENABLED") !== "ENABLED" || !fires(String(i.scheduleExpression), String(i.scheduleExpressionTimezone ?? "UTC"), slot)) continue;
      const definition = this.ofType("aws:ecs/taskDefinition:TaskDefinition").find((t) => t.outputs.arn === i.target?.ecsParameters?.taskDefinitionArn);
      if (!definition) continue;
      const launch = taskLaunch(this.ecsContext(), definition.inputs, definition.name);
      const app = containersOf(definition.inputs).find((c) => c.name === "app");
      const command = launch.env.SLUG_COMMAND ?? (app?.command?.[0] === "/bin/sh" && app.command[1] === "-c" ? app.command[2] : app?.command?.join(" ")) ?? "";
      this.ctx.clock!.runSlugCommand({
        job: schedule.name.replace(/^.*-job-/, ""), slot, side: "aws", slugRun: launch.slugRun, slug: launch.slug, command,
        env: { ...launch.env, APP_SCHEMA: this.ctx.schema }, dyno: `scheduled.${++this.scheduledTasks}`, launcher: launch.launcher,
      });
    }
  }

  /**
   * A schedule is recorded and its target checked as CreateSchedule would (the cluster,
   * the task definition and the role exist); an ENABLED one runs on the schedulers' clock.
   */
  private schedule(goal: Goal): Realized {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registration's inputs are the provider's untyped JSON
    const i = goal.inputs as Record<string, any>;
    if (!isScheduleExpression(String(i.scheduleExpression))) throw new Error(`${goal.name}: ValidationException: Invalid Schedule Expression ${String(i.scheduleExpression)}`);
    const target = i.target ?? {};
    if (!this.ofType("aws:ecs/cluster:Cluster").some((c) => c.outputs.arn === target.arn)) throw new Error(`${goal.name}: ValidationException: the target ${String(target.arn)} is no cluster of this account`);
    if (!this.ofType("aws:iam/role:Role").some((r) => r.outputs.arn === target.roleArn)) throw new Error(`${goal.name}: ValidationException: the role ${String(target.roleArn)} does not exist`);
    this.liveTaskDefinition(String(target.ecsParameters?.taskDefinitionArn), goal.name);
    this.ctx.log(`      EventBridge Scheduler ${goal.name}: ${String(i.scheduleExpression)} (${String(i.scheduleExpressionTimezone ?? "UTC")}), ${String(i.state ?? "ENABLED")}, target checked`);
    const arn = `arn:aws:scheduler:${this.ctx.region}:${ACCOUNT}:schedule/default/${String(i.name ?? goal.name)}`;
    return { id: arn, outputs: { ...i, arn } };
  }

  /** The target database as its superuser (the end checks read it). */
  postgresAdminUrl(): string {
    const s = [...this.postgres.values()][0];
    if (!s) throw new Error("no RDS instance was created");
    return s.pg.url(s.database);
  }

  /** The target database as its superuser, once RDS exists (undefined before). */
  postgresAdminUrlIfAny(): string | undefined {
    const s = [...this.postgres.values()][0];
    return s ? s.pg.url(s.database) : undefined;
  }

  /** The target Redis (the end checks read it). */
  redisAdminUrl(): string {
    const s = [...this.redis.values()][0];
    if (!s) throw new Error("no target Redis was created");
    return s.redis.url();
  }

  /** Stop everything this cloud started (the rehearsal's end): the next run may need the same ports. */
  async shutdown(): Promise<void> {
    // The run is over: tasks stop at once, without draining.
    for (const h of this.targetHealth.values()) h.close();
    await Promise.allSettled([...this.services.values()].map((s) => s.service.kill()));
    await this.alb?.proxy?.stop();
    await Promise.allSettled([
      ...[...this.postgres.values()].map(async (s) => (await s.forward.close(), await s.pg.stop("immediate"))),
      ...[...this.redis.values()].map(async (s) => (await s.forward.close(), await s.redis.stop())),
    ]);
  }
}
