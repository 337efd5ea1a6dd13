// The "new app" the old host proxies to: HTTPS (or HTTP) plus WebSockets on one port,
// like Mastodon's web + streaming behind one name. Every answer reports what the app
// saw (method, path, headers), so a test can check what the proxy passed on.
import { createServer as createHttpServer, IncomingMessage, ServerResponse, Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { WebSocketServer } from "ws";
import { freePort } from "../../../rehearsal/servers";

export interface NewApp {
  port: number;
  /** Requests the app has answered. */
  seen: Array<{ method: string; url: string; headers: IncomingMessage["headers"] }>;
  stop(): Promise<void>;
}

export async function startNewApp(tls?: { certPem: string; keyPem: string }): Promise<NewApp> {
  const port = await freePort();
  const seen: NewApp["seen"] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      res.writeHead(200, { "content-type": "application/json", "x-served-by": "new-app" });
      res.end(JSON.stringify({ app: "new", method: req.method, url: req.url, headers: req.headers, body }));
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler) : createHttpServer(handler);
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket, req) => {
    socket.send(JSON.stringify({ hello: "new-app", url: req.url, headers: req.headers }));
    socket.on("message", (data) => socket.send(`echo:${data.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    seen,
    stop: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
