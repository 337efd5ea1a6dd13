// One private S3 bucket for assets and backups (Redis RDB snapshots, pg dumps), encrypted,
// versioned so an overwritten backup can be recovered, never public.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { FINAL_BACKUP_PREFIX } from "../../dataplane/cli/contract";

export interface StorageArgs {
  tags: Record<string, string>;
  /** How long the final backups taken before decommission are kept (ferry:target.finalBackupRetentionDays). */
  finalBackupRetentionDays: number;
}

/**
 * The bucket's lifecycle: hourly Redis snapshots add up, so 30 days of them and 90 of
 * overwritten versions; the final backups, the way back from decommission, as long as
 * the stack says, a version they replaced as long.
 */
export function lifecycleRules(args: Pick<StorageArgs, "finalBackupRetentionDays">): aws.types.input.s3.BucketLifecycleConfigurationRule[] {
  return [
    {
      id: "expire-backups",
      status: "Enabled",
      filter: { prefix: "backups/" },
      expiration: { days: 30 },
      noncurrentVersionExpiration: { noncurrentDays: 90 },
    },
    {
      id: "expire-final-backups",
      status: "Enabled",
      filter: { prefix: FINAL_BACKUP_PREFIX },
      expiration: { days: args.finalBackupRetentionDays },
      noncurrentVersionExpiration: { noncurrentDays: args.finalBackupRetentionDays },
    },
  ];
}

export class Storage extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;

  constructor(name: string, args: StorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ferry:target:Storage", name, {}, opts);
    const child = { parent: this };
    this.bucket = new aws.s3.Bucket(`${name}-bucket`, { tags: args.tags }, child);
    new aws.s3.BucketPublicAccessBlock(`${name}-private`, {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    }, child);
    new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-sse`, {
      bucket: this.bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms" }, bucketKeyEnabled: true }],
    }, child);
    new aws.s3.BucketPolicy(`${name}-tls-only`, {
      bucket: this.bucket.id,
      policy: this.bucket.arn.apply((arn) => JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
          Sid: "DenyPlaintext",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [arn, `${arn}/*`],
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }],
      })),
    }, child);
    new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: this.bucket.id, versioningConfiguration: { status: "Enabled" } }, child);
    new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, { bucket: this.bucket.id, rules: lifecycleRules(args) }, child);
    this.registerOutputs({ bucket: this.bucket.bucket });
  }
}
