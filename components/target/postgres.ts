// The target PostgreSQL: RDS in private subnets, encrypted, backups kept; public (TLS
// forced, password) only when the source app reaches it from the internet
// (ferry:source.access).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { TargetConfig } from "../../config";
import type { PostgresStrategy } from "../../config";
import { POSTGRES_PORT } from "./firewall";

export interface TargetPostgresArgs {
  spec: TargetConfig["postgres"];
  strategy: PostgresStrategy;
  subnetIds: pulumi.Input<string>[];
  securityGroupId: pulumi.Input<string>;
  password: pulumi.Input<string>;
  /** Once the data lives here, deleting the instance must take an explicit extra step. */
  holdsLiveData: boolean;
  /**
   * Set when the source app reaches RDS from the internet (an allowlisted box or egress
   * add-on, or published): "The DB instance must be part of a public subnet and
   * PubliclyAccessible must be enabled for it to be publicly accessible"
   * (https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/rds/aws.sdk.kotlin.services.rds.model/-modify-db-instance-request/publicly-accessible.html);
   * its security group still decides who gets in, and rds.force_ssl refuses plain TCP.
   */
  publicSubnetIds?: pulumi.Input<string>[];
  tags: Record<string, string>;
}

/** RDS parameters per strategy: pure, so a test checks them without Pulumi. */
export function postgresParameters(strategy: PostgresStrategy): { name: string; value: string; applyMethod: string }[] {
  const always = [
    { name: "rds.force_ssl", value: "1", applyMethod: "immediate" },
    { name: "log_min_duration_statement", value: "1000", applyMethod: "immediate" },
  ];
  // rds.logical_replication is static (reboot): set it at provision so the reboot happens
  // before any data arrives. It also lets a reverse subscription feed the old primary
  // for a rollback after cutover.
  const logical = [
    { name: "rds.logical_replication", value: "1", applyMethod: "pending-reboot" },
    { name: "max_logical_replication_workers", value: "8", applyMethod: "pending-reboot" },
  ];
  return strategy === "logical" ? [...always, ...logical] : always;
}

export class Postgres extends pulumi.ComponentResource {
  readonly instance: aws.rds.Instance;
  /** postgres://user:password@host:port/db, secret. */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: TargetPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Postgres", name, {}, opts);
    const child = { parent: this };
    const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds, tags: args.tags }, child);
    const publicSubnets = args.publicSubnetIds
      ? new aws.rds.SubnetGroup(`${name}-public-subnets`, { subnetIds: args.publicSubnetIds, tags: args.tags }, child)
      : undefined;
    const parameters = new aws.rds.ParameterGroup(`${name}-params`, {
      family: `postgres${args.spec.version}`,
      description: `ferry target (${args.strategy})`,
      parameters: postgresParameters(args.strategy),
      tags: args.tags,
    }, child);

    this.instance = new aws.rds.Instance(`${name}-db`, {
      engine: "postgres",
      engineVersion: args.spec.version,
      instanceClass: args.spec.instanceClass,
      allocatedStorage: args.spec.storageGb,
      maxAllocatedStorage: args.spec.storageGb * 2,
      storageType: "gp3",
      storageEncrypted: true,
      multiAz: args.spec.multiAz,
      dbName: args.spec.database,
      username: args.spec.username,
      password: pulumi.secret(args.password),
      port: POSTGRES_PORT,
      dbSubnetGroupName: (publicSubnets ?? subnets).name,
      vpcSecurityGroupIds: [args.securityGroupId],
      parameterGroupName: parameters.name,
      publiclyAccessible: publicSubnets !== undefined,
      backupRetentionPeriod: args.spec.backupRetentionDays,
      copyTagsToSnapshot: true,
      deletionProtection: args.holdsLiveData,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: `${name}-final`,
      enabledCloudwatchLogsExports: ["postgresql"],
      performanceInsightsEnabled: true,
      autoMinorVersionUpgrade: true,
      applyImmediately: true,
      tags: args.tags,
    }, child);

    this.url = pulumi.secret(
      pulumi.interpolate`postgres://${args.spec.username}:${pulumi.output(args.password).apply(encodeURIComponent)}@${this.instance.address}:${POSTGRES_PORT}/${args.spec.database}?sslmode=require`,
    );
    this.registerOutputs({ endpoint: this.instance.address });
  }
}
