import { describe, expect, it } from "vitest";
import { validateOpenPorts } from "../../policy/open-ports";
import { resourceArgs, violations } from "./args";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const check = (type: string, props: Record<string, unknown>, config: object = {}) =>
  violations((report) => validateOpenPorts(resourceArgs(type, "rule", props, config), report));

describe("ferry-no-open-data-ports", () => {
  it("passes database ports opened to a security group and web ports opened to the world", () => {
    expect(check(INGRESS, { ipProtocol: "tcp", fromPort: 5432, toPort: 5432, referencedSecurityGroupId: "sg-app" })).toEqual([]);
    expect(check(INGRESS, { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" })).toEqual([]);
    expect(check(INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "203.0.113.7/32" })).toEqual([]);
  });

  it.each([
    ["ingress rule, IPv4", INGRESS, { ipProtocol: "tcp", fromPort: 5432, toPort: 5432, cidrIpv4: "0.0.0.0/0" }, /from 0\.0\.0\.0\/0 reaches port 5432/],
    ["ingress rule, IPv6", INGRESS, { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv6: "::/0" }, /from ::\/0 reaches port 6379/],
    ["all protocols", INGRESS, { ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }, /reaches port 5432, 6379, 6432, 6433;/],
    ["a port range", "aws:ec2/securityGroupRule:SecurityGroupRule", { type: "ingress", protocol: "tcp", fromPort: 5000, toPort: 7000, cidrBlocks: ["0.0.0.0/0"] }, /reaches port 5432, 6379, 6432, 6433;/],
    ["the pooler's PgBouncer", INGRESS, { ipProtocol: "tcp", fromPort: 6432, toPort: 6432, cidrIpv4: "0.0.0.0/0" }, /reaches port 6432;/],
    ["the pooler's control API", INGRESS, { ipProtocol: "tcp", fromPort: 6433, toPort: 6433, cidrIpv6: "::/0" }, /reaches port 6433;/],
    ["inline ingress", "aws:ec2/securityGroup:SecurityGroup", { ingress: [{ protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: [], ipv6CidrBlocks: ["::/0"] }] }, /reaches port 6379/],
  ])("fails %s", (_what, type, props, message) => {
    const found = check(type, props);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it("guards the extra ports given in the policy config", () => {
    const rule = { ipProtocol: "tcp", fromPort: 6380, toPort: 6380, cidrIpv4: "0.0.0.0/0" };
    expect(check(INGRESS, rule)).toEqual([]);
    expect(check(INGRESS, rule, { ports: [6380] })).toEqual([expect.stringMatching(/reaches port 6380/)]);
  });

  it("ignores egress rules", () => {
    expect(check("aws:ec2/securityGroupRule:SecurityGroupRule", { type: "egress", protocol: "-1", cidrBlocks: ["0.0.0.0/0"] })).toEqual([]);
  });
});
