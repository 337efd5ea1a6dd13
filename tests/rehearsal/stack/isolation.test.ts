// The rehearsal's users and network run apart from its Pulumi engine: every `pulumi up`
// evaluates the program in the rehearsal's event loop, which blocks it for seconds (3-6 s
// measured on the staging stack). Here the loop is blocked on purpose, for longer than
// a request's timeout, while the load generator (rehearsal/stack/load-process.ts) and a
// TCP forward (rehearsal/stack/forward.ts) serve real traffic to nginx.
import { spawn } from "node:child_process";
import { describe, expect, test } from "vitest";
import { freePort, nginxHttpPaths, nginxMainContext, startNginx } from "../../../rehearsal/servers";
import { forward } from "../../../rehearsal/stack/forward";
import { startLoadProcess } from "../../../rehearsal/stack/load-process";

/** Block this process's event loop for `ms`, as evaluating the program does. */
function blockEventLoop(ms: number): { from: number; to: number } {
  const from = Date.now();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return { from, to: Date.now() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** nginx answering every read of the load generator (GET /feeds/N) with 200. */
async function feedsServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const nginx = await startNginx((prefix) => `${nginxMainContext(prefix)}\nevents {}\nhttp {\n${nginxHttpPaths(prefix)}\nserver { listen 127.0.0.1:${port}; location / { return 200 "[]"; } }\n}\n`, port);
  return { url: `http://127.0.0.1:${port}`, stop: () => nginx.stop() };
}

describe("the rehearsal's users and network, apart from its engine", () => {
  test("the load generator keeps sending and timing requests while the rehearsal's event loop is blocked longer than a request's timeout", async () => {
    const server = await feedsServer();
    try {
      const load = startLoadProcess({ baseUrl: server.url, accounts: 10, writesPerSecond: 0, readsPerSecond: 20, uploadsPerSecond: 0, maxWrites: 1, maxDurationMs: 60_000, timeoutMs: 2000, runId: "iso" });
      // The child is up and sending (its start takes longer on a loaded machine).
      while (load.requests.length < 5) await sleep(100);
      const blocked = blockEventLoop(4000);
      await sleep(1500);
      await load.stop();
      const during = load.requests.filter((r) => r.sentAt > blocked.from && r.sentAt < blocked.to);
      expect(during.length).toBeGreaterThan(10);
      expect(load.requests.filter((r) => !r.ok).map((r) => r.error)).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  test("a forward carries connections while the rehearsal's event loop is blocked", async () => {
    const server = await feedsServer();
    const port = await freePort();
    const fwd = await forward("127.0.0.1", port, Number(new URL(server.url).port));
    try {
      // A client of its own (the app, say) connects through the forward during the block.
      const client = spawn("sh", ["-c", `sleep 0.5; curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:${port}/feeds/1`], { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      client.stdout.on("data", (d) => (out += d));
      const exited = new Promise((r) => client.on("close", r));
      blockEventLoop(3500);
      await exited;
      expect(out).toBe("200");
    } finally {
      await fwd.close();
      await server.stop();
    }
  });
});
