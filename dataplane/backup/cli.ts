// The flags every backup and restore verb takes: where the object is. Nothing secret:
// the bucket and key are names, the AWS CLI finds its own credentials.
import { Command, InvalidArgumentError, Option } from "commander";
import { formatBytes } from "../cli/common";
import { BackupObject, StoredBackup, describeObject } from "./bucket";

/** S3's bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), the common part. */
function bucketName(value: string): string {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value)) throw new InvalidArgumentError("--bucket must be an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)");
  return value;
}

function objectKey(value: string): string {
  if (value === "" || value.startsWith("/") || Buffer.byteLength(value) > 1024) throw new InvalidArgumentError("--key must be an S3 object key: not empty, not starting with /, at most 1024 bytes");
  return value;
}

function region(value: string): string {
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(value)) throw new InvalidArgumentError("--region must be an AWS region such as us-east-1");
  return value;
}

/** --bucket, --key (both required) and --region. */
export function objectOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("--bucket <name>", "the S3 bucket (the stack's own: pulumi stack output endpoints)").argParser(bucketName).makeOptionMandatory())
    .addOption(new Option("--key <key>", "the object's key in the bucket").argParser(objectKey).makeOptionMandatory())
    .addOption(new Option("--region <region>", "the bucket's region (default: the AWS CLI's)").argParser(region));
}

export function backupObject(flags: { bucket: string; key: string; region?: string }): BackupObject {
  return { bucket: flags.bucket, key: flags.key, ...(flags.region ? { region: flags.region } : {}) };
}

/** One line for people: where, how big, and the checksum that was checked. */
export function describeStored(verb: string, r: StoredBackup, detail?: string): string {
  return `${verb} ${describeObject(r)}: ${formatBytes(r.bytes)}${detail ? `, ${detail}` : ""}, sha256 ${r.sha256} (checked)`;
}
