// An instance profile that may read exactly the SSM parameters it is given (where the
// instance's secrets live, instead of user data), write under one S3 prefix, and be
// reached through Session Manager.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface InstanceRoleArgs {
  parameterArns: pulumi.Input<string>[];
  bucketArn?: pulumi.Input<string>;
  /** S3 key prefix the instance may write to, e.g. `backups/redis/`. */
  writePrefix?: string;
  /** S3 key prefix the instance may read, write and delete under (the app's assets). */
  assetsPrefix?: string;
  tags: Record<string, string>;
}

export function instanceProfile(name: string, args: InstanceRoleArgs, parent: pulumi.Resource): aws.iam.InstanceProfile {
  const role = new aws.iam.Role(`${name}-role`, {
    assumeRolePolicy: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }),
    tags: args.tags,
  }, { parent });
  new aws.iam.RolePolicyAttachment(`${name}-ssm`, { role: role.name, policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }, { parent });
  new aws.iam.RolePolicyAttachment(`${name}-logs`, { role: role.name, policyArn: "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy" }, { parent });
  new aws.iam.RolePolicy(`${name}-access`, {
    role: role.id,
    policy: pulumi.all([pulumi.all(args.parameterArns), args.bucketArn]).apply(([parameters, bucket]) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: parameters },
          ...(bucket && args.writePrefix
            ? [{ Effect: "Allow", Action: ["s3:PutObject"], Resource: `${bucket}/${args.writePrefix}*` }]
            : []),
          ...(bucket && args.assetsPrefix
            ? [{ Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource: `${bucket}/${args.assetsPrefix}*` }]
            : []),
        ],
      }),
    ),
  }, { parent });
  return new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, tags: args.tags }, { parent });
}
