// Cloudflare, as the rehearsal stands it in: the zone's DNS records and load balancers
// (the API's rules for them), and the edge that serves the user's hostnames from them.
// Clients resolve each hostname to the edge (proxied records), so a change of origin
// takes effect at the next config push, as it does at Cloudflare within seconds.
// - A load balancer hostname shadows a DNS record of the same name
//   (https://developers.cloudflare.com/load-balancing/load-balancers/dns-records/).
// - Random steering sends each request to a pool with probability weight/sum
//   (https://developers.cloudflare.com/load-balancing/understand-basics/traffic-steering/steering-policies/standard-options/).
// - A, AAAA and CNAME records of one name cannot coexist (API error 81053, "An A, AAAA,
//   or CNAME record with that host already exists"; https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/).
// - An import must declare inputs equal to the live record, or the engine refuses it
//   (https://www.pulumi.com/docs/iac/guides/migration/import/).
// - The SSL/TLS mode decides how the edge reaches an origin
//   (https://developers.cloudflare.com/ssl/origin-configuration/ssl-modes/): Off and Flexible
//   over HTTP to port 80; Full over HTTPS to 443 without checking the certificate; Full
//   (strict) over HTTPS to 443 with a certificate valid for the hostname. The zone's mode
//   applies unless a Configuration Rule (phase http_config_settings, set_config ssl) matches
//   the request (https://developers.cloudflare.com/rules/configuration-rules/settings/#ssl).
// - An origin the edge cannot reach answers the visitor with Cloudflare's 5xx: 522 when
//   the connection times out (an AWS security group drops what it does not allow),
//   525 when the TLS handshake fails, 526 when Full (strict) finds the certificate invalid
//   (https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/).
// - A load balancer's pools are health-checked by their monitors (type, port, path, Host
//   header and expected codes as declared; HTTPS monitors verify the certificate unless
//   allow_insecure): an unhealthy pool gets no traffic, and with every pool unhealthy the
//   fallback pool gets it all (https://developers.cloudflare.com/load-balancing/monitors/,
//   https://developers.cloudflare.com/load-balancing/understand-basics/health-details/).
//   Monitors probe every 60 s at Cloudflare; here every 2 s (a rehearsal time factor).
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { readFileSync } from "node:fs";
import type { LiveDnsRecord } from "../../../policy/providers";
import type { Goal, Realized, StoredResource } from "../engine";
import type { Hosts } from "../hosts";
import type { PrivateCa } from "./ca";
import { oneAtATime, ProxyHost, Upstream, VirtualServer } from "./proxies";

/** A record of the zone, as the providers' rules describe a live one (the zone is implicit here). */
export type LiveRecord = Omit<LiveDnsRecord, "zoneId">;

interface Pool {
  id: string;
  name: string;
  origins: Array<{ name: string; address: string; weight?: number; enabled?: boolean; header?: { hosts?: string[] } }>;
  monitor?: string;
}

interface Balancer {
  id: string;
  name: string;
  poolWeights: Record<string, number>;
  defaultPools: string[];
  fallbackPool?: string;
}

interface Monitor {
  type: string;
  port: number;
  method: string;
  path: string;
  host?: string;
  expectedCodes: string;
  allowInsecure: boolean;
  /** Probes tried again at once after one that got no answer, before the origin counts as down. */
  retries: number;
}

/** A Configuration Rule that sets the SSL/TLS mode for the requests its expression matches. */
interface SslRule {
  hosts: string[];
  ssl: SslMode;
}

export type SslMode = "off" | "flexible" | "full" | "strict";

/** What a monitor saw of a pool: healthy, or why not. */
export interface PoolHealth {
  pool: string;
  healthy: boolean;
  detail: string;
  at: number;
}

/** The hostnames a Configuration Rule's expression names: `http.host in {...}` or `http.host eq "..."`. */
export function expressionHosts(expression: string): string[] {
  const set = /http\.host\s+in\s+\{([^}]*)\}/.exec(expression);
  if (set) return [...set[1].matchAll(/"([^"]+)"/g)].map((m) => m[1].toLowerCase());
  return [...expression.matchAll(/http\.host\s+(?:eq|==)\s+"([^"]+)"/g)].map((m) => m[1].toLowerCase());
}

