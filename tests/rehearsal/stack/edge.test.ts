// Cloudflare's edge as the rehearsal stands it in (rehearsal/stack/standins/edge.ts),
// with real nginx: a name is sent to the edge only once the edge's live config serves
// it. A real Cloudflare applies a load balancer and its hostname together; the stand-in
// once pointed the name at the edge while nginx still had the config of a render begun
// before the load balancer existed, and requests got error 1016 (a staging run: 6 at
// proxy 10 %).
import { createServer, request, Server } from "node:http";
import { randomInt } from "node:crypto";
import { afterAll, describe, expect, test } from "vitest";
import type { Goal } from "../../../rehearsal/stack/engine";
import type { Hosts } from "../../../rehearsal/stack/hosts";
import { startCa } from "../../../rehearsal/stack/standins/ca";
import { Edge } from "../../../rehearsal/stack/standins/edge";

const HOSTNAME = "www.example.test";
const loopback = () => `127.${randomInt(100, 200)}.${randomInt(1, 250)}.${randomInt(1, 250)}`;

/** An origin on port 80 of its own loopback address, answering with its name. */
async function origin(name: string): Promise<{ address: string; server: Server }> {
  const address = loopback();
  const server = createServer((_req, res) => res.end(name));
  await new Promise<void>((resolve) => server.listen(80, address, resolve));
  return { address, server };
}

/** GET / on `address`:80 for `host`: the status. */
function probe(address: string, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: address, port: 80, path: "/", headers: { host } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.end();
  });
}

const goal = (type: string, name: string, inputs: Record<string, unknown>): Goal => ({
  urn: `urn:${name}`, type, name, custom: true, inputs, raw: inputs, dependencies: [],
  deleteBeforeReplace: false, protect: false, retainOnDelete: false, replaceOnChanges: [], ignoreChanges: [],
});

const started: Array<{ close(): unknown }> = [];
afterAll(async () => {
  for (const s of started) await s.close();
});

describe("the Cloudflare edge stand-in", () => {
  test("a hostname is sent to the edge only once the live config serves it, even when the load balancer arrives during a reload", async () => {
    const heroku = await origin("heroku");
    const aws = await origin("aws");
    started.push(heroku.server, aws.server);
    // Every time the name is pointed at the edge, a client follows at once.
    const probes: Array<Promise<number>> = [];
    let edgeAddress = "";
    const hosts: Hosts = {
      allocate: async () => loopback(),
      name: (name, address) => {
        if (address === edgeAddress) probes.push(probe(address, name));
      },
      resolve: () => undefined,
      close: () => undefined,
      table: [],
    };
    const edge = new Edge({
      hosts, ca: await startCa(), zoneSslMode: "flexible", hostnames: [HOSTNAME], log: () => undefined,
      // Before the split: a DNS-only CNAME at Heroku, as the staging stack adopts it.
      records: [{ id: "rec1", name: HOSTNAME, type: "CNAME", content: "tall-owl.herokudns.test", proxied: false, ttl: 300 }],
      aliases: { "tall-owl.herokudns.test": heroku.address, "masto-web.herokuapp.test": heroku.address, "alb.elb.test": aws.address },
    });
    await edge.start();
    started.push({ close: () => edge.stop() });
    edgeAddress = edge.address;
    const pool = (side: string, address: string) => edge.create(goal("cloudflare:index/loadBalancerPool:LoadBalancerPool", side, { name: side, origins: [{ name: side, address, enabled: true, weight: 1 }] }));
    const herokuPool = await pool("heroku", "masto-web.herokuapp.test");
    const awsPool = await pool("aws", "alb.elb.test");
    // A render starts (the monitor's), and while nginx reloads, the load balancer is created.
    const monitor = edge.create(goal("cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor", "monitor", { path: "/health" }));
    await new Promise((r) => setImmediate(r));
    const balancer = edge.create(goal("cloudflare:index/loadBalancer:LoadBalancer", "lb", {
      name: HOSTNAME, proxied: true, steeringPolicy: "random", defaultPools: [herokuPool.id, awsPool.id],
      randomSteering: { poolWeights: { [herokuPool.id]: 0.9, [awsPool.id]: 0.1 } },
    }));
    await Promise.all([monitor, balancer]);
    const statuses = await Promise.all(probes);
    expect(statuses.length).toBeGreaterThan(0);
    // Served by an origin, never error 1016 (530) from a config without the load balancer.
    expect(statuses).toEqual(statuses.map(() => 200));
    expect(edge.describe(HOSTNAME)).toBe("load balancer heroku=0.9 aws=0.1");
  });
});
