// The rehearsal's private certificate authority: it signs every stand-in that serves
// TLS for a managed service or the site (RDS, ElastiCache, the load balancer's ACM
// certificate, the box's Let's Encrypt one), through rehearsal/servers/certificates.ts.
// Clients trust it the way a runner trusts the RDS CA bundle: through a CA file
// (NODE_EXTRA_CA_CERTS, PGSSLROOTCERT), never by turning verification off.
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

export async function startCa(): Promise<PrivateCa> {
  const ca = await makeCa(tempDir("ca"), "ferry rehearsal CA");
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
