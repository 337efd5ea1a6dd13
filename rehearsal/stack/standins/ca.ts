// The rehearsal's certificate authorities, as trust is split on AWS. A "public" CA signs
// what chains to a public root there (ElastiCache, the load balancer's ACM certificate,
// Cloudflare's edge, the box's Let's Encrypt certificate, Amazon's trust store): every
// process of the rehearsal trusts it as its system store (NODE_EXTRA_CA_CERTS for Node,
// SSL_CERT_FILE and CURL_CA_BUNDLE for OpenSSL, Ruby and curl). An "RDS" CA signs the RDS
// stand-in only, and only the RDS bundle holds it (the runner's bundle, FERRY_PG_CA_FILE,
// the file every task gets): a client without the bundle fails as it would on AWS. Never
// verification turned off. Issued through rehearsal/servers/certificates.ts.
import { readFileSync } from "node:fs";
import { makeCa, serverCertificate, TlsOptions } from "../../servers/certificates";
import { run, tempDir } from "../../servers";

export interface Certificate {
  cert: string;
  key: string;
}

export interface PrivateCa {
  /** The CA's certificate (PEM file). */
  file: string;
  pem: string;
  /** What startPostgres/startRedis take to serve a certificate this CA signs for `hostnames`. */
  tlsFor(hostnames: string[]): TlsOptions;
  /** A server certificate for `names` (DNS names and IP addresses), its files readable by `owner`. */
  issue(label: string, names: string[], owner?: { uid: number; gid: number }): Promise<Certificate>;
}

export async function startCa(name = "ferry rehearsal CA"): Promise<PrivateCa> {
  const ca = await makeCa(tempDir("ca"), name);
  return {
    file: ca.caFile,
    pem: readFileSync(ca.caFile, "utf8"),
    tlsFor: (hostnames) => ({ kind: "private-ca", hostnames, ca }),
    async issue(label, names, owner) {
      const files = await serverCertificate(tempDir(`cert-${label}`, owner), { kind: "private-ca", hostnames: names, ca });
      if (owner) await run("chown", [`${owner.uid}:${owner.gid}`, files.certFile, files.keyFile]);
      return { cert: files.certFile, key: files.keyFile };
    },
  };
}
