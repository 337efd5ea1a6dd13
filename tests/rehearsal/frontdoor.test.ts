import { afterAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { join } from "node:path";
import { childPids, freePort } from "../../rehearsal/servers";
import { renderFrontDoor, split, startFrontDoor, FrontDoor, Origin } from "../../rehearsal/frontdoor";
import { eventually } from "../support/eventually";

function origin(name: string, port: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "x-served-by": name });
    res.end(name);
  });
  return new Promise((r) => server.listen(port, "127.0.0.1", () => r(server)));
}

async function shares(door: FrontDoor, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${door.url}/x`);
    const by = await res.text();
    counts[by] = (counts[by] ?? 0) + 1;
  }
  return counts;
}

describe("front door (the Cloudflare stand-in)", () => {
  const servers: Server[] = [];
  let door: FrontDoor | undefined;
  afterAll(async () => {
    await door?.stop();
    for (const s of servers) s.close();
  });

  test("renders weights as an nginx upstream and refuses an empty pool", () => {
    const conf = renderFrontDoor("/tmp/p", 8080, split({ name: "old", port: 1001 }, { name: "new", port: 1002 }, 10));
    expect(conf).toContain("server 127.0.0.1:1001 weight=90; # old");
    expect(conf).toContain("server 127.0.0.1:1002 weight=10; # new");
    expect(conf).toContain("listen 127.0.0.1:8080;");
    expect(renderFrontDoor("/tmp/p", 8080, split({ name: "old", port: 1001 }, { name: "new", port: 1002 }, 100))).not.toContain("1001");
    expect(() => renderFrontDoor("/tmp/p", 8080, [{ name: "x", port: 1, weight: 0 }])).toThrow(/at least one origin/);
  });

  // Exact counts, not a tolerance: the front door runs one worker (worker_processes 1) and
  // nginx's weighted round robin is the smooth one (ngx_http_upstream_round_robin.c: each
  // pick adds every weight to its peer's current weight, takes the largest, subtracts the
  // total), whose picks repeat with a period of the weights' sum. So any 100 requests in a
  // row through one worker, sequential and from this test alone, land exactly by weight.
  // After a reload that holds only once the old worker has exited: until then it keeps
  // accepting with the old weights, which is how 54/46 was once counted for 50/50.
  test("a real nginx splits by weight and moves on a graceful reload", async () => {
    const [a, b, listen] = [await freePort(), await freePort(), await freePort()];
    servers.push(await origin("old", a), await origin("new", b));
    door = await startFrontDoor(listen, split({ name: "old", port: a }, { name: "new", port: b }, 10));
    expect(await shares(door, 100)).toEqual({ old: 90, new: 10 });
    await reloadAndWait(door, split({ name: "old", port: a }, { name: "new", port: b }, 50));
    expect(await shares(door, 100)).toEqual({ old: 50, new: 50 });
    await reloadAndWait(door, [{ name: "new", port: b, weight: 1 }]);
    expect(await shares(door, 20)).toEqual({ new: 20 });
  });
});

/** nginx's worker processes (children of the master named in its pid file). */
function workers(door: FrontDoor): number[] {
  const master = Number(readFileSync(join(door.nginx.prefix, "nginx.pid"), "utf8").trim());
  return childPids(master);
}

/**
 * Reload with new origins, then wait until every worker that served the old
 * configuration has exited and a new one runs: from then on only the new weights route.
 */
async function reloadAndWait(door: FrontDoor, origins: Origin[]): Promise<void> {
  const before = workers(door);
  await door.setOrigins(origins);
  await eventually("the old nginx worker to exit after the reload", () => {
    const now = workers(door);
    return now.length > 0 && now.every((pid) => !before.includes(pid));
  });
}
