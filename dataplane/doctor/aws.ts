// AWS credentials, as the AWS CLI finds them (the same chain Pulumi's AWS provider reads:
// environment, profiles, SSO): `aws sts get-caller-identity` needs no permission at all
// (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html), so it
// fails only when there is no usable credential. The CLI honours AWS_ENDPOINT_URL_STS, which
// is how a test points it elsewhere.
import { execFile } from "node:child_process";
import { redact } from "../cli/common";
import { Finding, finding } from "./findings";

export function checkAws(region: string, env: NodeJS.ProcessEnv): Promise<Finding> {
  return new Promise((resolve) => {
    execFile("aws", ["sts", "get-caller-identity", "--output", "json", "--region", region], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === "ENOENT") {
        resolve(finding("aws", "warn", "the AWS CLI is not on PATH, so credentials were not checked (Pulumi's AWS provider looks for them itself)"));
        return;
      }
      if (err) {
        const why = redact(stderr.trim().split("\n").filter(Boolean).pop() ?? err.message);
        resolve(finding("aws", "block", `no usable AWS credentials for ${region}: ${why}`));
        return;
      }
      try {
        const who = JSON.parse(stdout) as { Account?: string; Arn?: string };
        resolve(finding("aws", "ok", `account ${who.Account} as ${who.Arn}`));
      } catch {
        resolve(finding("aws", "block", "`aws sts get-caller-identity` printed no JSON"));
      }
    });
  });
}
