// A TCP forward: a stand-in host's well-known port (RDS on 5432, Redis on 6379) to the
// local server that plays it, as a port forward or a cloud endpoint would. Bytes pass
// through untouched, so TLS is end to end between the client and the server.
import { createConnection, createServer, Server, Socket } from "node:net";
import { onExit } from "../servers";

export interface Forward {
  listen: string;
  close(): Promise<void>;
}

export async function forward(fromHost: string, fromPort: number, toPort: number, toHost = "127.0.0.1"): Promise<Forward> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: toHost, port: toPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new Error(`cannot listen on ${fromHost}:${fromPort}: ${(e as Error).message}`)));
    server.listen(fromPort, fromHost, () => resolve());
  });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  onExit(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { listen: `${fromHost}:${fromPort}`, close };
}
