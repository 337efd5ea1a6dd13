// The target Redis: ElastiCache (encrypted in transit and at rest, AUTH) or Redis on a
// private EC2 instance with AOF and hourly RDB backups to S3, for a self-managed source:
// only a Redis we run ourselves can REPLICAOF an outside master.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../../config";
import { REDIS_PORT } from "./firewall";
import { instanceProfile } from "./instanceRole";
import { redisUserData } from "./userData";

export interface TargetRedisArgs {
  spec: TargetConfig["redis"];
  region: string;
  subnetIds: pulumi.Input<string>[];
  securityGroupId: pulumi.Input<string>;
  password: pulumi.Input<string>;
  bucket: aws.s3.Bucket;
  parameterPrefix: string;
  /** Once the data lives here, terminating the instance must take an explicit extra step. */
  holdsLiveData: boolean;
  tags: Record<string, string>;
}

export class Redis extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  /** rediss:// for ElastiCache (TLS), redis:// inside the VPC for EC2; secret. */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: TargetRedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Redis", name, {}, opts);
    this.host = args.spec.kind === "elasticache" ? this.elastiCache(name, args, args.spec) : this.onEc2(name, args, args.spec);
    const scheme = args.spec.kind === "elasticache" ? "rediss" : "redis";
    this.url = pulumi.secret(pulumi.interpolate`${scheme}://:${pulumi.output(args.password).apply(encodeURIComponent)}@${this.host}:${REDIS_PORT}/0`);
    this.registerOutputs({ host: this.host });
  }

  private elastiCache(name: string, args: TargetRedisArgs, spec: Extract<TargetConfig["redis"], { kind: "elasticache" }>): pulumi.Output<string> {
    const child = { parent: this };
    const subnets = new aws.elasticache.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds, tags: args.tags }, child);
    const group = new aws.elasticache.ReplicationGroup(`${name}-cache`, {
      description: "ferry target Redis",
      engine: "redis",
      engineVersion: "7.1",
      nodeType: spec.nodeType,
      numCacheClusters: 1 + spec.replicas,
      automaticFailoverEnabled: spec.replicas > 0,
      multiAzEnabled: spec.replicas > 0,
      port: REDIS_PORT,
      subnetGroupName: subnets.name,
      securityGroupIds: [args.securityGroupId],
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      authToken: pulumi.secret(args.password),
      snapshotRetentionLimit: spec.snapshotRetentionDays,
      finalSnapshotIdentifier: `${name}-final`,
      applyImmediately: true,
      tags: args.tags,
    }, child);
    return group.primaryEndpointAddress;
  }

  private onEc2(name: string, args: TargetRedisArgs, spec: Extract<TargetConfig["redis"], { kind: "ec2" }>): pulumi.Output<string> {
    const child = { parent: this };
    const password = new aws.ssm.Parameter(`${name}-password`, {
      name: `${args.parameterPrefix}/redis-password`,
      type: "SecureString",
      value: pulumi.secret(args.password),
      tags: args.tags,
    }, child);
    const profile = instanceProfile(`${name}-redis`, {
      parameterArns: [password.arn],
      bucketArn: args.bucket.arn,
      writePrefix: "backups/redis/",
      tags: args.tags,
    }, this);
    const instance = new aws.ec2.Instance(`${name}-redis`, {
      ami: spec.ami,
      instanceType: spec.instanceType,
      subnetId: args.subnetIds[0],
      vpcSecurityGroupIds: [args.securityGroupId],
      associatePublicIpAddress: false,
      iamInstanceProfile: profile.name,
      metadataOptions: { httpTokens: "required" },
      rootBlockDevice: { volumeSize: spec.volumeGb, volumeType: "gp3", encrypted: true },
      userData: args.bucket.bucket.apply((bucket) => redisUserData({ region: args.region, passwordParameter: `${args.parameterPrefix}/redis-password`, bucket })),
      userDataReplaceOnChange: false,
      disableApiTermination: args.holdsLiveData,
      tags: { ...args.tags, Name: `${name}-redis` },
    }, { parent: this, dependsOn: [password] });
    return instance.privateIp;
  }
}
