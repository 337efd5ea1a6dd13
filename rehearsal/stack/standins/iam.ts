// The runner's instance role against what its steps called: every AWS call the stand-in
// recorded (IAM action and resource ARN) must be allowed by an Allow statement of a policy
// attached to the runner's role, as IAM evaluates identity policies (action and resource
// match with `*` and `?` wildcards, actions case-insensitively:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
// Conditions are not evaluated and Deny statements are not modelled (the program writes
// none); the check says so in its name.
import type { AwsCall } from "../../servers/aws-api";
import type { StoredResource } from "../engine";

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
}

const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/** IAM's wildcard match: `*` any run of characters, `?` one. */
export function iamMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = new RegExp(`^${pattern.split("").map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\/]/g, "\\$&"))).join("")}$`, ignoreCase ? "i" : "");
  return re.test(value);
}

export function allowedBy(statements: Statement[], call: AwsCall): boolean {
  return statements.some((s) => s.Effect === "Allow"
    && list(s.Action).some((a) => iamMatch(a, call.action, true))
    && list(s.Resource).some((r) => iamMatch(r, call.resource)));
}

/** The runner's role (Ec2Runner's `<name>-runner-role`) and every inline policy attached to it. */
function runnerStatements(resources: StoredResource[]): Statement[] {
  const role = resources.find((r) => r.type === "aws:iam/role:Role" && r.name.endsWith("-runner-role"));
  if (!role) throw new Error("no runner role in the stack's state: the EC2 runner has no instance role");
  return resources
    .filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && (r.inputs.role === role.id || r.inputs.role === role.outputs.name))
    .flatMap((r) => (JSON.parse(String(r.inputs.policy)) as { Statement: Statement[] }).Statement);
}

export function checkCallsAgainstRunnerRole(calls: AwsCall[], resources: StoredResource[]): { allowed: number; denied: string[] } {
  const statements = runnerStatements(resources);
  const denied = calls.filter((c) => !allowedBy(statements, c)).map((c) => `${c.action} on ${c.resource}`);
  return { allowed: calls.length - denied.length, denied: [...new Set(denied)] };
}
