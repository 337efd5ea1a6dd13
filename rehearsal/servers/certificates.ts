// Certificates for the stand-ins of managed servers, made with the openssl CLI:
// a private CA that signs a server certificate (how RDS and ElastiCache serve:
// the client needs the provider's CA bundle), or a self-signed certificate (how
// Heroku Postgres and Heroku Redis serve: nothing can verify it).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { run } from "./process";

/** How a stand-in's certificate is issued. */
export type CertificateKind = "private-ca" | "self-signed";

export interface TlsFiles {
  kind: CertificateKind;
  /** The PEM a client must trust: the private CA, or the self-signed certificate itself. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The names (DNS or IP) the certificate is valid for. */
  hostnames: string[];
}

/** What a test asks of a stand-in's TLS. */
export interface TlsOptions {
  kind: CertificateKind;
  /** Names in the certificate; default 127.0.0.1 and localhost. */
  hostnames?: string[];
  /** private-ca: sign with this CA (from makeCa) instead of a new one, so several stand-ins share it. */
  ca?: { caFile: string; caKey: string };
}

export const DEFAULT_HOSTNAMES = ["127.0.0.1", "localhost"];

/** subjectAltName entries: clients check these, not the CN (RFC 6125). */
function subjectAltName(hostnames: string[]): string {
  return hostnames.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
}

/** A CA certificate and key in `dir` (a distinct CA per call: a "wrong CA" is just another call). */
export async function makeCa(dir: string, name = "ferry test CA"): Promise<{ caFile: string; caKey: string }> {
  const caFile = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caFile, "-days", "2",
    "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { caFile, caKey };
}

/** Server certificate files in `dir` for `opts.hostnames`, issued as `opts.kind` says. */
export async function serverCertificate(dir: string, opts: TlsOptions): Promise<TlsFiles> {
  const hostnames = opts.hostnames ?? DEFAULT_HOSTNAMES;
  const certFile = join(dir, "server.pem");
  const keyFile = join(dir, "server-key.pem");
  const san = subjectAltName(hostnames);
  if (opts.kind === "self-signed") {
    await run("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2",
      "-subj", `/CN=${hostnames[0]}`, "-addext", `subjectAltName=${san}`,
    ]);
    return { kind: opts.kind, caFile: certFile, certFile, keyFile, hostnames };
  }
  const { caFile, caKey } = opts.ca ?? (await makeCa(dir));
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  await run("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", `/CN=${hostnames[0]}`]);
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  await run("openssl", ["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-out", certFile, "-days", "2", "-extfile", ext]);
  return { kind: opts.kind, caFile, certFile, keyFile, hostnames };
}
