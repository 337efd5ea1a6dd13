// Where data-plane commands run. `local`: the operator's machine (it must reach the target
// stores, e.g. through an SSM port forward); `ec2`: a small instance in the target VPC with
// ferry installed, driven over SSH. Either way a step's secrets travel in `environment`
// (never in the command string, which Pulumi stores in state) and `triggers` re-run it.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../config";
import { runnerUserData } from "./target/userData";

/** One imperative step: `create` does it, `delete` undoes it (the rollback). */
export interface Step {
  create: pulumi.Input<string>;
  delete?: pulumi.Input<string>;
  environment?: Record<string, pulumi.Input<string>>;
  triggers?: pulumi.Input<unknown>[];
}

export interface Runner {
  readonly kind: "local" | "ec2" | "ssh";
  /**
   * The runner's IAM role, when it is an instance ferry created: the app plane grants it
   * exactly what its steps call (components/target/compute.ts). A local runner uses the
   * operator's credentials.
   */
  readonly role?: aws.iam.Role;
  run(name: string, step: Step, opts?: pulumi.CustomResourceOptions): RunStep;
}

/** A step as run: a Command, with what it printed (secret unless the caller reads it). */
export type RunStep = pulumi.CustomResource & { readonly stdout: pulumi.Output<string> };

/** Every environment value is marked secret: connection URLs and API keys, never logged. */
function secretEnvironment(env: Step["environment"]): Record<string, pulumi.Input<string>> | undefined {
  if (!env) return undefined;
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, pulumi.secret(v)]));
}

export class LocalRunner implements Runner {
  readonly kind = "local" as const;
  constructor(private readonly parent: pulumi.Resource) {}

  run(name: string, step: Step, opts: pulumi.CustomResourceOptions = {}): command.local.Command {
    return new command.local.Command(name, {
      create: step.create,
      delete: step.delete,
      environment: secretEnvironment(step.environment),
      triggers: step.triggers,
    }, { parent: this.parent, ...opts });
  }
}

export interface SshTarget {
  host: pulumi.Input<string>;
  user: string;
  port: number;
  privateKey: pulumi.Input<string>;
}

/** Commands on a host over SSH; `environment` needs `AcceptEnv FERRY_* HEROKU_*` in its sshd. */
export class SshRunner implements Runner {
  readonly kind: "ssh" | "ec2" = "ssh";
  constructor(
    private readonly parent: pulumi.Resource,
    private readonly target: SshTarget,
    private readonly ready: pulumi.Resource[] = [],
  ) {}

  run(name: string, step: Step, opts: pulumi.CustomResourceOptions = {}): command.remote.Command {
    const dependsOn = [...this.ready, ...toArray(opts.dependsOn)];
    return new command.remote.Command(name, {
      connection: {
        host: this.target.host,
        user: this.target.user,
        port: this.target.port,
        privateKey: pulumi.secret(this.target.privateKey),
      },
      create: step.create,
      delete: step.delete,
      environment: secretEnvironment(step.environment),
      triggers: step.triggers,
    }, { parent: this.parent, ...opts, dependsOn });
  }
}

function toArray(deps: pulumi.CustomResourceOptions["dependsOn"]): pulumi.Resource[] {
  if (!deps) return [];
  // dependsOn may be an Input; the stages only ever pass plain arrays or single resources.
  return (Array.isArray(deps) ? deps : [deps]) as pulumi.Resource[];
}

export interface Ec2RunnerArgs {
  spec: Extract<TargetConfig["runner"], { kind: "ec2" }>;
  subnetId: pulumi.Input<string>;
  securityGroupId: pulumi.Input<string>;
  privateKey: pulumi.Input<string>;
  tags: Record<string, string>;
}

/** The runner instance: public subnet + Elastic IP, so the source can allowlist one address. */
export class Ec2Runner extends pulumi.ComponentResource implements Runner {
  readonly kind = "ec2" as const;
  readonly publicIp: pulumi.Output<string>;
  /** No permission of its own: the components whose steps run here attach what those steps call. */
  readonly role: aws.iam.Role;
  private readonly ssh: SshRunner;

  constructor(name: string, args: Ec2RunnerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:runner:Ec2Runner", name, {}, opts);
    const child = { parent: this };
    const key = new aws.ec2.KeyPair(`${name}-key`, { publicKey: args.spec.sshPublicKey, tags: args.tags }, child);
    this.role = new aws.iam.Role(`${name}-role`, {
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
      }),
      tags: args.tags,
    }, child);
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: this.role.name, tags: args.tags }, child);
    const instance = new aws.ec2.Instance(`${name}-instance`, {
      ami: args.spec.ami,
      instanceType: args.spec.instanceType,
      subnetId: args.subnetId,
      vpcSecurityGroupIds: [args.securityGroupId],
      keyName: key.keyName,
      // The AWS CLI on the runner takes the role's credentials from IMDSv2.
      iamInstanceProfile: profile.name,
      metadataOptions: { httpTokens: "required" },
      rootBlockDevice: { volumeSize: 30, volumeType: "gp3", encrypted: true },
      userData: runnerUserData({ ferryRepo: args.spec.ferryRepo, ferryRef: args.spec.ferryRef }),
      userDataReplaceOnChange: true,
      tags: { ...args.tags, Name: `${name}-runner` },
    }, child);
    const ip = new aws.ec2.Eip(`${name}-ip`, { domain: "vpc", instance: instance.id, tags: args.tags }, child);
    this.publicIp = ip.publicIp;
    const sshTarget = { host: ip.publicIp, user: "admin", port: 22, privateKey: args.privateKey };
    // Steps must not start before user data has installed ferry and reloaded sshd.
    const ready = new command.remote.Command(`${name}-ready`, {
      connection: { host: sshTarget.host, user: sshTarget.user, privateKey: pulumi.secret(args.privateKey) },
      create: "cloud-init status --wait >/dev/null && ferry --help >/dev/null",
      triggers: [instance.id],
    }, child);
    this.ssh = new SshRunner(this, sshTarget, [ready]);
    this.registerOutputs({ publicIp: this.publicIp });
  }

  run(name: string, step: Step, opts?: pulumi.CustomResourceOptions): command.remote.Command {
    return this.ssh.run(name, step, opts);
  }
}
