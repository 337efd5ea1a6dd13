// The stand-ins between Cloudflare and the load balancer refuse what the real services
// refuse: the edge reaches an origin only as its SSL/TLS mode allows (522, 525, 526 as
// Cloudflare answers), a Configuration Rule overrides the zone's mode for its hostnames,
// and monitors expect what was declared; ACM issues a certificate only once its
// validation CNAMEs answer, and the load balancer takes only an issued certificate.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { freePort } from "../../../rehearsal/servers";
import { startCa, PrivateCa } from "../../../rehearsal/stack/standins/ca";
import { expectedCode, expressionHosts, reachOrigin } from "../../../rehearsal/stack/standins/edge";
import { Cloud, CloudContext } from "../../../rehearsal/stack/standins/cloud";
import type { Goal } from "../../../rehearsal/stack/engine";
import { hostsExpression } from "../../../migrations/edge-tls";

let ca: PrivateCa;
let other: PrivateCa;
const servers: Server[] = [];
let plainPort: number;
let tlsPort: number;
let otherCaPort: number;

async function listen(server: Server): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  servers.push(server);
  return port;
}

beforeAll(async () => {
  ca = await startCa();
  other = await startCa();
  plainPort = await listen(createHttpServer((_, res) => res.end("plain")));
  const good = await ca.issue("origin", ["site.example.com"]);
  tlsPort = await listen(createHttpsServer({ cert: readFileSync(good.cert), key: readFileSync(good.key) }, (_, res) => res.end("tls")));
  const foreign = await other.issue("origin", ["site.example.com"]);
  otherCaPort = await listen(createHttpsServer({ cert: readFileSync(foreign.cert), key: readFileSync(foreign.key) }, (_, res) => res.end("tls")));
}, 60_000);

afterAll(() => {
  for (const s of servers) s.close();
});

describe("the edge reaches an origin as the SSL/TLS mode says", () => {
  const strict = (serverName = "site.example.com") => ({ serverName, ca: ca.file, verify: true });

  it("Full (strict) to an origin that serves only plaintext: 525, the TLS handshake fails; to a port with no listener: 522", async () => {
    expect(await reachOrigin("127.0.0.1", plainPort, strict())).toMatchObject({ code: 525 });
    expect(await reachOrigin("127.0.0.1", await freePort(), strict())).toMatchObject({ code: 522 });
  });

  it("Full (strict) checks the certificate for the hostname against a CA it trusts (526 otherwise); Full does not check", async () => {
    expect(await reachOrigin("127.0.0.1", tlsPort, strict())).toBeUndefined();
    expect(await reachOrigin("127.0.0.1", tlsPort, strict("other.example.com"))).toMatchObject({ code: 526 });
    expect(await reachOrigin("127.0.0.1", otherCaPort, strict())).toMatchObject({ code: 526 });
    expect(await reachOrigin("127.0.0.1", otherCaPort, { ...strict(), verify: false })).toBeUndefined();
  });

  it("Flexible reaches port 80 over plain HTTP", async () => {
    expect(await reachOrigin("127.0.0.1", plainPort)).toBeUndefined();
  });

  it("reads the hostnames of the Configuration Rule the program declares, and monitors' expected codes", () => {
    expect(expressionHosts(hostsExpression(["a.example.com", "streaming.a.example.com"]))).toEqual(["a.example.com", "streaming.a.example.com"]);
    expect(expressionHosts('(http.host eq "x.example.com")')).toEqual(["x.example.com"]);
    expect([expectedCode("2xx", 204), expectedCode("2xx", 404), expectedCode("200,301", 301)]).toEqual([true, false, true]);
  });
});

describe("ACM and the load balancer's listener", () => {
  const goal = (type: string, name: string, inputs: Record<string, unknown>): Goal =>
    ({ urn: `urn:${type}:${name}`, type, name, custom: true, inputs, raw: inputs, dependencies: [], deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [] });
  /** What DNS answers in the zone: the records a test puts there. */
  const zone = new Map<string, { type: string; content: string }>();
  const cloud = () => new Cloud({ region: "us-east-1", log: () => undefined, edge: { answer: (n: string) => zone.get(n) }, hostnames: ["site.example.com"] } as unknown as CloudContext);

  it("a certificate stays PENDING_VALIDATION until its CNAME answers; an HTTPS listener refuses it until then, and takes it once issued", async () => {
    const c = cloud();
    const cert = await c.create(goal("aws:acm/certificate:Certificate", "cert", { domainName: "site.example.com", subjectAlternativeNames: [], validationMethod: "DNS" }));
    const [option] = cert.outputs.domainValidationOptions as { resourceRecordName: string; resourceRecordValue: string }[];
    expect(option.resourceRecordName).toMatch(/^_[0-9a-f]{32}\.site\.example\.com\.$/);
    const listener = goal("aws:lb/listener:Listener", "listener", { protocol: "HTTPS", port: 443, certificateArn: cert.id, loadBalancerArn: "alb" });
    await expect(c.create(listener)).rejects.toThrow(/UnsupportedCertificate: The certificate '.*' is not issued \(PENDING_VALIDATION\)/);
    const validation = goal("aws:acm/certificateValidation:CertificateValidation", "validation", { certificateArn: cert.id });
    await expect(c.create(validation)).rejects.toThrow(/stays PENDING_VALIDATION: DNS answers nothing for _[0-9a-f]+\.site\.example\.com/);
    // A proxied record answers with Cloudflare's address, not the CNAME: still not issued.
    zone.set(option.resourceRecordName.replace(/\.$/, ""), { type: "A", content: "104.16.0.1" });
    await expect(c.create(validation)).rejects.toThrow(/DNS answers A 104\.16\.0\.1/);
    zone.set(option.resourceRecordName.replace(/\.$/, ""), { type: "CNAME", content: option.resourceRecordValue.replace(/\.$/, "") });
    await c.create(validation);
    await expect(c.create(listener)).resolves.toBeDefined();
  });

  it("a certificate of no one's: CertificateNotFound", async () => {
    const c = cloud();
    await expect(c.create(goal("aws:lb/listener:Listener", "l", { protocol: "HTTPS", port: 443, certificateArn: "arn:aws:acm:us-east-1:000000000000:certificate/nope", loadBalancerArn: "alb" }))).rejects.toThrow(/CertificateNotFound/);
  });
});
