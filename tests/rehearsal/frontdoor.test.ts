import { afterAll, describe, expect, test } from "vitest";
import { createServer, Server } from "node:http";
import { freePort } from "../../rehearsal/servers";
import { renderFrontDoor, split, startFrontDoor, waitServedBy, FrontDoor } from "../../rehearsal/frontdoor";

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

  test("a real nginx splits by weight and moves on a graceful reload", async () => {
    const [a, b, listen] = [await freePort(), await freePort(), await freePort()];
    servers.push(await origin("old", a), await origin("new", b));
    door = await startFrontDoor(listen, split({ name: "old", port: a }, { name: "new", port: b }, 10));
    expect(await shares(door, 100)).toEqual({ old: 90, new: 10 });
    await door.setOrigins(split({ name: "old", port: a }, { name: "new", port: b }, 50));
    await waitServedByBody(door);
    expect(await shares(door, 100)).toEqual({ old: 50, new: 50 });
    await door.setOrigins([{ name: "new", port: b, weight: 1 }]);
    await waitServedBy(door.url, "new");
    expect(await shares(door, 20)).toEqual({ new: 20 });
  });
});

/** After a reload, wait until the new workers answer (the 50/50 split alternates). */
async function waitServedByBody(door: FrontDoor): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const seen = await shares(door, 4);
    if (seen.new === 2) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
