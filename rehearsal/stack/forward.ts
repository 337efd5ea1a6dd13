// A TCP forward: a stand-in host's well-known port (RDS on 5432, Redis on 6379) to the
// local server that plays it, as a port forward or a cloud endpoint would. Bytes pass
// through untouched, so TLS is end to end between the client and the server.
//
// Each forward runs on a worker thread of its own: the rehearsal's main thread evaluates
// the user's program at every `pulumi up` and is busy for seconds at a time; a forward on
// it would stall every connection through it meanwhile (the app's Redis connections time
// out, a blocking pop's reply is lost with its job), which no network does.
import { Worker } from "node:worker_threads";
import { onExit } from "../servers";

export interface Forward {
  listen: string;
  close(): Promise<void>;
}

/** The worker: listen, pipe each connection to the target, close everything on "close". */
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { createConnection, createServer } = require("node:net");
const { fromHost, fromPort, toHost, toPort } = workerData;
const sockets = new Set();
const server = createServer((client) => {
  const upstream = createConnection({ host: toHost, port: toPort });
  for (const s of [client, upstream]) {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => { client.destroy(); upstream.destroy(); });
  }
  client.pipe(upstream);
  upstream.pipe(client);
});
server.once("error", (e) => parentPort.postMessage({ error: e.message }));
server.listen(fromPort, fromHost, () => parentPort.postMessage({ listening: true }));
parentPort.on("message", (m) => {
  if (m !== "close") return;
  for (const s of sockets) s.destroy();
  server.close(() => process.exit(0));
});
`;

export async function forward(fromHost: string, fromPort: number, toPort: number, toHost = "127.0.0.1"): Promise<Forward> {
  const worker = new Worker(WORKER, { eval: true, workerData: { fromHost, fromPort, toHost, toPort } });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", (m: { listening?: boolean; error?: string }) => (m.listening ? resolve() : reject(new Error(`cannot listen on ${fromHost}:${fromPort}: ${m.error}`))));
    worker.once("error", reject);
  });
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  onExit(() => void worker.terminate());
  const close = async () => {
    worker.postMessage("close");
    await exited;
  };
  return { listen: `${fromHost}:${fromPort}`, close };
}
