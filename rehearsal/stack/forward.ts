// A TCP forward: a stand-in host's well-known port (RDS on 5432, Redis on 6379) to the
// local server that plays it, as a port forward or a cloud endpoint would. Bytes pass
// through untouched, so TLS is end to end between the client and the server.
//
// Each forward runs in a process of its own, as the network it stands for runs apart
// from the Pulumi engine: the rehearsal's engine evaluates the program in its own event
// loop, which blocks for seconds at every `pulumi up`, and a forward served there
// stalled the app's database connections meanwhile ("Connection terminated due to
// connection timeout" on the target, outside any cutover).
import { ChildProcess, spawn } from "node:child_process";
import { createConnection, createServer, Server, Socket } from "node:net";
import { join } from "node:path";
import { onExit } from "../servers";

export interface Forward {
  listen: string;
  close(): Promise<void>;
}

/** Serve the forward in this process (the forward process's body). */
function serve(fromHost: string, fromPort: number, toPort: number, toHost: string): Promise<Server> {
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: toHost, port: toPort });
    const sockets: Socket[] = [client, upstream];
    for (const s of sockets) {
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise<Server>((resolve, reject) => {
    server.once("error", (e) => reject(new Error(`cannot listen on ${fromHost}:${fromPort}: ${(e as Error).message}`)));
    server.listen(fromPort, fromHost, () => resolve(server));
  });
}

/** Start a forward process; resolves once it listens, rejects with its reason when it cannot. */
export async function forward(fromHost: string, fromPort: number, toPort: number, toHost = "127.0.0.1"): Promise<Forward> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", __filename, fromHost, String(fromPort), toHost, String(toPort)], {
    cwd: join(__dirname, "..", ".."),
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const removeHook = onExit(() => child.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    child.once("message", (m: { listening?: boolean; error?: string }) => (m.listening ? resolve() : reject(new Error(m.error ?? "the forward did not start"))));
    child.once("exit", (code) => reject(new Error(`the forward to ${fromHost}:${fromPort} exited (${code}) before listening`)));
  });
  return {
    listen: `${fromHost}:${fromPort}`,
    close: async () => {
      removeHook();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

if (require.main === module) {
  const [fromHost, fromPort, toHost, toPort] = process.argv.slice(2);
  // The rehearsal is gone (killed, or ended without closing): so is its network.
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  serve(fromHost, Number(fromPort), Number(toPort), toHost).then(
    () => process.send?.({ listening: true }),
    (e: Error) => {
      process.send?.({ error: e.message }, () => process.exit(1));
    },
  );
}
