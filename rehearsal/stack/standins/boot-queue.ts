// Heroku's router while an app's web dynos start. Heroku's error codes
// (https://devcenter.heroku.com/articles/error-codes):
//   - H20 "App boot timeout": "The router will enqueue requests for 75 seconds while waiting
//     for starting processes to reach an 'up' state. If after 75 seconds, no web dynos have
//     reached an 'up' state, the router logs H20 and serves a standard error page";
//   - H14 "No web dynos running": "most likely the result of scaling your web dynos down to 0".
// So a request that arrives while the formation has web dynos but none is up yet (scaled up,
// restarted, just out of maintenance) waits at the router; it is not refused. The router
// (heroku.ts) sends such an app's requests here; each waits until a web dyno is up (bound
// $PORT, when Heroku marks it "up"), then goes to it, or gets H20 after the boot timeout.
// Judged against the docs, this is no kinder than Heroku: a client that gives up sooner (the
// load's own timeout) still fails, as it would on Heroku.
import http from "node:http";
import type { AddressInfo } from "node:net";

/** Heroku's router queues a request this long for a starting web dyno (H20 after it). */
export const HEROKU_BOOT_TIMEOUT_MS = 75_000;

/** What the router knows of one app's web process type. */
export interface WebFormation {
  /** The web dynos that are up: their ports. */
  upPorts(): number[];
  /** The web formation's quantity (the Platform API's formation), whatever has started. */
  quantity(): number;
}

/** Heroku's router's own answers, as its standard error page (status 503) with the code logged. */
export const ROUTER_ERRORS = {
  H14: "Application error (H14: no web processes running)",
  H20: "Application error (H20: App boot timeout)",
  H21: "Application error (H21: backend connection refused)",
} as const;

const POLL_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait for an up web dyno's port; the router's error once the formation is at 0 (H14) or after the boot timeout (H20). */
export async function upDyno(web: WebFormation, timeoutMs: number): Promise<{ port: number } | { error: keyof typeof ROUTER_ERRORS }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ports = web.upPorts();
    if (ports.length) return { port: ports[Math.floor(Math.random() * ports.length)] };
    if (web.quantity() === 0) return { error: "H14" };
    if (Date.now() >= deadline) return { error: "H20" };
    await sleep(POLL_MS);
  }
}

function refuse(res: http.ServerResponse, code: keyof typeof ROUTER_ERRORS): void {
  res.writeHead(503, { "content-type": "text/plain" });
  res.end(ROUTER_ERRORS[code]);
}

/** The request, as it came, to the dyno on `port`; the dyno's answer streams back (event streams too). */
function forward(req: http.IncomingMessage, res: http.ServerResponse, port: number): void {
  const upstream = http.request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on("error", () => (res.headersSent ? res.destroy() : refuse(res, "H21")));
  res.on("close", () => upstream.destroy());
  req.pipe(upstream);
}

/** One app's queue: an HTTP server on loopback that the router proxies to while the app's web dynos boot. */
export class BootQueue {
  private constructor(private readonly server: http.Server) {}

  static async start(web: WebFormation, timeoutMs = HEROKU_BOOT_TIMEOUT_MS): Promise<BootQueue> {
    const server = http.createServer((req, res) => {
      // A client that gives up while its request waits is gone (Heroku logs H27, "Client
      // Request Interrupted"): its request never reaches a dyno.
      let gone = false;
      res.once("close", () => (gone = true));
      void upDyno(web, timeoutMs).then((up) => {
        if (gone) return;
        if ("port" in up) forward(req, res, up.port);
        else refuse(res, up.error);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new BootQueue(server);
  }

  /** host:port, for the router's upstream. */
  address(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
