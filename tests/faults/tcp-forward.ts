// A TCP forwarder run as its own process: `node --import tsx tcp-forward.ts LISTEN TARGET`.
// The fault tests put it between the two sides and kill it (-9: every connection
// through it drops at once, like a cut cable) and start it again on the same port.
import * as net from "node:net";

const [listenPort, targetPort] = process.argv.slice(2).map(Number);

const server = net.createServer((client) => {
  const upstream = net.connect(targetPort, "127.0.0.1");
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
  client.on("close", close);
  upstream.on("close", close);
});
server.listen(listenPort, "127.0.0.1", () => process.stdout.write("listening\n"));
