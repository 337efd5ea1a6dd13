// AWS credentials: `sts get-caller-identity` needs no permission at all
// (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html), so it
// fails only when there is no usable credential. Through the AWS CLI when it is installed
// (it reads the same chain Pulumi's AWS provider does: environment, profiles, SSO), else
// as a signed request with the environment's keys. Both honour AWS_ENDPOINT_URL_STS, which
// is how a test points them elsewhere.
import { execFile } from "node:child_process";
import { redact } from "../cli/common";
import { Finding, finding } from "./findings";
import { amzDate, signGet } from "./sigv4";

function viaCli(region: string, env: NodeJS.ProcessEnv): Promise<Finding | "no-cli"> {
  return new Promise((resolve) => {
    execFile("aws", ["sts", "get-caller-identity", "--output", "json", "--region", region], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === "ENOENT") return resolve("no-cli");
      if (err) {
        const why = redact(stderr.trim().split("\n").filter(Boolean).pop() ?? err.message);
        return resolve(finding("aws", "block", `no usable AWS credentials for ${region}: ${why}`));
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

const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];

/** GET /?Action=GetCallerIdentity (STS's query API), signed with SigV4 from the environment's keys. */
async function viaSignedRequest(region: string, env: NodeJS.ProcessEnv): Promise<Finding> {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    return finding("aws", "warn", "neither the AWS CLI nor AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY is here, so credentials were not checked (Pulumi's AWS provider also reads profiles and SSO)");
  }
  const endpoint = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || `https://sts.${region}.amazonaws.com`;
  const url = new URL("/?Action=GetCallerIdentity&Version=2011-06-15", endpoint);
  const { host: _host, ...headers } = signGet(url, region, "sts", { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN || undefined }, amzDate(new Date()));
  let status: number;
  let body: string;
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(20_000) });
    [status, body] = [res.status, await res.text()];
  } catch (e) {
    return finding("aws", "block", `cannot reach STS at ${url.origin}: ${(e as Error).message}`);
  }
  if (status !== 200) {
    return finding("aws", "block", `no usable AWS credentials for ${region}: STS answered ${status} ${tag(body, "Code") ?? ""}: ${tag(body, "Message") ?? "no message"}`);
  }
  return finding("aws", "ok", `account ${tag(body, "Account")} as ${tag(body, "Arn")} (signed request; no AWS CLI here)`);
}

export async function checkAws(region: string, env: NodeJS.ProcessEnv): Promise<Finding> {
  const cli = await viaCli(region, env);
  return cli === "no-cli" ? viaSignedRequest(region, env) : cli;
}
