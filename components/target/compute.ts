// App compute on EC2: one launch template + auto scaling group per process type. EC2
// rather than ECS because Heroku slugs and the Vultr app are not container images (see
// docs/program.md); the AMI carries the app, user data only wires env and systemd.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Target } from "../../config";
import { instanceProfile } from "./instanceRole";
import { appUserData } from "./userData";

export interface ComputeArgs {
  spec: Target["compute"];
  region: string;
  subnetIds: pulumi.Input<string>[];
  securityGroupId: pulumi.Input<string>;
  targetGroups: Record<string, aws.lb.TargetGroup>;
  /** The app's whole environment (secret): written to SSM, never to user data. */
  env: pulumi.Input<Record<string, string>>;
  /** The assets bucket: the app may read and write under `assets/`. */
  bucketArn: pulumi.Input<string>;
  /** The env changes only after these succeed (the data-plane cutover gates). */
  after: pulumi.Resource[];
  /** Non-secret marker of where the data lives; a change rolls every instance. */
  dataGeneration: string;
  parameterPrefix: string;
  logRetentionDays: number;
  tags: Record<string, string>;
}

/** systemd EnvironmentFile lines; values double-quoted so spaces and # survive. */
export function envFile(env: Record<string, string>): string {
  return Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join("\n") + "\n";
}

export class Compute extends pulumi.ComponentResource {
  readonly groups: Record<string, aws.autoscaling.Group> = {};
  readonly envParameter: aws.ssm.Parameter;

  constructor(name: string, args: ComputeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Compute", name, {}, opts);
    const child = { parent: this };
    this.envParameter = new aws.ssm.Parameter(`${name}-env`, {
      name: `${args.parameterPrefix}/app-env`,
      type: "SecureString",
      tier: "Advanced",
      value: pulumi.secret(pulumi.output(args.env).apply(envFile)),
      tags: args.tags,
    }, { parent: this, dependsOn: args.after });
    const profile = instanceProfile(`${name}-app`, { parameterArns: [this.envParameter.arn], bucketArn: args.bucketArn, assetsPrefix: "assets/", tags: args.tags }, this);

    for (const [process, spec] of Object.entries(args.spec.processes)) {
      const logGroup = new aws.cloudwatch.LogGroup(`${name}-${process}`, {
        name: `${args.parameterPrefix}/${process}`,
        retentionInDays: args.logRetentionDays,
        tags: args.tags,
      }, child);
      const template = new aws.ec2.LaunchTemplate(`${name}-${process}`, {
        imageId: args.spec.ami,
        instanceType: spec.instanceType,
        vpcSecurityGroupIds: [args.securityGroupId],
        iamInstanceProfile: { name: profile.name },
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { volumeSize: 20, volumeType: "gp3", encrypted: "true" } }],
        userData: logGroup.name.apply((group) =>
          Buffer.from(appUserData({
            region: args.region,
            process,
            command: spec.command,
            envParameter: `${args.parameterPrefix}/app-env`,
            logGroup: group,
            dataGeneration: args.dataGeneration,
          })).toString("base64"),
        ),
        tagSpecifications: [{ resourceType: "instance", tags: { ...args.tags, Name: `${name}-${process}`, "ferry:process": process } }],
        tags: args.tags,
      }, { parent: this, dependsOn: [this.envParameter] });
      const targetGroup = args.targetGroups[process];
      this.groups[process] = new aws.autoscaling.Group(`${name}-${process}`, {
        vpcZoneIdentifiers: args.subnetIds,
        minSize: spec.count,
        maxSize: Math.max(spec.count * 2, 1),
        desiredCapacity: spec.count,
        launchTemplate: { id: template.id, version: template.latestVersion.apply(String) },
        targetGroupArns: targetGroup ? [targetGroup.arn] : [],
        healthCheckType: targetGroup ? "ELB" : "EC2",
        healthCheckGracePeriod: 120,
        // A new template version (env moved to the target store) replaces instances
        // half at a time, so the process keeps serving during the roll.
        instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: 50 } },
        tags: Object.entries({ ...args.tags, "ferry:process": process }).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
      }, child);
    }
    this.registerOutputs({});
  }
}