/** Whether a status code is one of a monitor's expected codes ("2xx", "200", "301,302"). */
export function expectedCode(expected: string, status: number): boolean {
  return expected.split(",").map((e) => e.trim()).some((e) => (/^\dxx$/i.test(e) ? Math.floor(status / 100) === Number(e[0]) : Number(e) === status));
}

export interface EdgeOptions {
  hosts: Hosts;
  ca: PrivateCa;
  /** The zone's records before the migration (the stack's adopted records). */
  records: LiveRecord[];
  /** Every hostname the stack serves: each resolves to the edge. */
  hostnames: string[];
  /** The zone's SSL/TLS mode (Configuration Rules may override it per hostname). */
  zoneSslMode: SslMode;
  /** Public addresses of the source (the box's IP in its A record) -> their stand-in address. */
  aliases: Record<string, string>;
  log(line: string): void;
}

/** Cloudflare ids are 32 hex characters; not secrets. */
const newId = () => randomUUID().replace(/-/g, "");

export class Edge {
  private readonly records = new Map<string, LiveRecord>();
  private readonly pools = new Map<string, Pool>();
  private readonly balancers = new Map<string, Balancer>();
  private readonly monitors = new Map<string, Monitor>();
  private readonly sslRules = new Map<string, SslRule[]>();
  /** Pool id -> what its monitor saw last; `history` keeps every change, for the report. */
  private readonly health = new Map<string, PoolHealth>();
  readonly history: PoolHealth[] = [];
  private probing?: NodeJS.Timeout;
  private proxy?: ProxyHost;
  private readonly described = new Map<string, string>();
  private rendered = "";
  address = "";

  constructor(private readonly opts: EdgeOptions) {
    for (const r of opts.records) this.records.set(r.id, { ...r });
  }

  async start(): Promise<void> {
    this.address = await this.opts.hosts.allocate("Cloudflare edge");
    await this.render();
    this.probing = setInterval(() => void this.probeMonitors().catch((e) => this.opts.log(`      edge monitors: ${(e as Error).message}`)), 2000);
  }

  /** What DNS answers for `name` in the zone: a proxied record answers with the edge's own address. */
  answer(name: string): { type: string; content: string } | undefined {
    const rec = [...this.records.values()].find((r) => r.name.toLowerCase() === name.toLowerCase());
    if (!rec) return undefined;
    return rec.proxied ? { type: "A", content: this.address } : { type: rec.type, content: rec.content };
  }

  /** The SSL/TLS mode for requests to `hostname`: the last matching Configuration Rule's, else the zone's. */
  sslModeFor(hostname: string): SslMode {
    let mode = this.opts.zoneSslMode;
    for (const rules of this.sslRules.values()) for (const r of rules) if (r.hosts.includes(hostname.toLowerCase())) mode = r.ssl;
    return mode;
  }

  /** Pools whose monitors found them unhealthy at some point, with what they saw. */
  unhealthySeen(): PoolHealth[] {
    return this.history.filter((h) => !h.healthy);
  }

  /**
   * Where a client's DNS lookup of `hostname` leads: the edge for a proxied record or a
   * load balancer; the record's own target for a DNS-only one (the rehearsal resolves at
   * once what real resolvers pick up when the record's TTL expires).
   */
  private resolvesTo(hostname: string): string {
    const lb = [...this.balancers.values()].some((b) => b.name === hostname);
    const rec = [...this.records.values()].find((r) => r.name === hostname);
    if (lb || !rec || rec.proxied) return this.address;
    return this.originAddress(rec.content);
  }

  /** What serves `hostname` now, in words (the report's traffic table). */
  describe(hostname: string): string {
    const lb = [...this.balancers.values()].find((b) => b.name === hostname);
    if (lb) return `load balancer ${Object.entries(lb.poolWeights).map(([id, w]) => `${this.pools.get(id)?.name ?? id}=${w}`).join(" ")}`;
    const rec = [...this.records.values()].find((r) => r.name === hostname);
    return rec ? `${rec.type} ${rec.content}${rec.proxied ? " (proxied)" : ""}` : "no record";
  }

  // ---- the API ----------------------------------------------------------------------

