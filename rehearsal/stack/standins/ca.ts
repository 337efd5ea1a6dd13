// The rehearsal's private certificate authority: it signs every stand-in that serves
// TLS (RDS, ElastiCache, the load balancer, the old box's site), as Amazon's CAs and a
// site's Let's Encrypt certificate would. Clients trust it the way a runner trusts the
// RDS CA bundle: through a CA file (NODE_EXTRA_CA_CERTS, PGSSLROOTCERT), never by
// turning verification off.
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, tempDir } from "../../servers";

export interface Certificate {
  cert: string;
  key: string;
}

export interface PrivateCa {
  /** The CA's certificate (PEM file). */
  file: string;
  pem: string;
  /** A server certificate for `names` (DNS names and IP addresses). */
  issue(label: string, names: string[], owner?: { uid: number; gid: number }): Promise<Certificate>;
}

const isIp = (n: string) => /^\d+\.\d+\.\d+\.\d+$/.test(n);

export async function startCa(): Promise<PrivateCa> {
  const dir = tempDir("ca");
  const key = join(dir, "ca.key");
  const file = join(dir, "ca.pem");
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", file, "-days", "2", "-subj", "/CN=ferry rehearsal CA"]);
  let serial = 1;
  return {
    file,
    pem: readFileSync(file, "utf8"),
    async issue(label, names, owner) {
      const out = tempDir(`cert-${label}`, owner);
      const certKey = join(out, "server.key");
      const csr = join(out, "server.csr");
      const cert = join(out, "server.crt");
      const ext = join(out, "ext.cnf");
      const san = names.map((n) => (isIp(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
      await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", certKey, "-out", csr, "-subj", `/CN=${names[0]}`]);
      writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
      await run("openssl", ["x509", "-req", "-in", csr, "-CA", file, "-CAkey", key, "-set_serial", String(++serial), "-days", "2", "-out", cert, "-extfile", ext]);
      if (owner) await run("chown", [`${owner.uid}:${owner.gid}`, certKey, cert]);
      chmodSync(certKey, 0o600);
      return { cert, key: certKey };
    },
  };
}
