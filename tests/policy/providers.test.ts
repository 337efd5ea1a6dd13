// The provider rules on their own: each rejects what the provider documents as rejected
// and passes what ferry declares. The program tests run every registration through them.
import { describe, expect, it } from "vitest";
import { LiveDnsRecord, ProviderWorld, Registration, checkRegistration, checkStack } from "../../policy/providers";

const ZONE = "fedcba9876543210fedcba9876543210";
const LIVE: LiveDnsRecord = { zoneId: ZONE, id: "aaaabbbbccccddddeeeeffff00001111", name: "social.example.com", type: "CNAME", content: "tall-owl-0a1b2c.herokudns.com", proxied: false, ttl: 300 };
const world = (adopted: string[] = []): ProviderWorld => ({ liveDnsRecords: new Map([[`${ZONE}/${LIVE.id}`, LIVE]]), adopted: new Set(adopted) });
const reg = (type: string, name: string, inputs: Record<string, unknown>, options: Registration["options"] = {}): Registration => ({ type, name, inputs, options });
const check = (r: Registration, w = world()) => checkRegistration(r, w);

const DNS = "cloudflare:index/dnsRecord:DnsRecord";
const record = (inputs: Record<string, unknown>, options: Registration["options"] = {}) =>
  reg(DNS, "ferry-dns-0", { zoneId: ZONE, name: "social.example.com", type: "CNAME", content: "lb.example.com", proxied: true, ttl: 1, ...inputs }, options);
const adoption = (inputs: Record<string, unknown> = {}) =>
  record({ content: LIVE.content, proxied: false, ttl: 300, ...inputs }, { import: `${ZONE}/${LIVE.id}`, retainOnDelete: true });

