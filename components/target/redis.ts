// The target Redis: ElastiCache (encrypted in transit and at rest, AUTH) or Redis on a
// private EC2 instance with AOF and hourly RDB backups to S3, for a self-managed source:
// only a Redis we run ourselves can REPLICAOF an outside master.
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../../config";
import { redisExposureGuard } from "./exposure-guard";
import { REDIS_PORT, REDIS_TLS_PORT } from "./firewall";
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
  /**
   * Clients outside the VPC (ferry:source.access): a Heroku app connects with rediss://, so
   * Redis on EC2 also listens with TLS, on a public address when `publicSubnetId` is set
   * (an allowlisted or published source). ElastiCache already serves only TLS.
   */
  sourceAccess?: { publicSubnetId?: pulumi.Input<string> };
  tags: Record<string, string>;
}

interface Endpoints {
  host: pulumi.Output<string>;
  /** Where the source app connects: the public address when there is one. */
  sourceHost: pulumi.Output<string>;
}

export class Redis extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  /** rediss:// for ElastiCache (TLS), redis:// inside the VPC for EC2; secret. */
  readonly url: pulumi.Output<string>;
  /** rediss:// as the source app reaches it (ferry:source.access), secret; only with sourceAccess. */
  readonly sourceUrl?: pulumi.Output<string>;

  constructor(name: string, args: TargetRedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Redis", name, {}, opts);
    const endpoints = args.spec.kind === "elasticache" ? this.elastiCache(name, args, args.spec) : this.onEc2(name, args, args.spec);
    this.host = endpoints.host;
    const scheme = args.spec.kind === "elasticache" ? "rediss" : "redis";
    const password = pulumi.output(args.password).apply(encodeURIComponent);
    this.url = pulumi.secret(pulumi.interpolate`${scheme}://:${password}@${this.host}:${REDIS_PORT}/0`);
    if (args.sourceAccess) {
      const port = args.spec.kind === "elasticache" ? REDIS_PORT : REDIS_TLS_PORT;
      this.sourceUrl = pulumi.secret(pulumi.interpolate`rediss://:${password}@${endpoints.sourceHost}:${port}/0`);
    }
    this.registerOutputs({ host: this.host });
  }

  private elastiCache(name: string, args: TargetRedisArgs, spec: Extract<TargetConfig["redis"], { kind: "elasticache" }>): Endpoints {
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
    return { host: group.primaryEndpointAddress, sourceHost: group.primaryEndpointAddress };
  }

  private onEc2(name: string, args: TargetRedisArgs, spec: Extract<TargetConfig["redis"], { kind: "ec2" }>): Endpoints {
    const child = { parent: this };
    const publicSubnetId = args.sourceAccess?.publicSubnetId;
    const tlsPort = args.sourceAccess ? REDIS_TLS_PORT : undefined;
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
    // Refuses, before the instance, a change of subnet that would replace it while it holds data (./exposure-guard.ts).
    const exposure = new command.local.Command(`${name}-exposure`, redisExposureGuard(publicSubnetId !== undefined, args.holdsLiveData), { ...child, additionalSecretOutputs: ["stdout", "stderr"] });
    const instance = new aws.ec2.Instance(`${name}-redis`, {
      ami: spec.ami,
      instanceType: spec.instanceType,
      subnetId: publicSubnetId ?? args.subnetIds[0],
      vpcSecurityGroupIds: [args.securityGroupId],
      associatePublicIpAddress: publicSubnetId !== undefined,
      iamInstanceProfile: profile.name,
      metadataOptions: { httpTokens: "required" },
      rootBlockDevice: { volumeSize: spec.volumeGb, volumeType: "gp3", encrypted: true },
      userData: args.bucket.bucket.apply((bucket) => redisUserData({ region: args.region, passwordParameter: `${args.parameterPrefix}/redis-password`, bucket, tlsPort })),
      userDataReplaceOnChange: false,
      disableApiTermination: args.holdsLiveData,
      tags: { ...args.tags, Name: `${name}-redis` },
    }, { parent: this, dependsOn: [password, exposure] });
    // Published: the instance's public DNS name (ec2-*.compute-1.amazonaws.com; the VPC has
    // DNS hostnames on), the kind of host Heroku Key-Value Store's URLs name, for which apps
    // set up for it turn verification of the self-signed certificate off (Heroku's advice,
    // https://devcenter.heroku.com/articles/connecting-heroku-redis); some do for those hosts only.
    return { host: instance.privateIp, sourceHost: publicSubnetId === undefined ? instance.privateIp : instance.publicDns };
  }
}
