import { describe, expect, it } from "vitest";
import { validateDnsCutover } from "../../policy/dns-cutover";
import { UNKNOWN_STRING, resourceArgs, violations } from "./args";
import { Flags, HEROKU_ORIGIN, VULTR_ORIGIN, flagsUpTo, herokuConfig, vultrConfig, writeStackFile } from "./stacks";

const ALB = "ferry-lb-123456.us-east-1.elb.amazonaws.com";
const record = (content: string, type = "CNAME", name = "social.example.com") => ({ zoneId: "z", name, type, content, proxied: true, ttl: 1 });

function check(config: Record<string, unknown>, props: Record<string, unknown>): string[] {
  const stackFile = writeStackFile(config);
  return violations((report) => validateDnsCutover(resourceArgs("cloudflare:index/dnsRecord:DnsRecord", "dns-0", props, { stackFile }), report));
}

describe("ferry-dns-at-cutover", () => {
  it("passes the adopted record before cutover and the load balancer from cutover on", () => {
    expect(check(herokuConfig(flagsUpTo("proxy")), record(HEROKU_ORIGIN.content))).toEqual([]);
    expect(check(vultrConfig(flagsUpTo("replicate")), record(VULTR_ORIGIN.content, "A"))).toEqual([]);
    expect(check(herokuConfig(flagsUpTo("cutover")), record(ALB))).toEqual([]);
    expect(check(vultrConfig(flagsUpTo("decommission")), record(ALB))).toEqual([]);
  });

  it("fails a record pointing at AWS before cutover", () => {
    const found = check(herokuConfig(flagsUpTo("proxy")), record(ALB));
    expect(found).toEqual([expect.stringMatching(/social\.example\.com must stay CNAME tall-owl-0a1b2c\.herokudns\.com until cutover, but points at "ferry-lb-.*elb\.amazonaws\.com" \(the app is at proxy/)]);
  });

  it("fails when the app is held back even though ferry:cutover is set", () => {
    const flags: Flags = { ...flagsUpTo("cutover"), hold: { app: "proxy", postgres: "replicate", redis: "replicate" } };
    expect(check(vultrConfig(flags), record(ALB))).toEqual([expect.stringMatching(/until cutover.*the app is at proxy/)]);
  });

  it("treats a content computed from another resource (unknown in a preview) as moved", () => {
    expect(check(vultrConfig(), record(UNKNOWN_STRING))).toEqual([expect.stringMatching(/points at a value computed from another resource/)]);
  });

  it("ignores hostnames ferry does not manage", () => {
    expect(check(vultrConfig(), record(ALB, "CNAME", "status.example.com"))).toEqual([]);
  });

  it("fails safe when the stack config cannot be read", () => {
    const found = violations((report) => validateDnsCutover(resourceArgs("cloudflare:index/dnsRecord:DnsRecord", "dns-0", record(ALB), { stackFile: "/nonexistent/Pulumi.x.yaml" }), report));
    expect(found).toEqual([expect.stringMatching(/cannot read the ferry stack config.*no such stack file/)]);
  });
});