describe("Cloudflare", () => {
  it("pool names allow only letters, digits, - and _", () => {
    const pool = (name: string) => reg("cloudflare:index/loadBalancerPool:LoadBalancerPool", "p", { name, origins: [{ address: "a.example", weight: 1 }] });
    expect(check(pool("ferry-social.example.com-aws"))).toEqual([expect.stringMatching(/name 'ferry-social\.example\.com-aws': only letters, digits, - and _ are allowed \(https:\/\/developers\.cloudflare\.com\//)]);
    expect(check(pool("ferry-social_example_com-aws"))).toEqual([]);
  });

  it("a DNS record's TTL is 1 or 60..86400, and automatic when proxied", () => {
    expect(check(record({ ttl: 30, proxied: false }))).toEqual([expect.stringMatching(/ttl: 30 is not 1 \(automatic\) or 60 to 86400/)]);
    expect(check(record({ ttl: 300, proxied: true }))).toEqual([expect.stringMatching(/a proxied record's TTL is automatic \(1\), got 300/)]);
    expect(check(record({ ttl: 300, proxied: false }))).toEqual([]);
  });

  it("an A record holds an IPv4 address, a CNAME a hostname", () => {
    expect(check(record({ type: "A", content: "lb.example.com" }))).toEqual([expect.stringMatching(/is not an IPv4 address/)]);
    expect(check(record({ type: "CNAME", content: "203.0.113.7" }))).toEqual([expect.stringMatching(/a CNAME points at a hostname/)]);
  });

  it("an import must declare the record exactly as it is live", () => {
    expect(check(adoption())).toEqual([]);
    expect(check(adoption({ proxied: true, ttl: 1, comment: "ferry: adopted" }))).toEqual([
      expect.stringMatching(/proxied: import declares true but the live record has false; inputs to import must match the live resource/),
      expect.stringMatching(/ttl: import declares 1 but the live record has 300/),
      expect.stringMatching(/comment: import declares "ferry: adopted" but the live record has undefined/),
    ]);
    // Once adopted (in state), the engine ignores the import id: the cutover is an update.
    expect(check(adoption({ content: "lb.example.com", proxied: true, ttl: 1 }), world([`${ZONE}/${LIVE.id}`]))).toEqual([]);
    expect(check(record({}, { import: `${ZONE}/ffffffffffffffffffffffffffffffff` }))).toEqual([expect.stringMatching(/is not a record of ferry:target\.cloudflare\.hostnames/)]);
  });

  it("a second record beside a live CNAME collides (a Heroku custom domain's record must be adopted)", () => {
    expect(checkStack([record({})], world())).toEqual([expect.stringMatching(/social\.example\.com: a CNAME cannot coexist with another record of the same name .*the live CNAME record aaaabbbb/)]);
    expect(checkStack([adoption()], world())).toEqual([]);
    const a = (content: string, n: string) => reg(DNS, n, { zoneId: ZONE, name: "x.example.com", type: "A", content, proxied: false, ttl: 60 });
    expect(checkStack([a("192.0.2.1", "a"), a("192.0.2.2", "b")], world())).toEqual([]);
    expect(checkStack([a("192.0.2.1", "a"), a("192.0.2.1", "b")], world())).toEqual([expect.stringMatching(/an identical A 192\.0\.2\.1 record already exists/)]);
  });

  it("monitors: interval above timeout x (retries + 1), at least 60 s", () => {
    const monitor = (inputs: Record<string, unknown>) => reg("cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor", "m", { type: "https", interval: 60, retries: 2, timeout: 5, ...inputs });
    expect(check(monitor({}))).toEqual([]);
    expect(check(monitor({ interval: 15 }))).toEqual([expect.stringMatching(/at least 60 seconds/), expect.stringMatching(/must exceed timeout x \(retries \+ 1\) = 15/)]);
  });

  it("ACM's validation CNAME must be DNS-only: a proxied record answers with Cloudflare's addresses and ACM never validates", () => {
    const validation = (proxied: boolean) => record({ name: "_abc.social.example.com", content: "_def.xyz.acm-validations.aws", proxied, ttl: proxied ? 1 : 60 });
    expect(check(validation(true))).toEqual([expect.stringMatching(/proxied: ACM's DNS validation record must be DNS-only.*https:\/\/docs\.aws\.amazon\.com\/acm\//)]);
    expect(check(validation(false))).toEqual([]);
  });

  it("a Configuration Rule sets only what http_config_settings knows: set_config, and ssl off|flexible|full|strict|origin_pull", () => {
    const ruleset = (rules: unknown[]) => reg("cloudflare:index/ruleset:Ruleset", "r", { zoneId: ZONE, kind: "zone", phase: "http_config_settings", name: "ferry", rules });
    const rule = (action: string, ssl: string) => ({ action, actionParameters: { ssl }, expression: '(http.host in {"a.example"})' });
    expect(check(ruleset([rule("set_config", "strict")]))).toEqual([]);
    expect(check(ruleset([rule("set_config", "strictest")]))).toEqual([expect.stringMatching(/rules\[0\]\.actionParameters\.ssl: 'strictest' is not an SSL\/TLS mode .*developers\.cloudflare\.com/)]);
    expect(check(ruleset([rule("redirect", "strict")]))).toEqual([expect.stringMatching(/rules\[0\]\.action: the http_config_settings phase takes set_config only/)]);
    expect(check(ruleset([{ action: "set_config", actionParameters: { ssl: "strict" } }]))).toEqual([expect.stringMatching(/rules\[0\]\.expression: required/)]);
  });

  it("one zone entry point ruleset per phase: a second Configuration Rules ruleset in the zone is refused", () => {
    const ruleset = (name: string, phase = "http_config_settings") => reg("cloudflare:index/ruleset:Ruleset", name, { zoneId: ZONE, kind: "zone", phase, name, rules: [] });
    expect(checkStack([ruleset("a"), ruleset("b", "http_request_dynamic_redirect")], world())).toEqual([]);
    expect(checkStack([ruleset("a"), ruleset("b")], world())).toEqual([expect.stringMatching(/a and b are two entry point rulesets of phase http_config_settings in zone .*ruleset-engine/)]);
  });

  it("load balancer pool weights belong to its pools and lie in 0..1", () => {
    const lb = reg("cloudflare:index/loadBalancer:LoadBalancer", "lb", { defaultPools: ["a", "b"], fallbackPool: "a", steeringPolicy: "random", randomSteering: { poolWeights: { a: 0.7, c: 1.3 } } });
    expect(check(lb)).toEqual([expect.stringMatching(/poolWeights\.c: 0 to 1/), expect.stringMatching(/poolWeights\.c: not one of defaultPools/)]);
  });
});

describe("ACM", () => {
  it("a certificate names at most 10 domains (ACM's default quota)", () => {
    const cert = (n: number) => reg("aws:acm/certificate:Certificate", "c", { domainName: "a.example.com", subjectAlternativeNames: Array.from({ length: n - 1 }, (_, i) => `h${i}.example.com`), validationMethod: "DNS" });
    expect(check(cert(10))).toEqual([]);
    expect(check(cert(11))).toEqual([expect.stringMatching(/subjectAlternativeNames: 11 domain names; ACM allows 10 per certificate .*acm-limits/)]);
  });
});

describe("ECR", () => {
  it("repository names: lowercase path components joined by /", () => {
    const repo = (name: string) => reg("aws:ecr/repository:Repository", "r", { name });
    expect(check(repo("ferry/docker.io/heroku/heroku"))).toEqual([]);
    expect(check(repo("ferry/Docker.io/heroku"))).toEqual([expect.stringMatching(/name 'ferry\/Docker\.io\/heroku': 2 to 256 lowercase/)]);
    expect(check(repo("ferry//x"))).toEqual([expect.stringMatching(/API_CreateRepository/)]);
  });
});

describe("AWS names", () => {
  it("models Pulumi's auto-name (logical name + '-' + 7 hex) against the limit", () => {
    const tg = (name: string) => reg("aws:lb/targetGroup:TargetGroup", name, { port: 3000, protocol: "HTTP" });
    expect(check(tg("ferry-ingress-streaming"))).toEqual([]);
    expect(check(tg("mismatch-ingress-streaming"))).toEqual([
      expect.stringMatching(/name 'mismatch-ingress-streaming-' plus 7 random chars is longer than maximum length 32/),
      expect.stringMatching(/must be 1 to 32 characters \(got 34\)/),
    ]);
  });

  it("target group health checks: interval 5..300 and above the timeout (default 5 s), timeout 2..120, thresholds 2..10", () => {
    const tg = (healthCheck: Record<string, unknown>) => reg("aws:lb/targetGroup:TargetGroup", "ferry-ingress-web", { port: 3000, protocol: "HTTP", healthCheck });
    expect(check(tg({ interval: 5, timeout: 4, healthyThreshold: 2, unhealthyThreshold: 3 }))).toEqual([]);
    expect(check(tg({ interval: 5, healthyThreshold: 2 }))).toEqual([expect.stringMatching(/healthCheck\.interval: must be greater than the timeout \(5 s, the default\)/)]);
    expect(check(tg({ interval: 10, timeout: 10 }))).toEqual([expect.stringMatching(/must be greater than the timeout \(10 s\)/)]);
    expect(check(tg({ interval: 4, timeout: 1, healthyThreshold: 1 }))).toEqual([
      expect.stringMatching(/healthCheck\.interval: 5 to 300 seconds/),
      expect.stringMatching(/healthCheck\.timeout: 2 to 120 seconds/),
      expect.stringMatching(/healthCheck\.healthyThreshold: 2 to 10/),
    ]);
  });

  it("RDS identifiers: letters, digits, hyphens, a letter first, no '--', no trailing hyphen", () => {
    const db = (identifier: string) => reg("aws:rds/instance:Instance", "db", { identifier });
    expect(check(db("ferry-pg-db"))).toEqual([]);
    expect(check(db("1db"))).toEqual([expect.stringMatching(/must start with a letter/)]);
    expect(check(db("ferry--db"))).toEqual([expect.stringMatching(/two consecutive hyphens/)]);
    expect(check(db("ferry_db"))).toEqual([expect.stringMatching(/only letters, digits and hyphens/)]);
  });

  it("ElastiCache: an auth token needs in-transit encryption; failover needs a replica; the id fits 40", () => {
    const group = (inputs: Record<string, unknown>) => reg("aws:elasticache/replicationGroup:ReplicationGroup", "ferry-redis-cache", { numCacheClusters: 1, ...inputs });
    expect(check(group({ authToken: "0123456789abcdef0123", transitEncryptionEnabled: true }))).toEqual([]);
    expect(check(group({ authToken: "0123456789abcdef0123" }))).toEqual([expect.stringMatching(/authToken: requires transitEncryptionEnabled: true/)]);
    expect(check(group({ automaticFailoverEnabled: true }))).toEqual([expect.stringMatching(/needs numCacheClusters >= 2/)]);
    expect(check(reg("aws:elasticache/replicationGroup:ReplicationGroup", "a-very-long-stack-name-redis-cache", {}))).toEqual(
      expect.arrayContaining([expect.stringMatching(/longer than maximum length 40/)]),
    );
  });

  it("S3 bucket names are lowercase, 3..63", () => {
    expect(check(reg("aws:s3/bucket:Bucket", "b", { bucket: "Ferry_Assets" }))).toEqual([expect.stringMatching(/lowercase letters, digits, dots and hyphens/)]);
  });

  it("a security group rule names exactly one peer, and ports for tcp", () => {
    const rule = (inputs: Record<string, unknown>) => reg("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "r", { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 443, toPort: 443, ...inputs });
    expect(check(rule({ cidrIpv4: "203.0.113.7/32" }))).toEqual([]);
    expect(check(rule({ cidrIpv4: "203.0.113.7/32", referencedSecurityGroupId: "sg-2" }))).toEqual([expect.stringMatching(/exactly one peer is required/)]);
    expect(check(rule({ cidrIpv4: "box.main-ip/32" }))).toEqual([expect.stringMatching(/is not an IPv4 CIDR/)]);
    expect(check(rule({ cidrIpv4: "203.0.113.7/32", fromPort: 444, toPort: 443 }))).toEqual([expect.stringMatching(/fromPort <= toPort/)]);
  });

  it("SSM parameter names with / start with /; log retention takes CloudWatch's values", () => {
    expect(check(reg("aws:ssm/parameter:Parameter", "p", { name: "ferry/app-env", type: "SecureString", value: "x" }))).toEqual([expect.stringMatching(/must start with \//)]);
    expect(check(reg("aws:cloudwatch/logGroup:LogGroup", "l", { name: "/ferry/web", retentionInDays: 10 }))).toEqual([expect.stringMatching(/10 is not one of/)]);
  });
});

describe("the engine's options", () => {
  it("never deleteBeforeReplace with retainOnDelete", () => {
    expect(check(adoption(), world())).toEqual([]);
    const both = { ...adoption(), options: { ...adoption().options, deleteBeforeReplace: true } };
    expect(check(both)).toEqual([expect.stringMatching(/deleteBeforeReplace with retainOnDelete never deletes the old one/)]);
  });

  it("a read takes no protect (not recorded by the engine), and ferry only ever reads a Vultr instance", () => {
    const box = (options: Registration["options"]) => reg("vultr:index/instance:Instance", "ferry-source-instance", {}, options);
    expect(check(box({ read: true }))).toEqual([]);
    expect(check(box({ read: true, protect: true }))).toEqual([expect.stringMatching(/protect\/retainOnDelete on a resource read with \.get are not recorded/)]);
    expect(check(box({}))).toEqual([expect.stringMatching(/ferry must only read the source box/)]);
  });
});