  adoptRecord(importId: string, inputs: Record<string, unknown>): Realized {
    const id = importId.split("/").pop()!;
    const live = this.records.get(id);
    if (!live) throw new Error(`import ${importId}: no DNS record with id ${id} in the zone`);
    const differs = (Object.keys(inputs) as Array<keyof LiveRecord>)
      .filter((k) => k in live || k === "comment")
      .filter((k) => JSON.stringify(inputs[k] ?? null) !== JSON.stringify(live[k] ?? null));
    if (differs.length) {
      throw new Error(`inputs to import do not match the existing resource: ${differs.map((k) => `${k} (declared ${JSON.stringify(inputs[k])}, live ${JSON.stringify(live[k] ?? null)})`).join(", ")}`);
    }
    return { id, outputs: { ...inputs, ...live } };
  }

  async create(goal: Goal): Promise<Realized> {
    const i = goal.inputs;
    const id = newId();
    switch (goal.type) {
      case "cloudflare:index/dnsRecord:DnsRecord": {
        const clash = [...this.records.values()].find((r) => r.name === i.name && (r.type === "CNAME" || i.type === "CNAME" || (r.type === i.type && r.content === i.content)));
        if (clash) throw new Error(`81053: An A, AAAA, or CNAME record with that host already exists (${clash.type} ${clash.name} -> ${clash.content})`);
        this.records.set(id, { id, name: String(i.name), type: String(i.type), content: String(i.content), proxied: !!i.proxied, ttl: Number(i.ttl ?? 1), comment: i.comment as string | undefined });
        break;
      }
      case "cloudflare:index/loadBalancerPool:LoadBalancerPool":
        this.pools.set(id, this.pool(id, i));
        await this.probePool(this.pools.get(id)!);
        break;
      case "cloudflare:index/loadBalancer:LoadBalancer":
        this.balancers.set(id, this.balancer(id, i));
        break;
      case "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor":
        this.monitors.set(id, this.monitor(i));
        break;
      case "cloudflare:index/ruleset:Ruleset":
        this.sslRules.set(id, this.rulesOf(i));
        break;
      default:
        break;
    }
    await this.render();
    return { id, outputs: { ...i, id } };
  }

  async update(old: StoredResource, goal: Goal): Promise<Realized> {
    const i = goal.inputs;
    if (goal.type === "cloudflare:index/dnsRecord:DnsRecord") {
      const r = this.records.get(old.id);
      if (!r) throw new Error(`81044: Record does not exist (${old.id})`);
      Object.assign(r, { name: String(i.name), type: String(i.type), content: String(i.content), proxied: !!i.proxied, ttl: Number(i.ttl ?? 1), comment: i.comment as string | undefined });
    } else if (goal.type === "cloudflare:index/loadBalancerPool:LoadBalancerPool") {
      this.pools.set(old.id, this.pool(old.id, i));
      await this.probePool(this.pools.get(old.id)!);
    } else if (goal.type === "cloudflare:index/loadBalancer:LoadBalancer") {
      this.balancers.set(old.id, this.balancer(old.id, i));
    } else if (goal.type === "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor") {
      this.monitors.set(old.id, this.monitor(i));
    } else if (goal.type === "cloudflare:index/ruleset:Ruleset") {
      this.sslRules.set(old.id, this.rulesOf(i));
    }
    await this.render();
    return { id: old.id, outputs: { ...old.outputs, ...i } };
  }

  async delete(old: StoredResource): Promise<void> {
    if (old.type === "cloudflare:index/loadBalancerPool:LoadBalancerPool" && [...this.balancers.values()].some((b) => b.defaultPools.includes(old.id))) {
      throw new Error(`1012: pool ${old.id} is referenced by a load balancer`);
    }
    this.records.delete(old.id);
    this.pools.delete(old.id);
    this.balancers.delete(old.id);
    this.monitors.delete(old.id);
    this.sslRules.delete(old.id);
    this.health.delete(old.id);
    await this.render();
  }

  private balancer(id: string, i: Record<string, unknown>): Balancer {
    const steering = (i.randomSteering as { poolWeights?: Record<string, number> } | undefined)?.poolWeights ?? {};
    return { id, name: String(i.name), poolWeights: steering, defaultPools: (i.defaultPools as string[]) ?? [], fallbackPool: i.fallbackPool as string | undefined };
  }

