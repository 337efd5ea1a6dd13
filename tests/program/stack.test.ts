// The whole program under Pulumi mocks, for each source kind and each stage: which
// resources exist, the inputs that matter, where secrets may appear, and that lowering a
// flag puts traffic back. Resource options are read through buildFerry's transformations.
import { afterAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { Recorded, SECRET_MARK, isSecretValue, outputValue, plain, providerRules, resourcesOf, stackConfig, upTo, withFlags, Flags } from "./harness";
import { parseConfig } from "../../config";
import { buildFerry, FerryOutputs } from "../../program";
import { FAKE_TRIAL } from "./stacks";

type StageName = "provision" | "replicate" | "proxy" | "cutover" | "decommission";
const STAGES: StageName[] = ["provision", "replicate", "proxy", "cutover", "decommission"];

interface Built {
  resources: Recorded[];
  options: Map<string, pulumi.CustomResourceOptions & { dependsOnNames: string[] }>;
  outputs: FerryOutputs;
  name: string;
}

let builds = 0;
const counts: Record<string, Record<string, number>> = {};

async function build(stack: "staging" | "prod", flags: Flags, label = "x", edit: (raw: Record<string, string>) => Record<string, string> = (raw) => raw): Promise<Built> {
  // As long as the default build name (`ferry`), so auto-named lengths are checked as in a real stack.
  const name = `t${String(++builds).padStart(4, "0")}`;
  const names = new Map<pulumi.Resource, string>();
  const options = new Map<string, pulumi.CustomResourceOptions & { dependsOnNames: string[] }>();
  const capture: pulumi.ResourceTransformation = (args) => {
    names.set(args.resource, args.name);
    const deps = args.opts.dependsOn;
    const list = (Array.isArray(deps) ? deps : deps ? [deps] : []) as pulumi.Resource[];
    options.set(args.name, { ...(args.opts as pulumi.CustomResourceOptions), dependsOnNames: list.map((d) => names.get(d) ?? "?") });
    return undefined;
  };
  const config = parseConfig(withFlags(edit(stackConfig(stack)), flags));
  const outputs = buildFerry(config, { name, transformations: [capture, providerRules(config, name)] });
  const resources = await resourcesOf(name);
  (counts[stack] ??= {})[label] = resources.filter((r) => !r.type.startsWith("ferry:")).length;
  return { resources, options, outputs, name };
}

const ofType = (b: Built, type: string) => b.resources.filter((r) => r.type === type);
/** The records as the example stacks state them live (ferry:target.cloudflare.hostnames[].record). */
const HEROKU_LIVE = [
  { name: "staging.social.example.com", type: "CNAME", content: "tall-owl-0a1b2c.herokudns.com", proxied: false, ttl: 300 },
  { name: "streaming.staging.social.example.com", type: "CNAME", content: "quiet-elk-3d4e5f.herokudns.com", proxied: false, ttl: 300, comment: "heroku custom domain" },
];
const VULTR_LIVE = ["famichiki.example", "streaming.famichiki.example"].map((name) => ({ name, type: "A", content: "203.0.113.20", proxied: true, ttl: 1 }));
/** The hostnames' own records (not the certificate's validation CNAMEs). */
const hostRecords = (b: Built) => ofType(b, "cloudflare:index/dnsRecord:DnsRecord").filter((r) => !String(r.inputs.content).endsWith(".acm-validations.aws"));
const liveRecords = (b: Built) => hostRecords(b).map((r) => {
  const { name, type, content, proxied, ttl, comment } = r.inputs;
  return { name, type, content, proxied, ttl, ...(comment !== undefined ? { comment } : {}) };
});
const commands = (b: Built) => b.resources.filter((r) => r.type.startsWith("command:"));
const commandLine = (r: Recorded) => String(plain(r.inputs.create) ?? "");
const findCommand = (b: Built, pattern: RegExp) => commands(b).find((c) => pattern.test(commandLine(c)));
const envKeys = (r: Recorded) => Object.keys(plain(r.inputs.environment) as object).sort();
/** The Heroku source's read-only inventory commands. */
const sourceReads = (b: Built) => commands(b).filter((c) => c.name.startsWith(`${b.name}-heroku-`));
/** The app plane's steps: release reads, slug copies, image copies, release phases (they run from provision on). */
const appSteps = (b: Built) => commands(b).filter((c) => c.name.startsWith(`${b.name}-app-`) || c.name.startsWith(`${b.name}-images-`));
/**
 * Redis on EC2's exposure guard (components/target/exposure-guard.ts): an `echo` on the
 * operator's machine that reaches nothing, failing only when the way in changes under data.
 */
const isGuard = (c: { name: string }) => c.name.endsWith("-redis-exposure");
/** Data-plane steps (the ec2 runner's readiness probe and the exposure guard are plumbing, the source reads change nothing). */
const steps = (b: Built) => commands(b).filter((c) => !c.name.endsWith("-runner-ready") && !isGuard(c) && !sourceReads(b).includes(c) && !appSteps(b).includes(c));
/** What a step waits for besides the runner being up (every step on the EC2 runner waits for that). */
const stepDeps = (b: Built, name: string) => b.options.get(name)!.dependsOnNames.filter((d) => !d.endsWith("-runner-ready"));

/** Paths of strings carrying a fake secret outside a secret wrapper. */
function leaks(value: unknown, at = ""): string[] {
  if (isSecretValue(value)) return [];
  if (typeof value === "string") return value.includes(SECRET_MARK) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => leaks(v, `${at}[${i}]`));
  if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => leaks(v, `${at}.${k}`));
  return [];
}

/**
 * The steps whose stdout the program reads (names only: add-ons, domains, the release, the
 * config copies' names and version) stay plain; every other step's output may carry data
 * or a connection detail (a verify's differing rows, a cutover's error), so Pulumi keeps
 * it as a secret output.
 */
const PARSED_READS = /^ferry --json (heroku (addons|domains|release) --app \S+$|(heroku|box) config copy )/;
/** An image copy prints the copy's digest, which the task definitions read: only its stderr is secret. */
const IMAGE_COPY = /\nskopeo copy /;
/** The pooler's set-up steps print what the program reads and what is public: the bundle's key, the CA certificate. */
const POOLER_SETUP = /-pooler-(tls|bundle)$/;

