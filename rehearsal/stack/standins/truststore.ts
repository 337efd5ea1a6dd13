// Amazon's RDS trust store, as the rehearsal stands it in: the program's step downloads
// the RDS CA bundle from https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
// (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html) over
// HTTPS. Here that host is a stand-in address, serving over TLS whose certificate the
// rehearsal's public CA signs (the real one chains to a public root), and the bundle it
// serves is the rehearsal's RDS CA: the only place, with the runner's bundle, that CA is.
// The name resolves to it for the runner's curl only (`curlWrapper`, curl's own --resolve),
// not in /etc/hosts: every rehearsal on the machine has its own trust store under the
// same name, and rehearsals of different stacks run side by side.
import { createServer, Server } from "node:https";
import { readFileSync } from "node:fs";
import { RDS_CA_BUNDLE_URL } from "../../../components/target/userData";
import type { Hosts } from "../hosts";
import type { PrivateCa } from "./ca";

export async function startRdsTruststore(hosts: Hosts, publicCa: PrivateCa, rdsCaPem: string): Promise<{ address: string; stop(): Promise<void> }> {
  const url = new URL(RDS_CA_BUNDLE_URL);
  const address = await hosts.allocate("RDS trust store");
  const cert = await publicCa.issue("rds-truststore", [url.hostname]);
  const server: Server = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    if (req.method === "GET" && req.url === url.pathname) {
      res.writeHead(200, { "content-type": "application/x-pem-file" }).end(rdsCaPem);
      return;
    }
    res.writeHead(404).end("NoSuchKey");
  });
  await new Promise<void>((resolve) => server.listen(443, address, resolve));
  return { address, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The runner's `curl`: the real one, with the trust store's name resolved to the stand-in (curl --resolve). */
export function curlWrapper(realCurl: string, truststoreAddress: string): string {
  const host = new URL(RDS_CA_BUNDLE_URL).hostname;
  return `#!/bin/sh\n# The rehearsal's curl: ${host} is the stand-in trust store (rehearsal/stack/standins/truststore.ts).\nexec ${JSON.stringify(realCurl)} --resolve ${JSON.stringify(`${host}:443:${truststoreAddress}`)} "$@"\n`;
}
