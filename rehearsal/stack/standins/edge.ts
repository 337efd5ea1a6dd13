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
import { randomUUID } from "node:crypto";
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
  origins: Array<{ name: string; address: string; weight?: number; enabled?: boolean }>;
}

interface Balancer {
  id: string;
  name: string;
  poolWeights: Record<string, number>;
  defaultPools: string[];
}

export interface EdgeOptions {
  hosts: Hosts;
  ca: PrivateCa;
  /** The zone's records before the migration (the stack's adopted records). */
  records: LiveRecord[];
  /** Every hostname the stack serves: each resolves to the edge. */
  hostnames: string[];
  /** Cloudflare SSL mode: Full (strict) reaches origins over verified TLS on 443, Flexible over HTTP on 80. */
  strictTls: boolean;
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
  private proxy?: ProxyHost;
  private readonly described = new Map<string, string>();
  address = "";

  constructor(private readonly opts: EdgeOptions) {
    for (const r of opts.records) this.records.set(r.id, { ...r });
  }

  async start(): Promise<void> {
    this.address = await this.opts.hosts.allocate("Cloudflare edge");
    await this.render();
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
        this.pools.set(id, { id, name: String(i.name), origins: i.origins as Pool["origins"] });
        break;
      case "cloudflare:index/loadBalancer:LoadBalancer":
        this.balancers.set(id, this.balancer(id, i));
        break;
      default:
        break; // monitors: the edge here does not health-check origins
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
      this.pools.set(old.id, { id: old.id, name: String(i.name), origins: i.origins as Pool["origins"] });
    } else if (goal.type === "cloudflare:index/loadBalancer:LoadBalancer") {
      this.balancers.set(old.id, this.balancer(old.id, i));
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
    await this.render();
  }

  private balancer(id: string, i: Record<string, unknown>): Balancer {
    const steering = (i.randomSteering as { poolWeights?: Record<string, number> } | undefined)?.poolWeights ?? {};
    return { id, name: String(i.name), poolWeights: steering, defaultPools: (i.defaultPools as string[]) ?? [] };
  }

  // ---- the edge -----------------------------------------------------------------------

  /** An origin's stand-in address: names through the run's hosts, public IPs through aliases. */
  private originAddress(address: string): string {
    const resolved = this.opts.aliases[address] ?? this.opts.hosts.resolve(address);
    // Never reach past this machine: an origin without a stand-in is a rehearsal error.
    if (!resolved || !resolved.startsWith("127.")) throw new Error(`the edge has no stand-in for origin ${address}`);
    return resolved;
  }

  /** Full (strict) verifies each origin's certificate for the hostname itself. */
  private upstream(hostname: string, origins: Array<{ address: string; weight: number }>): Upstream {
    const port = this.opts.strictTls ? 443 : 80;
    return {
      name: `host_${hostname}`,
      servers: origins.filter((o) => o.weight > 0).map((o) => ({ address: `${this.originAddress(o.address)}:${port}`, weight: o.weight })),
      tls: this.opts.strictTls ? { ca: this.opts.ca.file, serverName: hostname } : undefined,
    };
  }

  private originsFor(hostname: string): Array<{ address: string; weight: number }> {
    const lb = [...this.balancers.values()].find((b) => b.name === hostname);
    if (lb) {
      return Object.entries(lb.poolWeights).flatMap(([poolId, w]) => {
        const pool = this.pools.get(poolId);
        return (pool?.origins ?? []).filter((o) => o.enabled !== false).map((o) => ({ address: o.address, weight: Math.round(w * (o.weight ?? 1) * 100) }));
      });
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
    const zone = this.opts.hostnames.map((h) => ({ hostname: h, origins: this.originsFor(h), resolvesTo: this.resolvesTo(h), describe: this.describe(h) }));
    const servers: VirtualServer[] = zone.map(({ hostname: h, origins }) =>
      origins.length
        ? { listen: `${this.address}:80`, names: [h], upstream: this.upstream(h, origins) }
        : { listen: `${this.address}:80`, names: [h], status: { code: 530, body: "error 1016: origin DNS error" } },
    );
    servers.push({ listen: `${this.address}:80`, names: ["_"], status: { code: 404, body: "unknown zone" } });
    for (const z of zone) if (z.resolvesTo !== this.address) this.opts.hosts.name(z.hostname, z.resolvesTo);
    if (!this.proxy) this.proxy = await ProxyHost.start(servers);
    else await this.proxy.apply(servers);
    for (const z of zone) if (z.resolvesTo === this.address) this.opts.hosts.name(z.hostname, z.resolvesTo);
    for (const z of zone) {
      if (this.described.get(z.hostname) !== z.describe) this.opts.log(`      edge: ${z.hostname} -> ${z.describe}`);
      this.described.set(z.hostname, z.describe);
    }
  }

  stop(): Promise<void> | undefined {
    return this.proxy?.stop();
  }
}