function checkSecretOutputs(b: Built): void {
  // The EC2 runner's readiness probe prints nothing (its output goes to /dev/null).
  for (const c of commands(b).filter((x) => !x.name.endsWith("-runner-ready"))) {
    const secretOutputs = b.options.get(c.name)?.additionalSecretOutputs ?? [];
    if (PARSED_READS.test(commandLine(c))) expect(secretOutputs, `${c.name}: the program parses its stdout`).toEqual([]);
    else if (IMAGE_COPY.test(commandLine(c))) expect(secretOutputs, `${c.name}: the program reads the digest it prints`).toEqual(["stderr"]);
    else if (POOLER_SETUP.test(c.name)) expect(secretOutputs, `${c.name}: the program reads what it prints (public)`).toEqual(["stderr"]);
    else expect([...secretOutputs].sort(), `${c.name}: ${commandLine(c).slice(0, 60)}`).toEqual(["stderr", "stdout"]);
  }
}

function checkInvariants(b: Built): void {
  checkSecretOutputs(b);
  // Secrets only ever travel as secrets (environment, passwords, SSM values), never in plain inputs.
  for (const r of b.resources) expect(leaks(r.inputs), `${r.type} ${r.name}`).toEqual([]);
  for (const c of commands(b)) {
    expect(String(plain(c.inputs.create))).not.toContain(SECRET_MARK);
    expect(String(plain(c.inputs.delete ?? ""))).not.toContain(SECRET_MARK);
    const env = c.inputs.environment;
    if (env !== undefined && !isSecretValue(env)) {
      for (const value of Object.values(env as Record<string, unknown>)) expect(isSecretValue(value), `${c.name} environment`).toBe(true);
    }
  }
  const [db] = ofType(b, "aws:rds/instance:Instance");
  expect(db.inputs).toMatchObject({ publiclyAccessible: false, storageEncrypted: true, skipFinalSnapshot: false });
  expect(db.inputs.backupRetentionPeriod).toBeGreaterThanOrEqual(7);
  expect(isSecretValue(db.inputs.password)).toBe(true);
  // Nothing reaches the database or cache ports from a CIDR: only from security groups.
  for (const rule of ofType(b, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")) {
    if (rule.inputs.fromPort === 5432 || rule.inputs.fromPort === 6379) {
      expect(rule.inputs.cidrIpv4, rule.name).toBeUndefined();
      expect(rule.inputs.referencedSecurityGroupId, rule.name).toBeTruthy();
    }
    expect(plain(rule.inputs.cidrIpv4)).not.toBe("0.0.0.0/0");
  }
}

describe.each(["staging", "prod"] as const)("%s stack under mocks", (stack) => {
  const heroku = stack === "staging";
  const built: Partial<Record<StageName, Built>> = {};
  // Both example stacks split by weight at Cloudflare first (prod: a box with weightedSplit).
  const flagsFor = (stage: StageName): Flags => upTo(stage, stage === "proxy" || stage === "cutover" || stage === "decommission" ? { trafficPercent: stage === "proxy" ? 30 : 100 } : {});

  it.each(STAGES)("%s: builds with the invariants holding", async (stage) => {
    built[stage] = await build(stack, flagsFor(stage), stage);
    checkInvariants(built[stage]!);
  });

  it("provision: the target exists, nothing runs, no traffic moves", () => {
    const b = built.provision!;
    // Only the pooler's own set-up (the example declares ferry:target.pooler): its TLS material and ferry's bundle.
    expect(steps(b).map((c) => c.name).sort()).toEqual([`${b.name}-pooler-bundle`, `${b.name}-pooler-tls`]);
    expect(ofType(b, "cloudflare:index/loadBalancer:LoadBalancer")).toEqual([]);
    // Each hostname's live record is adopted exactly as it is: the Heroku custom domains'
    // CNAMEs at their Heroku DNS targets, the Vultr box's A records.
    expect(liveRecords(b)).toEqual(heroku ? HEROKU_LIVE : VULTR_LIVE);
    expect(ofType(b, "aws:ecs/service:Service").map((r) => r.name).sort()).toEqual([`${b.name}-app-sidekiq`, `${b.name}-app-streaming`, `${b.name}-app-web`, `${b.name}-pooler-pooler-0`, `${b.name}-pooler-pooler-1`]);
    expect(ofType(b, "aws:autoscaling/group:Group")).toEqual([]);
    const params = ofType(b, "aws:rds/parameterGroup:ParameterGroup")[0].inputs.parameters as { name: string }[];
    expect(params.some((p) => p.name === "rds.logical_replication")).toBe(!heroku);
    // Only a self-managed source is pulled from, and only from its own address and port.
    const pulls = ofType(b, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
      .filter((r) => r.inputs.cidrIpv4 === "203.0.113.20/32")
      .map((r) => [r.inputs.fromPort, r.inputs.description]);
    expect(pulls).toEqual(heroku ? [] : [[5432, "subscription to the source publisher"], [6380, "REPLICAOF the source"]]);
  });

  it("TLS to the origin: an ACM certificate validated through the zone, HTTPS on the ALB, port 80 only redirects; Full (strict) for the hostnames only, from proxy on", () => {
    const b = built.provision!;
    const hosts = heroku ? ["staging.social.example.com", "streaming.staging.social.example.com"] : ["famichiki.example", "streaming.famichiki.example"];
    const [cert] = ofType(b, "aws:acm/certificate:Certificate");
    expect(cert.inputs).toMatchObject({ domainName: hosts[0], subjectAlternativeNames: [hosts[1]], validationMethod: "DNS" });
    // One DNS-only CNAME per hostname, as ACM's validation options name them.
    const validation = ofType(b, "cloudflare:index/dnsRecord:DnsRecord").filter((r) => String(r.inputs.content).endsWith(".acm-validations.aws"));
    expect(validation.map((r) => [String(r.inputs.name).replace(/^_[0-9a-f]+\./, ""), r.inputs.type, r.inputs.proxied])).toEqual(hosts.map((h) => [h, "CNAME", false]));
    const [issued] = ofType(b, "aws:acm/certificateValidation:CertificateValidation");
    expect(issued.inputs.validationRecordFqdns).toEqual(validation.map((r) => r.inputs.name));
    const listeners = ofType(b, "aws:lb/listener:Listener");
    const https = listeners.find((l) => l.inputs.port === 443)!;
    expect(https.inputs).toMatchObject({ protocol: "HTTPS", certificateArn: issued.inputs.certificateArn, sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" });
    const http = listeners.find((l) => l.inputs.port === 80)!;
    expect(http.inputs.defaultActions).toEqual([{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }]);
    // Every hostname is served on 443; port 80 forwards only the health gate's own name.
    const rules = ofType(b, "aws:lb/listenerRule:ListenerRule");
    const hostRules = rules.filter((r) => hosts.some((h) => JSON.stringify(r.inputs.conditions).includes(`"${h}"`)));
    expect(hostRules.map((r) => r.inputs.listenerArn)).toEqual(hosts.map(() => `arn:aws:elasticloadbalancing:::${b.name}-ingress-listener`));
    expect(rules.filter((r) => r.inputs.listenerArn === `arn:aws:elasticloadbalancing:::${b.name}-ingress-check`).map((r) => JSON.stringify(r.inputs.conditions)))
      .toEqual([JSON.stringify([{ hostHeader: { values: [`${b.name}-ingress-alb-123.us-east-1.elb.amazonaws.com`] } }])]);
    // Cloudflare does not reach AWS at provision: the zone's mode is untouched.
    expect(ofType(b, "cloudflare:index/ruleset:Ruleset")).toEqual([]);
    for (const stage of ["proxy", "cutover", "decommission"] as const) {
      const [rule] = ofType(built[stage]!, "cloudflare:index/ruleset:Ruleset");
      expect(rule.inputs).toMatchObject({ kind: "zone", phase: "http_config_settings", zoneId: heroku ? "fedcba9876543210fedcba9876543210" : "00112233445566778899aabbccddeeff" });
      expect(rule.inputs.rules).toMatchObject([{ action: "set_config", actionParameters: { ssl: "strict" }, expression: `(http.host in {"${hosts[0]}" "${hosts[1]}"})`, enabled: true }]);
      // Never the zone-wide setting: other hostnames live in the zone.
      expect(built[stage]!.resources.filter((r) => r.type === "cloudflare:index/zoneSetting:ZoneSetting")).toEqual([]);
    }
  });

  it("every task pulls from the stack's ECR by digest: each public image is copied once by skopeo on the runner (Docker Hub allows 10 anonymous pulls an hour per NAT address)", () => {
    const b = built.provision!;
    // The pooler's image (node's bookworm image) beside the app's.
    const expected = heroku ? ["docker.io/heroku/heroku", "docker.io/library/node", "public.ecr.aws/aws-cli/aws-cli"] : ["docker.io/library/node", "ghcr.io/mastodon/mastodon", "ghcr.io/mastodon/mastodon-streaming", "public.ecr.aws/aws-cli/aws-cli"];
    const repos = ofType(b, "aws:ecr/repository:Repository");
    expect(repos.map((r) => r.inputs.name).sort()).toEqual(expected.map((e) => `${b.name}/${e}`));
    const copies = commands(b).filter((c) => /skopeo copy/.test(commandLine(c)));
    // The fetch image too: every task has a fetch container (slug-fetch or ca-fetch).
    expect(copies.length).toBe(heroku ? 3 : 4);
    for (const copy of copies) {
      // Logged in with a token piped from the AWS CLI (never in argv); linux/amd64, the tasks' platform.
      expect(commandLine(copy)).toMatch(/aws ecr get-login-password --region \S+ \| skopeo login --authfile "\$d\/auth\.json" --username AWS --password-stdin \d{12}\.dkr\.ecr\./);
      expect(commandLine(copy)).toMatch(/--override-os linux --override-arch amd64/);
      expect(plain(copy.inputs.environment)).toBeUndefined();
    }
    for (const td of ofType(b, "aws:ecs/taskDefinition:TaskDefinition")) {
      const images = (JSON.parse(String(plain(td.inputs.containerDefinitions))) as { image: string }[]).map((c) => c.image);
      for (const image of images) expect(image, td.name).toMatch(/^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/t\d+\/[a-z0-9./-]+@sha256:[0-9a-f]{64}$/);
    }
    // The runner may log in to ECR and push into exactly these repositories.
    const grant = ofType(b, "aws:iam/rolePolicy:RolePolicy").find((p) => p.name === `${b.name}-images-runner`)!;
    const statements = JSON.parse(String(plain(grant.inputs.policy))).Statement as { Action: string[]; Resource: string | string[] }[];
    expect(statements[0]).toMatchObject({ Action: ["ecr:GetAuthorizationToken"], Resource: "*" });
    expect(statements[1].Resource).toEqual(repos.map((r) => `arn:aws:ecr:us-east-1:123456789012:repository/${r.inputs.name}`));
  });

  it("replicate: a preflight-gated copy chosen from what the source allows", () => {
    const b = built.replicate!;
    const pg = findCommand(b, /pg replicate/)!;
    // The staging example captures changes by trigger: the step returns once caught up, the cutover applies the rest.
    expect(commandLine(pg)).toBe(heroku ? "ferry --json pg replicate --strategy capture --until-caught-up" : "ferry --json pg replicate --strategy logical");
    expect(commandLine(findCommand(b, /pg preflight/)!)).toBe(heroku ? "ferry --json pg preflight --strategy capture --provider-superusers" : "ferry --json pg preflight --strategy logical");
    expect(plain(pg.inputs.delete)).toBe("ferry --json pg cleanup");
    if (heroku) {
      // The add-on's credentials rotate: the step reads its current URL through the Platform API, no copy in the stack.
      expect(envKeys(pg)).toEqual(["FERRY_SOURCE_HEROKU_ADDON", "FERRY_SOURCE_HEROKU_APP", "FERRY_TARGET_URL", "HEROKU_API_KEY"]);
      expect(plain(pg.inputs.environment)).toMatchObject({ FERRY_SOURCE_HEROKU_APP: "masto-web", FERRY_SOURCE_HEROKU_ADDON: "postgresql-curved-12345" });
      const redis = findCommand(b, /redis replicate/)!;
      expect(envKeys(redis)).toEqual(["FERRY_SOURCE_REDIS_HEROKU_ADDON", "FERRY_SOURCE_REDIS_HEROKU_APP", "FERRY_TARGET_REDIS_URL", "HEROKU_API_KEY"]);
      expect(plain(redis.inputs.environment)).toMatchObject({ FERRY_SOURCE_REDIS_HEROKU_APP: "masto-web", FERRY_SOURCE_REDIS_HEROKU_ADDON: "redis-rigid-67890" });
      for (const step of commands(b).filter((c) => /ferry --json (pg|redis) /.test(commandLine(c)))) {
        expect(JSON.stringify(plain(step.inputs.environment)), step.name).not.toMatch(/pgpass-SECRET|redispass-SECRET/);
      }
    } else {
      expect(envKeys(pg)).toEqual(["FERRY_SOURCE_URL", "FERRY_TARGET_URL"]);
    }
    expect(b.options.get(pg.name)!.dependsOnNames).toContain(`${b.name}-replicate-pg-preflight`);
    // The trigger identifies the source without its password.
    expect(plain(pg.inputs.triggers)).toContain("postgres://app@source.example.net:5432/app");
    expect(commandLine(findCommand(b, /redis replicate/)!)).toBe(heroku ? "ferry --json redis replicate --strategy copy --tls-insecure" : "ferry --json redis replicate --strategy replicaof");
    // Both examples run their steps on the EC2 runner (the stores are private).
    expect(commands(b).filter((c) => !isGuard(c)).every((c) => c.type === "command:remote:Command")).toBe(true);
    expect(ofType(b, "cloudflare:index/loadBalancer:LoadBalancer")).toEqual([]);
  });

  it("proxy: traffic moves behind a health gate, split by weight at Cloudflare", async () => {
    const b = built.proxy!;
    const gate = findCommand(b, /ferry --json health/)!;
    const lbDns = `${b.name}-ingress-alb-123.us-east-1.elb.amazonaws.com`;
    expect(commandLine(gate)).toContain(`--url http://${lbDns}/health`);
    const [site, streaming] = heroku ? ["staging.social.example.com", "streaming.staging.social.example.com"] : ["famichiki.example", "streaming.famichiki.example"];
    const side = heroku ? "heroku" : "box";
    const lbs = ofType(b, "cloudflare:index/loadBalancer:LoadBalancer");
    expect(lbs.map((l) => l.inputs.name).sort()).toEqual([site, streaming]);
    for (const lb of lbs) {
      expect(lb.inputs.steeringPolicy).toBe("random");
      const weights = (lb.inputs.randomSteering as { poolWeights: Record<string, number> }).poolWeights;
      const [sourcePool, awsPool] = lb.inputs.defaultPools as string[];
      expect(weights).toEqual({ [sourcePool]: 0.7, [awsPool]: 0.3 });
      expect(sourcePool).toMatch(new RegExp(`-${side}-id$`));
      expect(lb.inputs.fallbackPool).toBe(sourcePool);
      expect(b.options.get(lb.name)!.dependsOnNames).toContain(gate.name);
    }
    // Each hostname's monitors probe its own process's health path with its own Host, on
    // both sides (streaming answers /api/v1/streaming/health, not the web's /health).
    const monitors = ofType(b, "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor");
    for (const [i, host, path] of [[0, site, "/health"], [1, streaming, "/api/v1/streaming/health"]] as const) {
      for (const s of [side, "aws"]) {
        expect(monitors.find((m) => m.name.endsWith(`-lb-${i}-${s}`))!.inputs).toMatchObject({ path, header: { Host: [host] } });
      }
    }
    const pools = ofType(b, "cloudflare:index/loadBalancerPool:LoadBalancerPool");
    expect(pools.find((p) => p.name.endsWith("-0-aws"))!.inputs.origins).toMatchObject([{ address: lbDns, header: { hosts: [site] } }]);
    const poolName = (host: string, s: string) => `ferry-${host.replace(/\./g, "_")}-${s}`;
    expect(pools.map((p) => p.inputs.name).sort()).toEqual([poolName(site, "aws"), poolName(site, side), poolName(streaming, "aws"), poolName(streaming, side)]);
    if (!heroku) {
      // The box's pool is the box itself, over its site's TLS; it keeps serving its share, no forward yet.
      expect(pools.find((p) => p.name.endsWith("-0-box"))!.inputs.origins).toMatchObject([{ address: "203.0.113.20", header: { hosts: [site] } }]);
      const boxMonitor = ofType(b, "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor").find((m) => m.name.endsWith("-0-box"))!;
      expect(boxMonitor.inputs).toMatchObject({ type: "https", port: 443 });
      expect(findCommand(b, /proxy apply/)).toBeUndefined();
    }
    // The load balancer shadows the adopted records, which stay as they are live.
    expect(liveRecords(b)).toEqual(heroku ? HEROKU_LIVE : VULTR_LIVE);
  });

  if (!heroku) {
    it("proxy at 100%: the box's old nginx forwards everything and the split goes", async () => {
      const b = await build(stack, upTo("proxy", { trafficPercent: 100 }), "proxy-100");
      checkInvariants(b);
      const lbDns = `${b.name}-ingress-alb-123.us-east-1.elb.amazonaws.com`;
      expect(ofType(b, "cloudflare:index/loadBalancer:LoadBalancer")).toEqual([]);
      const nginx = findCommand(b, /proxy apply/)!;
      // The site's own file is replaced, on every address it served (443 with its certificate), and the ALB is reached over verified TLS.
      expect(commandLine(nginx)).toBe(
        `ferry --json proxy apply --host root@203.0.113.20:22 --ssh-key-env FERRY_SSH_KEY --host-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFamichikiBoxHostKeyExampleOnlyForDocs0' --conf-file /etc/nginx/sites-enabled/mastodon --origin https://${lbDns} ` +
        "--origin-server-name famichiki.example --server-name 'famichiki.example streaming.famichiki.example' --listen 80 --listen '[::]:80' --ssl-listen 443 --ssl-listen '[::]:443' " +
        "--ssl-certificate /etc/letsencrypt/live/famichiki.example/fullchain.pem --ssl-certificate-key /etc/letsencrypt/live/famichiki.example/privkey.pem",
      );
      expect(commandLine(nginx)).not.toContain("--allow-plaintext-origin");
      expect(plain(nginx.inputs.delete)).toBe("ferry --json proxy revert --host root@203.0.113.20:22 --ssh-key-env FERRY_SSH_KEY --host-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFamichikiBoxHostKeyExampleOnlyForDocs0' --conf-file /etc/nginx/sites-enabled/mastodon");
      expect(envKeys(nginx)).toEqual(["FERRY_SSH_KEY"]);
      for (const r of hostRecords(b)) expect(r.inputs.content).toBe("203.0.113.20");
      expect(b.outputs.nextStep).toMatch(/ferry:cutover true/);
    });
  }

  if (!heroku) {
    it("every SSH to the box runs on the runner and trusts exactly ferry:source.ssh.hostKey (a Command's own connection checks no host key)", () => {
      const source = parseConfig(stackConfig("prod")).source;
      const hostKey = source.kind === "vultr" ? source.ssh.hostKey : "";
      for (const stage of ["proxy", "cutover"] as const) {
        const b = built[stage]!;
        // No Command connects to the box itself.
        const toBox = commands(b).filter((c) => (plain(c.inputs.connection) as { host?: string } | undefined)?.host === "203.0.113.20");
        expect(toBox.map((c) => c.name)).toEqual([]);
        const overSsh = commands(b).flatMap((c) => [commandLine(c), String(plain(c.inputs.delete) ?? "")]).filter((l) => l.includes("--host root@203.0.113.20"));
        expect(overSsh.length).toBeGreaterThan(0);
        for (const line of overSsh) expect(line).toContain(`--host-key '${hostKey}'`);
      }
      // The cutover stops the box's units through the runner; its delete starts them again.
      const units = findCommand(built.cutover!, /ferry --json box units stop/)!;
      expect(plain(units.inputs.delete)).toMatch(/^ferry --json box units start --host root@203\.0\.113\.20:22 .*--unit mastodon-web/);
    });
  }

  it("cutover: DNS points at AWS only now, after every data-plane gate", () => {
    const b = built.cutover!;
    const lbDns = `${b.name}-ingress-alb-123.us-east-1.elb.amazonaws.com`;
    const records = hostRecords(b);
    expect(records.length).toBe(2);
    // Both stores move: one `ferry cutover` (-data) for the two; Redis's step gates on it.
    const gates = [`${b.name}-cutover-stores`, `${b.name}-cutover-pg-verify`, `${b.name}-cutover-redis`];
    for (const r of records) {
      // The adopted record itself, updated in place: never a second record under its name.
      expect(r.inputs).toMatchObject({ type: "CNAME", content: lbDns, proxied: true, ttl: 1, comment: "ferry: cut over to AWS" });
      expect(b.options.get(r.name)).toMatchObject({ import: expect.stringMatching(/^[0-9a-f]{32}\/[0-9a-f]{32}$/), retainOnDelete: true });
      expect(b.options.get(r.name)!.deleteBeforeReplace).toBeUndefined();
      expect(b.options.get(r.name)!.dependsOnNames).toEqual(expect.arrayContaining(gates));
    }
    expect(findCommand(b, /pg cutover|redis cutover|redis drain/)).toBeUndefined();
    const pg = findCommand(b, /ferry --json cutover/)!;
    // The example's pooler: every replica paused before the fences and repointed at the
    // targets, its Redis proxy too (the app's REDIS_URL names it).
    const pooler = `--pooler https://pooler-0.${b.name}.pooler.internal:6433 --pooler https://pooler-1.${b.name}.pooler.internal:6433 --pooler-timeout 10 --pooler-redis`;
    expect(commandLine(pg)).toBe(heroku
      ? `ferry --json cutover --strategy capture --strategy copy --fence dynos-stopped --max-lag-bytes 204800 --timeout 300 --provider-superusers --tls-insecure ${pooler}`
      : `ferry --json cutover --strategy logical --strategy replicaof --max-lag-bytes 204800 --timeout 300 ${pooler}`);
    expect(pg.name).toBe(`${b.name}-cutover-stores`);
    const poolerEnv = ["FERRY_POOLER_ADMIN_PASSWORD", "FERRY_POOLER_CA", "FERRY_POOLER_REDIS_TARGET_URL", "FERRY_POOLER_TARGET_URL"];
    expect(envKeys(pg)).toEqual(heroku
      ? [...poolerEnv, "FERRY_SOURCE_HEROKU_ADDON", "FERRY_SOURCE_HEROKU_APP", "FERRY_SOURCE_REDIS_HEROKU_ADDON", "FERRY_SOURCE_REDIS_HEROKU_APP", "FERRY_TARGET_REDIS_URL", "FERRY_TARGET_URL", "HEROKU_API_KEY"]
      : [...poolerEnv, "FERRY_SOURCE_REDIS_URL", "FERRY_SOURCE_URL", "FERRY_TARGET_REDIS_URL", "FERRY_TARGET_URL"]);
    // The rollbacks stay the per-store ones, Redis's first (its step depends on the combined one).
    expect(plain(pg.inputs.delete)).toBe(`ferry --json pg rollback --strategy ${heroku ? "capture" : "logical"}`);
    const redisGate = findCommand(b, /redis status --require-cutover/)!;
    expect(redisGate.name).toBe(`${b.name}-cutover-redis`);
    expect(plain(redisGate.inputs.delete)).toBe(`ferry --json redis rollback${heroku ? " --tls-insecure" : ""}`);
    expect(b.options.get(redisGate.name)!.dependsOnNames).toContain(pg.name);
    // A stack that cut Postgres over on its own first keeps that step (no rollback runs).
    expect(b.options.get(pg.name)!.aliases).toEqual([{ name: `${b.name}-cutover-pg` }]);
    // The app's environment switches only after the gates pass.
    const env = ofType(b, "aws:secretsmanager/secretVersion:SecretVersion").find((p) => p.name === `${b.name}-app-config`)!;
    expect(b.options.get(env.name)!.dependsOnNames).toEqual(expect.arrayContaining(gates));
    const vars = JSON.parse(String(plain(env.inputs.secretString)));
    // Through the pooler at every stage: the same variables, every replica in libpq's PGHOST.
    expect(vars.DATABASE_URL).toMatch(/^postgresql:\/\/\/[^?]+\?user=app&sslmode=verify-full&sslrootcert=/);
    expect(vars.PGHOST).toBe(`pooler-0.${b.name}.pooler.internal,pooler-1.${b.name}.pooler.internal`);
    expect(vars.PGPORT).toBe("6432");
    expect(vars.FERRY_BUCKET).toBe(`${b.name}-storage-bucket-bucket-1234`);
    expect(ofType(b, "cloudflare:index/loadBalancer:LoadBalancer")).toEqual([]);
    if (heroku) {
      const maintenance = findCommand(b, /maintenance on --app masto-web/)!;
      expect(plain(maintenance.inputs.delete)).toBe("ferry --json heroku maintenance off --app masto-web");
      // Heroku Postgres owns DATABASE_URL: the repoint moves its attachment instead of a 422.
      const repoint = findCommand(b, /heroku repoint --app masto-web --var DATABASE_URL --from-env FERRY_TARGET_URL/)!;
      // The way back reads the add-on's value as it is then (rotated or not), never a stored copy.
      expect(plain(repoint.inputs.delete)).toBe("ferry --json heroku repoint --app masto-web --var DATABASE_URL --to-addon postgresql-curved-12345");
      expect(envKeys(repoint)).toEqual(["FERRY_TARGET_URL", "HEROKU_API_KEY"]);
      const redisRepoint = findCommand(b, /heroku repoint --app masto-web --var REDIS_URL --from-env FERRY_TARGET_REDIS_URL/)!;
      expect(plain(redisRepoint.inputs.delete)).toBe("ferry --json heroku repoint --app masto-web --var REDIS_URL --to-addon redis-rigid-67890");
      expect(stepDeps(b, `${b.name}-cutover-pg-verify`)).toEqual([pg.name]);
      expect(stepDeps(b, repoint.name)).toEqual([`${b.name}-cutover-pg-verify`]);
      // Redis's repoint follows the combined step itself (its success means Redis is open), not the gate beside it.
      expect(stepDeps(b, `${b.name}-cutover-redis-config`)).toEqual([pg.name]);
    } else {
      expect(ofType(b, "aws:rds/instance:Instance")[0].inputs.deletionProtection).toBe(true);
      const redisBox = ofType(b, "aws:ec2/instance:Instance").find((i) => i.name.endsWith("-redis-redis"))!;
      expect(redisBox.inputs.disableApiTermination).toBe(true);
      const before = ofType(built.provision!, "aws:ec2/instance:Instance").find((i) => i.name.endsWith("-redis-redis"))!;
      expect(before.inputs.disableApiTermination).toBe(false);
    }
  });

  it("scheduled jobs run on one side: the schedules stay DISABLED until the cutover switches the source's jobs off, then run after that switch", () => {
    const schedules = (b: Built) => ofType(b, "aws:scheduler/schedule:Schedule");
    for (const stage of ["provision", "replicate", "proxy"] as const) {
      const b = built[stage]!;
      expect(schedules(b).length, stage).toBeGreaterThan(0);
      expect(schedules(b).map((x) => x.inputs.state), stage).toEqual(schedules(b).map(() => "DISABLED"));
      expect(findCommand(b, heroku ? /heroku scheduler off/ : /box crontab off/), stage).toBeUndefined();
    }
    for (const stage of ["cutover", "decommission"] as const) {
      const b = built[stage]!;
      const off = heroku
        ? commands(b).filter((c) => /^ferry --json heroku scheduler off --app /.test(commandLine(c)))
        : commands(b).filter((c) => /^ferry --json box crontab off --host root@203\.0\.113\.20:22 --ssh-key-env FERRY_SSH_KEY --host-key .+ --user mastodon /.test(commandLine(c)));
      expect(off.map((c) => c.name).sort(), stage).toEqual(heroku ? [`${b.name}-cutover-scheduler-masto-streaming`, `${b.name}-cutover-scheduler-masto-web`] : [`${b.name}-cutover-crontab`]);
      for (const x of schedules(b)) {
        expect(x.inputs.state, `${stage} ${x.name}`).toBe("ENABLED");
        expect(b.options.get(x.name)!.dependsOnNames, x.name).toEqual(expect.arrayContaining(off.map((c) => c.name)));
      }
      if (heroku) {
        // The way back provisions the add-on again and lists masto-web's declared jobs to enter again.
        const web = off.find((c) => c.name.endsWith("masto-web"))!;
        expect(plain(web.inputs.delete)).toBe("ferry --json heroku scheduler on --app masto-web --from-env PULUMI_COMMAND_STDOUT --job 'daily at 03:30, standard-1X: bin/tootctl media remove --days 7' --job 'every 10 minutes, standard-1X: bin/rails mastodon:refresh_trends'");
      } else {
        expect(plain(off[0].inputs.create)).toBe("ferry --json box crontab off --host root@203.0.113.20:22 --ssh-key-env FERRY_SSH_KEY --host-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFamichikiBoxHostKeyExampleOnlyForDocs0' --user mastodon --declared 'bin/tootctl media remove --days 7' --declared 'bin/tootctl preview_cards remove --days 30'");
        expect(plain(off[0].inputs.delete)).toBe("ferry --json box crontab on --host root@203.0.113.20:22 --ssh-key-env FERRY_SSH_KEY --host-key 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFamichikiBoxHostKeyExampleOnlyForDocs0' --user mastodon");
      }
    }
  });

  it("decommission: the source stops; its data stores are released only now", () => {
    const b = built.decommission!;
    if (heroku) {
      const scale = findCommand(b, /heroku scale --app masto-web/)!;
      expect(commandLine(scale)).toBe("ferry --json heroku scale --app masto-web web=0 worker=0");
      expect(plain(scale.inputs.delete)).toBe("ferry --json heroku scale --app masto-web web=2 worker=1");
      const addon = findCommand(b, /destroy-addon --app masto-web --addon postgresql-curved-12345/)!;
      // Released only behind the fence the gate found, and after the store's final backup.
      expect(stepDeps(b, addon.name)).toEqual([`${b.name}-decommission-postgres-cutover-done`, `${b.name}-decommission-postgres-backup`]);
      // Capture's triggers and change log go first, behind that fence: the backup holds the source as the app left it.
      const cleanup = findCommand(b, /pg cleanup/)!;
      expect(cleanup.name).toBe(`${b.name}-decommission-pg-cleanup`);
      expect(commandLine(cleanup)).toBe("ferry --json pg cleanup");
      expect(envKeys(cleanup)).toEqual(["FERRY_SOURCE_HEROKU_ADDON", "FERRY_SOURCE_HEROKU_APP", "FERRY_TARGET_URL", "HEROKU_API_KEY"]);
      expect(stepDeps(b, cleanup.name)).toEqual([`${b.name}-decommission-postgres-cutover-done`]);
      expect(stepDeps(b, `${b.name}-decommission-postgres-backup`)).toEqual([`${b.name}-decommission-postgres-cutover-done`, cleanup.name]);
      // Exactly the configured add-ons are released, nothing else Heroku lists (papertrail).
      expect(commands(b).filter((c) => /destroy-addon/.test(commandLine(c))).map(commandLine).sort()).toEqual([
        "ferry --json heroku destroy-addon --app masto-web --addon postgresql-curved-12345 --confirm masto-web",
        "ferry --json heroku destroy-addon --app masto-web --addon redis-rigid-67890 --confirm masto-web",
      ]);
    } else {
      expect(findCommand(b, /pg cleanup/)).toBeDefined();
      // The units stay stopped, through the runner (its connection is the runner's, not the box's).
      const units = findCommand(b, /box units stop/)!;
      expect((plain(units.inputs.connection) as { user: string }).user).toBe("admin");
      expect(commandLine(units)).toMatch(/^ferry --json box units stop --host root@203\.0\.113\.20:22 --ssh-key-env FERRY_SSH_KEY --host-key '[^']+' --unit mastodon-web --unit mastodon-sidekiq --unit mastodon-streaming$/);
      expect(plain(units.inputs.delete)).toMatch(/^ferry --json box units start .* --unit mastodon-web --unit mastodon-sidekiq --unit mastodon-streaming$/);
      expect(envKeys(units)).toEqual(["FERRY_SSH_KEY"]);
      // The old nginx keeps forwarding: clients that still resolve to the old box are served.
      expect(findCommand(b, /proxy apply/)).toBeDefined();
    }
  });

  it(`the Heroku source component ${heroku ? "reads each app at every stage and changes nothing" : "does not exist"}`, () => {
    for (const stage of STAGES) {
      const b = built[stage]!;
      const component = ofType(b, "ferry:source:HerokuSource");
      const reads = sourceReads(b);
      if (!heroku) {
        expect(component).toEqual([]);
        expect(reads).toEqual([]);
        expect(commands(b).filter((c) => /heroku (addons|domains) --app/.test(commandLine(c)))).toEqual([]);
        continue;
      }
      expect(component.map((c) => c.name)).toEqual([`${b.name}-heroku`]);
      expect(reads.map((r) => [r.name, commandLine(r)]).sort()).toEqual([
        [`${b.name}-heroku-masto-streaming-addons`, "ferry --json heroku addons --app masto-streaming"],
        [`${b.name}-heroku-masto-streaming-domains`, "ferry --json heroku domains --app masto-streaming"],
        [`${b.name}-heroku-masto-web-addons`, "ferry --json heroku addons --app masto-web"],
        [`${b.name}-heroku-masto-web-domains`, "ferry --json heroku domains --app masto-web"],
      ]);
      for (const r of reads) {
        expect(r.inputs.delete, r.name).toBeUndefined();
        expect(plain(r.inputs.triggers), r.name).toEqual([commandLine(r).split(" --app ")[1]]);
        expect(commandLine(r)).not.toContain(SECRET_MARK);
        expect(envKeys(r)).toEqual(["HEROKU_API_KEY"]);
        const env = r.inputs.environment as Record<string, unknown>;
        expect(isSecretValue(env) || isSecretValue(env.HEROKU_API_KEY), r.name).toBe(true);
        expect(plain(env)).toEqual({ HEROKU_API_KEY: "heroku-key-SECRET-0002" });
      }
    }
  });

  if (heroku) {
    it("the Heroku inventory is a plain output, and the proxy reaches each app at the domain Heroku lists", async () => {
      const { outputs } = built.provision!;
      expect(await pulumi.isSecret(outputs.source!)).toBe(false);
      const inventory = await outputValue(outputs.source!);
      expect(inventory.map((a) => [a.app, a.addons.map((x) => x.name), a.domains.filter((d) => d.kind === "custom").map((d) => [d.hostname, d.cname])])).toEqual([
        ["masto-web", ["postgresql-curved-12345", "redis-rigid-67890", "papertrail-flat-11111"], [["staging.social.example.com", "tall-owl-0a1b2c.herokudns.com"]]],
        ["masto-streaming", [], [["streaming.staging.social.example.com", "quiet-elk-3d4e5f.herokudns.com"]]],
      ]);
      const pools = ofType(built.proxy!, "cloudflare:index/loadBalancerPool:LoadBalancerPool").filter((p) => p.name.endsWith("-heroku"));
      expect(pools.map((p) => (p.inputs.origins as { address: string }[])[0].address).sort()).toEqual([
        "masto-streaming-5f0c2b1a9d3e.herokuapp.com",
        "masto-web.herokuapp.com",
      ]);
    });
    it("has no trial copy to export with capture: only a dump makes one", () => {
      expect(built.replicate!.outputs.postgresTrialCopy).toBeUndefined();
    });

    it("dump (Heroku's default): a trial copy without --until-caught-up, its figures exported plain from replicate on for the plan's write window", async () => {
      const asDump = (raw: Record<string, string>) => {
        const source = JSON.parse(raw["ferry:source"]);
        source.postgres.strategy = "dump";
        return { ...raw, "ferry:source": JSON.stringify(source) };
      };
      expect((await build(stack, flagsFor("provision"), "dump-provision", asDump)).outputs.postgresTrialCopy).toBeUndefined();
      const b = await build(stack, flagsFor("replicate"), "dump-replicate", asDump);
      expect(commandLine(findCommand(b, /pg replicate/)!)).toBe("ferry --json pg replicate --strategy dump");
      const trial = b.outputs.postgresTrialCopy!;
      expect(await pulumi.isSecret(trial)).toBe(false);
      expect(await outputValue(trial)).toEqual({ ms: FAKE_TRIAL.durationMs, bytes: FAKE_TRIAL.bytes, tables: FAKE_TRIAL.tables, rows: FAKE_TRIAL.rows });
      // A dump leaves nothing on the source: decommission backs it up behind the fence with no cleanup first.
      const gone = await build(stack, flagsFor("decommission"), "dump-decommission", asDump);
      expect(findCommand(gone, /pg cleanup/)).toBeUndefined();
      expect(stepDeps(gone, `${gone.name}-decommission-postgres-backup`)).toEqual([`${gone.name}-decommission-postgres-cutover-done`]);
    }, 180_000);
  } else {
    it("has no trial copy to export: logical replication has none", () => {
      expect(built.replicate!.outputs.postgresTrialCopy).toBeUndefined();
    });

    it("has no Heroku inventory", () => {
      expect(built.provision!.outputs.source).toBeUndefined();
    });
  }

  if (!heroku) {
    it("the Vultr box is only read (Pulumi never deletes a read), with no option the engine would drop", () => {
      for (const stage of ["provision", "cutover", "decommission"] as const) {
        const b = built[stage]!;
        const box = ofType(b, "vultr:index/instance:Instance")[0];
        expect(box.id).toBe("8f3e1c2a-1b2c-4d5e-8f90-123456789abc");
        expect(b.options.get(box.name)!.id).toBe(box.id);
        expect(b.options.get(box.name)!.protect).toBeUndefined();
      }
    });
  }

  it("outputs: credentials stay secret, the plan is plain", async () => {
    const { outputs } = built.proxy!;
    expect(await pulumi.isSecret(outputs.postgresUrl)).toBe(true);
    expect(await pulumi.isSecret(outputs.redisUrl)).toBe(true);
    expect(await pulumi.isSecret(outputs.endpoints.postgresHost)).toBe(false);
    expect(await outputValue(outputs.postgresUrl)).toMatch(/^postgres:\/\/app:targetpg-SECRET-0006xx@.*sslmode=require$/);
    expect(outputs.activeStages).toEqual(["provision", "replicate", "proxy"]);
    expect(outputs.nextStep).toMatch(/AWS receives 30% of requests/);
  });
});

describe("lowering a flag is the rollback", () => {
  it("heroku: cutover -> proxy puts the records back as they were live and brings the weighted split back", async () => {
    const back = await build("staging", upTo("proxy", { trafficPercent: 0 }), "rollback");
    expect(liveRecords(back)).toEqual(HEROKU_LIVE);
    for (const lb of ofType(back, "cloudflare:index/loadBalancer:LoadBalancer")) {
      const [herokuPool, awsPool] = lb.inputs.defaultPools as string[];
      expect((lb.inputs.randomSteering as { poolWeights: object }).poolWeights).toEqual({ [herokuPool]: 1, [awsPool]: 0 });
    }
    expect(findCommand(back, /pg cutover|maintenance on/)).toBeUndefined();
  });

  it("vultr: cutover -> replicate restores the adopted records and reverts the old nginx", async () => {
    const back = await build("prod", upTo("replicate"), "rollback");
    expect(liveRecords(back)).toEqual(VULTR_LIVE);
    for (const r of hostRecords(back)) {
      expect(back.options.get(r.name)).toMatchObject({ retainOnDelete: true });
      expect(back.options.get(r.name)!.deleteBeforeReplace).toBeUndefined();
    }
    expect(findCommand(back, /proxy apply/)).toBeUndefined();
  });

  it("postgres first: the app keeps its source Redis while Postgres is at the target", async () => {
    // Without the example's pooler: Postgres alone moves by its own command (with the pooler it is `ferry cutover`: tests/components/pooler.test.ts).
    const withoutPooler = (raw: Record<string, string>) => {
      const target = JSON.parse(raw["ferry:target"]);
      delete target.pooler;
      return { ...raw, "ferry:target": JSON.stringify(target) };
    };
    const b = await build("staging", { ...upTo("cutover", { trafficPercent: 100 }), hold: { redis: "replicate", app: "proxy" } }, "pg-first", withoutPooler);
    // One store moves: its own command, not the combined one.
    expect(commandLine(findCommand(b, /pg cutover/)!)).toBe("ferry --json pg cutover --strategy capture --max-lag-bytes 204800 --timeout 300 --provider-superusers");
    expect(findCommand(b, /pg cutover/)!.name).toBe(`${b.name}-cutover-pg`);
    expect(findCommand(b, /redis cutover|ferry --json cutover|redis status --require-cutover/)).toBeUndefined();
    expect(liveRecords(b)).toEqual(HEROKU_LIVE);
    const env = JSON.parse(String(plain(ofType(b, "aws:secretsmanager/secretVersion:SecretVersion").find((p) => p.name === `${b.name}-app-config`)!.inputs.secretString)));
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\/app:targetpg-/);
    expect(env.REDIS_URL).toMatch(/^rediss:\/\/:redispass-SECRET-0004@source\.example\.net/);
  });
});

describe("the app sees its users' addresses behind Cloudflare and the load balancer", () => {
  /** The stack with ferry:target.compute.trustedProxyVar set, as a Mastodon admin would. */
  const trusting = (raw: Record<string, string>) => {
    const target = JSON.parse(raw["ferry:target"]);
    target.compute.trustedProxyVar = "TRUSTED_PROXY_IP";
    return { ...raw, "ferry:target": JSON.stringify(target) };
  };
  const configVars = (b: Built) => JSON.parse(String(plain(ofType(b, "aws:secretsmanager/secretVersion:SecretVersion").find((p) => p.name === `${b.name}-app-config`)!.inputs.secretString)));
  const appContainers = (b: Built) => ofType(b, "aws:ecs/taskDefinition:TaskDefinition")
    .flatMap((td) => (JSON.parse(String(plain(td.inputs.containerDefinitions))) as { name: string; environment?: { name: string }[]; secrets: { name: string }[] }[]).filter((c) => c.name === "app"));

  it.each(["staging", "prod"] as const)("%s: the named variable holds the VPC's range and Cloudflare's, reaches every app container as a secret, and the source's own copy of it is left out", async (stack) => {
    const b = await build(stack, upTo("provision"), "trusted-proxies", trusting);
    // The harness's getIpRanges answers 173.245.48.0/20 and 103.21.244.0/22; the examples' VPC is ferry:target.vpcCidr's default;
    // the box (prod) forwards to AWS while traffic is split, so its address is a hop too.
    const box = stack === "prod" ? ["203.0.113.20/32"] : []; // the harness's Vultr instance mainIp
    expect(configVars(b).TRUSTED_PROXY_IP).toBe(["10.60.0.0/16", ...box, "173.245.48.0/20", "103.21.244.0/22"].join(","));
    const containers = appContainers(b);
    expect(containers.length).toBeGreaterThan(0);
    for (const c of containers) {
      expect(c.secrets.map((s) => s.name)).toContain("TRUSTED_PROXY_IP");
      expect((c.environment ?? []).map((e) => e.name)).not.toContain("TRUSTED_PROXY_IP");
    }
    // A value the app already had on the source would otherwise arrive twice, once stale.
    const copy = findCommand(b, / config copy /)!;
    expect(commandLine(copy)).toMatch(/--exclude (\S+,)?TRUSTED_PROXY_IP\b/);
  });

  it("without the setting, no such variable exists (the example stacks do not set it)", async () => {
    const b = await build("staging", upTo("provision"), "no-trusted-proxies");
    expect(Object.keys(configVars(b))).not.toContain("TRUSTED_PROXY_IP");
  });
});

describe("a box's app staying while both stores move (issue 31)", () => {
  it("its env file is rewritten by one step after the other (both rewrite the same file), each after the store's cutover", async () => {
    const access = { kind: "box", postgresCaFile: "/etc/ssl/rds-global-bundle.pem", envFile: "/home/mastodon/live/.env.production" };
    const withAccess = (raw: Record<string, string>) => ({ ...raw, "ferry:source": JSON.stringify({ ...JSON.parse(raw["ferry:source"]), access }) });
    const b = await build("prod", { ...upTo("cutover", { trafficPercent: 0 }), hold: { app: "provision" } }, "box-stays", withAccess);
    const pgEnv = `${b.name}-cutover-pg-env`;
    const redisEnv = `${b.name}-cutover-redis-env`;
    expect(b.options.get(pgEnv)!.dependsOnNames).toContain(`${b.name}-cutover-pg-verify`);
    expect(b.options.get(redisEnv)!.dependsOnNames).toEqual(expect.arrayContaining([`${b.name}-cutover-stores`, pgEnv]));
    // The URLs it writes travel as secrets in the environment, never in the command line.
    const redisStep = commands(b).find((c) => c.name === redisEnv)!;
    expect(commandLine(redisStep)).toMatch(/^ferry --json box repoint .* --var REDIS_URL --from-env FERRY_TARGET_REDIS_URL --unit /);
    expect(commandLine(redisStep)).not.toContain(SECRET_MARK);
    const env = redisStep.inputs.environment as Record<string, unknown>;
    if (!isSecretValue(env)) for (const value of Object.values(env)) expect(isSecretValue(value)).toBe(true);
  });
});

afterAll(() => {
  // The resource count per stage of each example stack (custom resources and providers).
  console.log(`resource counts: ${JSON.stringify(counts)}`);
});
