// One private S3 bucket for assets and backups (Redis RDB snapshots, pg dumps), encrypted,
// versioned so an overwritten backup can be recovered, never public.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export class Storage extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;

  constructor(name: string, args: { tags: Record<string, string> }, opts?: pulumi.ComponentResourceOptions) {
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
    // Hourly Redis snapshots add up: keep 30 days of backups, 90 of overwritten versions.
    new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
      bucket: this.bucket.id,
      rules: [{
        id: "expire-backups",
        status: "Enabled",
        filter: { prefix: "backups/" },
        expiration: { days: 30 },
        noncurrentVersionExpiration: { noncurrentDays: 90 },
      }],
    }, child);
    this.registerOutputs({ bucket: this.bucket.bucket });
  }
}