  private pool(id: string, i: Record<string, unknown>): Pool {
    return { id, name: String(i.name), origins: i.origins as Pool["origins"], monitor: i.monitor as string | undefined };
  }

  private monitor(i: Record<string, unknown>): Monitor {
    const type = String(i.type ?? "http");
    const header = (i.header ?? {}) as Record<string, string[]>;
    return {
      type, port: Number(i.port ?? (type === "https" ? 443 : 80)), method: String(i.method ?? "GET"), path: String(i.path ?? "/"),
      host: header.Host?.[0], expectedCodes: String(i.expectedCodes ?? "200"), allowInsecure: i.allowInsecure === true,
      // Cloudflare's API: "the number of retries to attempt in case of a timeout before
      // marking the origin as unhealthy. Retries are attempted immediately." Default 2.
      // (https://developers.cloudflare.com/api/resources/load_balancers/subresources/monitors/methods/create/)
      retries: Number(i.retries ?? 2),
    };
  }

  /** The SSL settings of a zone ruleset's Configuration Rules (other phases set nothing here). */
  private rulesOf(i: Record<string, unknown>): SslRule[] {
    if (i.phase !== "http_config_settings") return [];
    const rules = (i.rules ?? []) as Array<{ action?: string; expression?: string; enabled?: boolean; actionParameters?: { ssl?: string } }>;
    return rules
      .filter((r) => r.enabled !== false && r.action === "set_config" && r.actionParameters?.ssl)
      .map((r) => ({ hosts: expressionHosts(String(r.expression ?? "")), ssl: r.actionParameters!.ssl as SslMode }));
  }

  // ---- the monitors -------------------------------------------------------------------

  /** Probe every pool with its monitor; a change of health re-renders the edge. */
  private async probeMonitors(): Promise<void> {
    for (const pool of this.pools.values()) await this.probePool(pool);
    // Health changes, and origins that started or stopped answering, change what the edge does.
    await this.render();
  }

  /** One monitor probe of each origin of `pool`; returns whether the pool's health changed. */
  private async probePool(pool: Pool): Promise<boolean> {
    const monitor = pool.monitor ? this.monitors.get(pool.monitor) : undefined;
    if (!monitor) return false;
    const results = await Promise.all(pool.origins.filter((o) => o.enabled !== false).map((o) => this.probeWithRetries(monitor, o.address, o.header?.hosts?.[0])));
    const healthy = results.some((r) => r.ok);
    const detail = results.map((r) => r.detail).join("; ");
    const before = this.health.get(pool.id);
    if (before && before.healthy === healthy) return false;
    const now: PoolHealth = { pool: pool.name, healthy, detail, at: Date.now() };
    this.health.set(pool.id, now);
    this.history.push(now);
    if (before || !healthy) this.opts.log(`      edge monitor: pool ${pool.name} ${healthy ? "healthy" : "UNHEALTHY"}: ${detail}`);
    return true;
  }

  /** A probe, tried again at once (the monitor's retries) while it got no answer at all; an answer with the wrong code is not retried. */
  private async probeWithRetries(m: Monitor, address: string, originHost: string | undefined): Promise<{ ok: boolean; detail: string }> {
    let result = await this.probeOrigin(m, address, originHost);
    for (let retry = 0; retry < m.retries && !result.ok && !result.answered; retry++) result = await this.probeOrigin(m, address, originHost);
    return result;
  }

  private probeOrigin(m: Monitor, address: string, originHost: string | undefined): Promise<{ ok: boolean; answered: boolean; detail: string }> {
    const host = m.host ?? originHost ?? address;
    let target: string;
    try {
      target = this.originAddress(address);
    } catch (e) {
      return Promise.resolve({ ok: false, answered: false, detail: (e as Error).message });
    }
    const what = `${m.method} ${m.type}://${address}:${m.port}${m.path} (Host ${host})`;
    return new Promise((resolve) => {
      const secure = m.type === "https";
      const options = { host: target, port: m.port, path: m.path, method: m.method, headers: { host }, timeout: 5000, ...(secure ? { servername: host, ca: readFileSync(this.opts.ca.file), rejectUnauthorized: !m.allowInsecure } : {}) };
      const req = (secure ? httpsRequest : httpRequest)(options, (res) => {
        res.resume();
        const ok = expectedCode(m.expectedCodes, res.statusCode ?? 0);
        resolve({ ok, answered: true, detail: `${what}: ${res.statusCode}${ok ? "" : ` (expected ${m.expectedCodes})`}` });
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (e) => resolve({ ok: false, answered: false, detail: `${what}: ${e.message}` }));
      req.end();
    });
  }

  // ---- the edge -----------------------------------------------------------------------

  /** An origin's stand-in address: names through the run's hosts, public IPs through aliases. */
  private originAddress(address: string): string {
    const resolved = this.opts.aliases[address] ?? this.opts.hosts.resolve(address);
    // Never reach past this machine: an origin without a stand-in is a rehearsal error.
    if (!resolved || !resolved.startsWith("127.")) throw new Error(`the edge has no stand-in for origin ${address}`);
    return resolved;
  }

  /**
   * How the edge reaches `hostname`'s origins under its SSL/TLS mode: Off/Flexible over
   * HTTP to 80, Full over unchecked TLS to 443, Full (strict) over TLS to 443 checked for
   * the hostname. An origin it cannot reach that way is left out; with none left, the
   * visitor gets Cloudflare's error for the first one's failure.
   */
  private async upstream(hostname: string, origins: Array<{ address: string; weight: number }>): Promise<{ upstream?: Upstream; error?: { code: number; body: string } }> {
    const mode = this.sslModeFor(hostname);
    const tls = mode === "full" || mode === "strict";
    const port = tls ? 443 : 80;
    const reachable: Array<{ address: string; weight: number }> = [];
    let firstError: { code: number; body: string } | undefined;
    for (const o of origins.filter((x) => x.weight > 0)) {
      const address = this.originAddress(o.address);
      const failure = await reachOrigin(address, port, tls ? { serverName: hostname, ca: this.opts.ca.file, verify: mode === "strict" } : undefined);
      if (failure) firstError ??= failure;
      else reachable.push({ address: `${address}:${port}`, weight: o.weight });
    }
    if (!reachable.length) return { error: firstError ?? { code: 530, body: "error 1016: origin DNS error" } };
    return {
      upstream: {
        name: `host_${hostname}`,
        servers: reachable,
        tls: tls ? { ca: this.opts.ca.file, serverName: hostname, verify: mode === "strict" } : undefined,
      },
    };
  }

  /** A load balancer's pools that take traffic: the healthy ones by weight, else its fallback pool. */
  private originsFor(hostname: string): Array<{ address: string; weight: number }> {
    const lb = [...this.balancers.values()].find((b) => b.name === hostname);
    if (lb) {
      const originsOf = (poolId: string, w: number) => (this.pools.get(poolId)?.origins ?? []).filter((o) => o.enabled !== false).map((o) => ({ address: o.address, weight: Math.round(w * (o.weight ?? 1) * 100) }));
      const healthy = Object.entries(lb.poolWeights).filter(([poolId]) => this.health.get(poolId)?.healthy !== false);
      if (healthy.length === 0 && lb.fallbackPool) return originsOf(lb.fallbackPool, 1);
      return healthy.flatMap(([poolId, w]) => originsOf(poolId, w));
    }
    const rec = [...this.records.values()].find((r) => r.name === hostname && r.proxied);
    return rec ? [{ address: rec.content, weight: 1 }] : [];
  }

  private readonly render = oneAtATime(() => this.renderNow());

  /**
   * Push the zone to the edge. The config and where each name resolves come from one
   * snapshot: a change made while nginx reloads is the next render's. Names coming to
   * the edge (a new load balancer, a record turned proxied) resolve there only once the
   * live config serves them; names leaving it resolve elsewhere before the edge stops
   * serving them. Cloudflare applies a load balancer and its hostname together: a client
   * sent to the edge for a name the live config does not serve yet would get error 1016
   * here, which a real Cloudflare gives only when it cannot resolve a pool's origin
   * (https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-1xxx-errors/error-1016/);
   * the program's origins are public hostnames that resolve (the app's herokuapp.com
   * name, the internet-facing ALB's DNS name), as pools require
   * (https://developers.cloudflare.com/api/resources/load_balancers/subresources/pools/methods/create/).
   */
  private async renderNow(): Promise<void> {
    if (!this.address) return;
    const zone = this.opts.hostnames.map((h) => ({ hostname: h, origins: this.originsFor(h), resolvesTo: this.resolvesTo(h) }));
    const servers: VirtualServer[] = [];
    for (const { hostname: h, origins } of zone) {
      const reached = origins.length ? await this.upstream(h, origins) : { error: { code: 530, body: "error 1016: origin DNS error" } };
      // Cloudflare tells the origin the visitor's protocol (the visitors here speak HTTP to the edge).
      servers.push(reached.upstream
        ? { listen: `${this.address}:80`, names: [h], upstream: reached.upstream, forwardedProto: "http", unreachable: { code: 520, body: "error 520: web server returned an unknown error" } }
        : { listen: `${this.address}:80`, names: [h], status: reached.error! });
    }
    servers.push({ listen: `${this.address}:80`, names: ["_"], status: { code: 404, body: "unknown zone" } });
    // Names leaving the edge resolve elsewhere before it stops serving them; names coming
    // to it resolve there only once the live config serves them.
    for (const z of zone) if (z.resolvesTo !== this.address) this.opts.hosts.name(z.hostname, z.resolvesTo);
    // The monitors' tick renders too: a config push only when what the edge does changed.
    const rendered = JSON.stringify(servers);
    if (!this.proxy) this.proxy = await ProxyHost.start(servers);
    else if (rendered !== this.rendered) await this.proxy.apply(servers);
    this.rendered = rendered;
    for (const z of zone) if (z.resolvesTo === this.address) this.opts.hosts.name(z.hostname, z.resolvesTo);
    for (const { hostname: h } of zone) {
      const served = servers.find((v) => v.names.includes(h));
      const now = `${this.describe(h)}, SSL ${this.sslModeFor(h)}${served?.status ? `: answers ${served.status.code}` : ""}`;
      if (this.described.get(h) !== now) this.opts.log(`      edge: ${h} -> ${now}`);
      this.described.set(h, now);
    }
  }

  stop(): Promise<void> | undefined {
    if (this.probing) clearInterval(this.probing);
    return this.proxy?.stop();
  }
}

/**
 * Whether the edge reaches an origin as the mode asks, and Cloudflare's error if not: 522
 * when nothing answers on the port (on AWS a security group drops the packets, so the
 * connection times out), 525 when the TLS handshake fails, 526 when Full (strict) finds
 * the certificate invalid for the hostname. Cloudflare gives up on a TCP handshake after
 * 15 s without a SYN+ACK (its 522 page: https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/error-522/);
 * 2 s here once turned a rehearsal event loop busy evaluating the program into a 522.
 */
const CONNECT_TIMEOUT_MS = 15_000;

export function reachOrigin(address: string, port: number, tls?: { serverName: string; ca: string; verify: boolean }): Promise<{ code: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const fail = (code: number, why: string) => resolve({ code, body: `error ${code}: ${why}` });
    if (!tls) {
      const socket = tcpConnect({ host: address, port, timeout: CONNECT_TIMEOUT_MS }, () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.on("timeout", () => socket.destroy(new Error("timed out")));
      socket.on("error", () => fail(522, `connection timed out (${address}:${port})`));
      return;
    }
    const plain = tcpConnect({ host: address, port, timeout: CONNECT_TIMEOUT_MS }, () => {
      const socket = tlsConnect({ socket: plain, servername: tls.serverName, ca: readFileSync(tls.ca), rejectUnauthorized: false }, () => {
        const valid = socket.authorized;
        const reason = socket.authorizationError;
        socket.destroy();
        if (tls.verify && !valid) fail(526, `invalid SSL certificate (${String(reason)} for ${tls.serverName})`);
        else resolve(undefined);
      });
      socket.on("error", (e) => fail(525, `SSL handshake failed (${e.message})`));
    });
    plain.on("timeout", () => plain.destroy(new Error("timed out")));
    plain.on("error", () => fail(522, `connection timed out (${address}:${port})`));
  });
}
